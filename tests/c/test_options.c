/**
 * @file test_options.c
 * @brief C99 program: every range of every options struct, as capi/abi.json describes it (option_ranges.inc,
 * generated from it): a value just outside the range fails with COTTER_EINVAL and the message that names the field
 * and the range; the bounds themselves are accepted. No server is contacted: creating a client, a verifier with a
 * remote key set or a session sends nothing, and the one call started completes at once (no tokens: reauth).
 */
#include <stdio.h>
#include <string.h>

#include "cotter.h"

static int failures = 0, checked = 0;

/* WITH_<struct>(field, value): creates the object of that options struct with defaults and one field changed, frees
 * it again, and leaves the status in `rc` and the error message, if any, in `message`. */
static cotter_client *shared_client;
static char message[256];

static int finish(int rc, cotter_error *err) {
    snprintf(message, sizeof message, "%s", err ? cotter_error_message(err) : "");
    cotter_error_free(err);
    return rc;
}

#define WITH_client(field, value)                                                                   \
    do {                                                                                            \
        cotter_client_options o;                                                                    \
        cotter_client *c = NULL;                                                                    \
        cotter_error *err = NULL;                                                                   \
        if (cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) != COTTER_OK) { rc = COTTER_EINTERNAL; break; } \
        o.api_key_id = "key";                                                                       \
        o.base_url = "http://127.0.0.1:9";                                                          \
        o.field = (value);                                                                          \
        rc = cotter_client_new(&c, &o, &err);                                                       \
        rc = finish(rc, err);                                                                       \
        cotter_client_free(c);                                                                      \
    } while (0)

#define WITH_jwt_verifier(field, value)                                                             \
    do {                                                                                            \
        cotter_jwt_verifier_options o;                                                              \
        cotter_jwt_verifier *v = NULL;                                                              \
        cotter_error *err = NULL;                                                                   \
        if (cotter_jwt_verifier_options_init(&o, COTTER_JWT_VERIFIER_OPTIONS_VERSION) != COTTER_OK) { rc = COTTER_EINTERNAL; break; } \
        o.audience = "key";                                                                         \
        o.jwks_url = "http://127.0.0.1:9/token/jwks"; /* fetched on first use only */               \
        o.field = (value);                                                                          \
        rc = cotter_jwt_verifier_new(&v, &o, &err);                                                 \
        rc = finish(rc, err);                                                                       \
        cotter_jwt_verifier_free(v);                                                                \
    } while (0)

#define WITH_session(field, value)                                                                  \
    do {                                                                                            \
        cotter_session_options o;                                                                   \
        cotter_session *s = NULL;                                                                   \
        cotter_error *err = NULL;                                                                   \
        if (cotter_session_options_init(&o, COTTER_SESSION_OPTIONS_VERSION) != COTTER_OK) { rc = COTTER_EINTERNAL; break; } \
        o.field = (value);                                                                          \
        rc = cotter_session_new(&s, shared_client, &o, NULL, &err);                                 \
        rc = finish(rc, err);                                                                       \
        cotter_session_free(s);                                                                     \
    } while (0)

/* Shared stores: creating one contacts no Redis (the hiredis adapter connects on first use). */
#define WITH_shared_store(field, value)                                                             \
    do {                                                                                            \
        cotter_shared_store_options o;                                                              \
        cotter_shared_store *st = NULL;                                                             \
        cotter_error *err = NULL;                                                                   \
        if (cotter_shared_store_options_init(&o, COTTER_SHARED_STORE_OPTIONS_VERSION) != COTTER_OK) { rc = COTTER_EINTERNAL; break; } \
        o.field = (value);                                                                          \
        rc = cotter_shared_store_new_hiredis(&st, NULL, &o, &err);                                  \
        rc = finish(rc, err);                                                                       \
        cotter_shared_store_free(st);                                                               \
    } while (0)

#define WITH_hiredis(field, value)                                                                  \
    do {                                                                                            \
        cotter_hiredis_options o;                                                                   \
        cotter_shared_store *st = NULL;                                                             \
        cotter_error *err = NULL;                                                                   \
        if (cotter_hiredis_options_init(&o, COTTER_HIREDIS_OPTIONS_VERSION) != COTTER_OK) { rc = COTTER_EINTERNAL; break; } \
        o.field = (value);                                                                          \
        rc = cotter_shared_store_new_hiredis(&st, &o, NULL, &err);                                  \
        rc = finish(rc, err);                                                                       \
        cotter_shared_store_free(st);                                                               \
    } while (0)

/* The login URL: a pure function of its options, no object to free. */
#define WITH_login_url(field, value)                                                                \
    do {                                                                                            \
        cotter_login_url_options o = COTTER_LOGIN_URL_OPTIONS_INIT;                                 \
        cotter_buf url = COTTER_BUF_INIT;                                                           \
        cotter_error *err = NULL;                                                                   \
        o.api_key_id = "key";                                                                       \
        o.redirect_url = "http://localhost:8080";                                                   \
        o.state = "state";                                                                          \
        o.code_challenge = "challenge";                                                             \
        o.field = (value);                                                                          \
        rc = cotter_login_url(&url, &o, &err);                                                      \
        rc = finish(rc, err);                                                                       \
        cotter_buf_dispose(&url);                                                                   \
    } while (0)

/* A session without tokens: its call completes at once with COTTER_EREAUTH, so any other status is the options'. */
#define WITH_call(field, value)                                                                     \
    do {                                                                                            \
        cotter_call_options o;                                                                      \
        cotter_session *s = NULL;                                                                   \
        cotter_call *call = NULL;                                                                   \
        cotter_error *err = NULL;                                                                   \
        if (cotter_call_options_init(&o, COTTER_CALL_OPTIONS_VERSION) != COTTER_OK) { rc = COTTER_EINTERNAL; break; } \
        o.field = (value);                                                                          \
        if (cotter_session_new(&s, shared_client, NULL, NULL, NULL) != COTTER_OK) {                 \
            rc = COTTER_EINTERNAL;                                                                  \
            break;                                                                                  \
        }                                                                                           \
        rc = cotter_session_get_access_token_start(&call, s, &o, &err);                             \
        rc = finish(rc, err);                                                                       \
        if (rc == COTTER_OK) rc = cotter_call_wait(call, NULL);                                     \
        if (rc == COTTER_EREAUTH) rc = COTTER_OK;                                                   \
        cotter_call_free(call);                                                                     \
        cotter_session_free(s);                                                                     \
    } while (0)

#define OPTION_REJECT(kind, field, value, expected)                                                 \
    do {                                                                                            \
        int rc;                                                                                     \
        WITH_##kind(field, value);                                                                  \
        checked++;                                                                                  \
        if (rc != COTTER_EINVAL || strcmp(message, expected) != 0) {                                \
            fprintf(stderr, "%s.%s = %lld: got %s \"%s\", want COTTER_EINVAL \"%s\"\n", #kind, #field, \
                    (long long)(value), cotter_status_name(rc), message, expected);                 \
            failures++;                                                                             \
        }                                                                                           \
    } while (0);

#define OPTION_ACCEPT(kind, field, value)                                                           \
    do {                                                                                            \
        int rc;                                                                                     \
        WITH_##kind(field, value);                                                                  \
        checked++;                                                                                  \
        if (rc != COTTER_OK) {                                                                      \
            fprintf(stderr, "%s.%s = %lld: got %s \"%s\", want COTTER_OK\n", #kind, #field,         \
                    (long long)(value), cotter_status_name(rc), message);                           \
            failures++;                                                                             \
        }                                                                                           \
    } while (0);

int main(void) {
    cotter_client_options co = COTTER_CLIENT_OPTIONS_INIT;
    co.api_key_id = "key";
    co.base_url = "http://127.0.0.1:9";
    if (cotter_client_new(&shared_client, &co, NULL) != COTTER_OK) {
        fprintf(stderr, "cannot create the client\n");
        return 1;
    }
#include "option_ranges.inc"
    cotter_client_free(shared_client);
    if (checked < 40) {
        fprintf(stderr, "only %d range checks ran\n", checked);
        failures++;
    }
    if (failures) {
        fprintf(stderr, "%d of %d range checks failed\n", failures, checked);
        return 1;
    }
    printf("test_options: %d range checks ok\n", checked);
    return 0;
}
