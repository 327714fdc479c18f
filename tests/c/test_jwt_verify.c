/**
 * @file test_jwt_verify.c
 * @brief C99 program over libcotter.so: the verifier's ABI end to end with the shared fixtures
 * (tests/fixtures/jwt): options, creation errors, every fixture case by status name, claims getters, argument
 * checks (COTTER_EINVAL, out-params cleared), and free(NULL).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter.h"

static int failures = 0;

#define EXPECT(cond)                                                          \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: EXPECT(%s) failed\n", __FILE__, __LINE__, #cond); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static char *read_fixture(const char *rel) {
    char path[4096];
    FILE *f;
    long n;
    char *buf;
    snprintf(path, sizeof path, "%s/tests/fixtures/%s", COTTER_SOURCE_DIR, rel);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) exit(2);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Copies the JSON string value following `key` (e.g. "\"token\": \"") at or after *pos; advances *pos. The
 * fixture strings contain no escapes, so a plain scan is exact. Returns NULL when no more values. */
static char *next_value(const char *text, const char *key, const char **pos) {
    const char *start = strstr(*pos, key);
    const char *end;
    char *out;
    (void)text;
    if (!start) return NULL;
    start += strlen(key);
    end = strchr(start, '"');
    if (!end) return NULL;
    out = (char *)malloc((size_t)(end - start) + 1);
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    *pos = end + 1;
    return out;
}

static int64_t fixed_now(void *payload) { return *(const int64_t *)payload; }

int main(void) {
    char *jwks = read_fixture("jwt/jwks.json");
    char *cases = read_fixture("jwt/cases.json");
    int64_t now = 1700000000;
    cotter_jwt_verifier_options opts;
    cotter_jwt_verifier *v = NULL;
    cotter_error *err = NULL;
    cotter_claims *claims = NULL;
    const char *pos = cases;
    int n = 0;

    /* Options. */
    EXPECT(cotter_jwt_verifier_options_init(NULL, COTTER_JWT_VERIFIER_OPTIONS_VERSION) == COTTER_EINVAL);
    EXPECT(cotter_jwt_verifier_options_init(&opts, 999) == COTTER_EINVAL);
    EXPECT(cotter_jwt_verifier_options_init(&opts, COTTER_JWT_VERIFIER_OPTIONS_VERSION) == COTTER_OK);
    EXPECT(opts.leeway_seconds == 5 && opts.jwks_max_age_ms == 600000 && opts.jwks_cooldown_ms == 30000);
    EXPECT(opts.token_cache_size == 0 && opts.jwks_max_bytes == 1048576);

    /* Creation errors. */
    EXPECT(cotter_jwt_verifier_new(&v, NULL, &err) == COTTER_EINVAL);
    EXPECT(v == NULL && cotter_error_code(err) == COTTER_EINVAL);
    cotter_error_free(err);
    err = NULL;
    EXPECT(cotter_jwt_verifier_new(NULL, &opts, NULL) == COTTER_EINVAL);
    opts.jwks_json = jwks;
    EXPECT(cotter_jwt_verifier_new(&v, &opts, NULL) == COTTER_EINVAL); /* no audience */
    opts.audience = "aaf7319d-8f91-4752-a23f-c43ba862d548";
    opts.jwks_url = "https://example.com/jwks";
    EXPECT(cotter_jwt_verifier_new(&v, &opts, NULL) == COTTER_EINVAL); /* two key sources */
    opts.jwks_url = NULL;
    opts.version = COTTER_JWT_VERIFIER_OPTIONS_VERSION + 1;
    EXPECT(cotter_jwt_verifier_new(&v, &opts, NULL) == COTTER_EINVAL); /* unknown options version */
    opts.version = 0;
    EXPECT(cotter_jwt_verifier_new(&v, &opts, NULL) == COTTER_EINVAL);
    opts.version = COTTER_JWT_VERIFIER_OPTIONS_VERSION;
    opts.leeway_seconds = 301;
    EXPECT(cotter_jwt_verifier_new(&v, &opts, NULL) == COTTER_EINVAL);
    opts.leeway_seconds = 5;
    opts.jwks_json = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\"}]}";
    EXPECT(cotter_jwt_verifier_new(&v, &opts, &err) == COTTER_EJWKS_INVALID);
    EXPECT(strcmp(cotter_status_name(cotter_error_code(err)), "COTTER_EJWKS_INVALID") == 0);
    EXPECT(strlen(cotter_error_message(err)) > 0);
    cotter_error_free(err);
    err = NULL;

    /* A working verifier, clock pinned to the fixtures' "now". */
    opts.jwks_json = jwks;
    opts.clock = fixed_now;
    opts.clock_payload = &now;
    EXPECT(cotter_jwt_verifier_new(&v, &opts, &err) == COTTER_OK);
    EXPECT(v != NULL && err == NULL);

    for (;;) {
        char *name = next_value(cases, "\"name\": \"", &pos);
        char *token, *expect;
        int rc;
        if (!name) break;
        token = next_value(cases, "\"token\": \"", &pos);
        expect = next_value(cases, "\"expect\": \"", &pos);
        claims = (cotter_claims *)&n; /* must be cleared by the call */
        err = NULL;
        rc = cotter_jwt_verify(&claims, v, token, strlen(token), &err);
        if (strcmp(cotter_status_name(rc), expect) != 0) {
            fprintf(stderr, "case \"%s\": got %s (%s), want %s\n", name, cotter_status_name(rc),
                    cotter_error_message(err), expect);
            failures++;
        }
        if (rc == COTTER_OK) {
            EXPECT(claims != NULL && err == NULL);
        } else {
            EXPECT(claims == NULL);
            EXPECT(cotter_error_code(err) == rc);
            EXPECT(strstr(cotter_error_message(err), token) == NULL); /* never echo the token */
        }
        cotter_claims_free(claims);
        cotter_error_free(err);
        claims = NULL;
        free(name);
        free(token);
        free(expect);
        n++;
    }
    EXPECT(n >= 30);

    /* Claims of the first (valid) case. */
    pos = cases;
    {
        char *name = next_value(cases, "\"name\": \"", &pos);
        char *token = next_value(cases, "\"token\": \"", &pos);
        size_t len = 0;
        const char *json;
        EXPECT(cotter_jwt_verify(&claims, v, token, strlen(token), NULL) == COTTER_OK);
        EXPECT(strcmp(cotter_claims_sub(claims), "09efb1b-e50f-41fd-8530-88ffbcd80f59") == 0);
        EXPECT(strcmp(cotter_claims_iss(claims), "https://www.cotter.app") == 0);
        EXPECT(strcmp(cotter_claims_identifier(claims), "putri@cotter.app") == 0);
        EXPECT(strcmp(cotter_claims_kid(claims), "SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9") == 0);
        EXPECT(cotter_claims_exp(claims) == now + 3600 && cotter_claims_iat(claims) == now && cotter_claims_nbf(claims) == 0);
        EXPECT(cotter_claims_audience_count(claims) == 1);
        EXPECT(strcmp(cotter_claims_audience(claims, 0), "aaf7319d-8f91-4752-a23f-c43ba862d548") == 0);
        EXPECT(cotter_claims_auth_time(claims) == NULL);
        json = cotter_claims_json(claims, &len);
        EXPECT(json != NULL && len == strlen(json) && json[0] == '{');
        /* The verdict alone: out may be NULL. */
        EXPECT(cotter_jwt_verify(NULL, v, token, strlen(token), NULL) == COTTER_OK);
        cotter_claims_free(claims);
        claims = NULL;
        free(name);
        free(token);
    }

    /* Argument checks and NULL-tolerant frees/getters. */
    claims = (cotter_claims *)&n;
    EXPECT(cotter_jwt_verify(&claims, NULL, "a.b.c", 5, &err) == COTTER_EINVAL);
    EXPECT(claims == NULL && cotter_error_code(err) == COTTER_EINVAL);
    cotter_error_free(err);
    err = NULL;
    EXPECT(cotter_jwt_verify(&claims, v, NULL, 5, NULL) == COTTER_EINVAL);
    EXPECT(cotter_jwt_verify(&claims, v, "", 0, NULL) == COTTER_EJWT_MALFORMED);
    EXPECT(strcmp(cotter_status_name(COTTER_EJWT_SIGNATURE), "COTTER_EJWT_SIGNATURE") == 0);
    EXPECT(cotter_claims_sub(NULL) == NULL && cotter_claims_exp(NULL) == 0 && cotter_claims_audience_count(NULL) == 0);
    EXPECT(cotter_claims_json(NULL, NULL) == NULL);
    cotter_claims_free(NULL);
    cotter_jwt_verifier_free(NULL);
    cotter_error_free(NULL);

    cotter_jwt_verifier_free(v);
    free(jwks);
    free(cases);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_jwt_verify: %d fixture cases OK\n", n);
    return 0;
}
