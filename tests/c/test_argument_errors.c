/**
 * @file test_argument_errors.c
 * @brief C99 program: argument mistakes get COTTER_EINVAL and a sentence a user understands, never the C++ condition.
 * The mistakes a binding user can make are the entries of tests/fixtures/argument_errors.json, whose messages the
 * Python, Node, Rust and Go tests expect too; the C-only ones (NULL out-parameters, unknown struct versions) are
 * checked here. No server is contacted.
 */
#include <stdio.h>
#include <string.h>

#include "cotter.h"

static int failures = 0;

/* The message of `key` in the shared fixture (one "key": "message" pair per line, no escapes). */
static const char *fixture(const char *key) {
    static char found[512];
    char path[1024], line[1024], pattern[256];
    snprintf(path, sizeof path, "%s/tests/fixtures/argument_errors.json", COTTER_SOURCE_DIR);
    snprintf(pattern, sizeof pattern, "\"%s\": \"", key);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        failures++;
        return "";
    }
    found[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        char *start = strstr(line, pattern);
        if (!start) continue;
        start += strlen(pattern);
        char *end = strchr(start, '"');
        if (end) {
            *end = '\0';
            snprintf(found, sizeof found, "%s", start);
        }
        break;
    }
    fclose(f);
    if (!found[0]) {
        fprintf(stderr, "fixture has no entry %s\n", key);
        failures++;
    }
    return found;
}

/* Checks rc/err against COTTER_EINVAL and `want`, then frees err. */
static void expect(const char *what, int rc, cotter_error *err, const char *want) {
    const char *got = err ? cotter_error_message(err) : "(no error object)";
    if (rc != COTTER_EINVAL || !err || cotter_error_code(err) != COTTER_EINVAL || strcmp(got, want) != 0) {
        fprintf(stderr, "FAIL %s: rc=%d message=\"%s\", want COTTER_EINVAL \"%s\"\n", what, rc, got, want);
        failures++;
    }
    cotter_error_free(err);
}

static int verifier_with(const char *audience, const char *jwks_json, const char *jwks_url, int64_t leeway,
                         int64_t jwks_timeout_ms, cotter_error **err) {
    cotter_jwt_verifier_options o;
    cotter_jwt_verifier *v = NULL;
    if (cotter_jwt_verifier_options_init(&o, COTTER_JWT_VERIFIER_OPTIONS_VERSION) != COTTER_OK) return COTTER_EINTERNAL;
    o.audience = audience;
    o.jwks_json = jwks_json;
    o.jwks_url = jwks_url;
    if (leeway >= 0) o.leeway_seconds = leeway;
    if (jwks_timeout_ms >= 0) o.jwks_timeout_ms = jwks_timeout_ms;
    int rc = cotter_jwt_verifier_new(&v, &o, err);
    cotter_jwt_verifier_free(v);
    return rc;
}

static int no_tokens(cotter_buf *out, void *payload) {
    (void)out;
    (void)payload;
    return COTTER_OK;
}

static int client_with(int max_retries, int64_t timeout_ms, cotter_error **err) {
    cotter_client_options o;
    cotter_client *c = NULL;
    if (cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) != COTTER_OK) return COTTER_EINTERNAL;
    o.api_key_id = "key";
    o.base_url = "http://127.0.0.1:9";
    if (max_retries >= 0) o.max_retries = max_retries;
    if (timeout_ms >= 0) o.timeout_ms = timeout_ms;
    int rc = cotter_client_new(&c, &o, err);
    cotter_client_free(c);
    return rc;
}

int main(void) {
    static const char jwks[] = "{\"keys\":[]}";
    static const char url[] = "http://127.0.0.1:9/token/jwks";
    cotter_error *err = NULL;
    int rc;

    /* The shared mistakes (the bindings make the same ones and expect the same text). */
    rc = verifier_with("key", jwks, url, -1, -1, &err);
    expect("verifier_two_key_sources", rc, err, fixture("verifier_two_key_sources"));
    rc = verifier_with("key", NULL, NULL, -1, -1, &err);
    expect("verifier_no_key_source", rc, err, fixture("verifier_no_key_source"));
    rc = verifier_with("", NULL, url, -1, -1, &err);
    expect("verifier_no_audience", rc, err, fixture("verifier_no_audience"));
    rc = verifier_with(NULL, NULL, url, -1, -1, &err);
    expect("verifier_no_audience (NULL)", rc, err, fixture("verifier_no_audience"));
    rc = verifier_with("key", NULL, url, 301, -1, &err);
    expect("verifier_leeway_301", rc, err, fixture("verifier_leeway_301"));
    rc = verifier_with("key", NULL, url, -1, 0, &err);
    expect("verifier_jwks_timeout_0", rc, err, fixture("verifier_jwks_timeout_0"));
    rc = client_with(11, -1, &err);
    expect("client_max_retries_11", rc, err, fixture("client_max_retries_11"));
    rc = client_with(-1, 0, &err);
    expect("client_timeout_0", rc, err, fixture("client_timeout_0"));
    {
        cotter_client *c = NULL;
        cotter_session *s = NULL;
        cotter_session_options so;
        cotter_client_options co;
        if (cotter_client_options_init(&co, COTTER_CLIENT_OPTIONS_VERSION) != COTTER_OK) failures++;
        co.api_key_id = "key";
        co.base_url = "http://127.0.0.1:9";
        if (cotter_client_new(&c, &co, NULL) != COTTER_OK) failures++;
        if (cotter_session_options_init(&so, COTTER_SESSION_OPTIONS_VERSION) != COTTER_OK) failures++;
        so.refresh_margin_seconds = 86401;
        rc = cotter_session_new(&s, c, &so, NULL, &err);
        expect("session_refresh_margin_86401", rc, err, fixture("session_refresh_margin_86401"));
        cotter_session_free(s);

        /* C-only mistakes: the message names the argument and what to do. */
        so.refresh_margin_seconds = 30;
        so.token_file = "/nonexistent/tokens.json";
        so.load = no_tokens;
        rc = cotter_session_new(&s, c, &so, NULL, &err);
        expect("session two storages", rc, err, "session options: give either token_file or the load/save hooks, not both");
        so.version = 999;
        rc = cotter_session_new(&s, c, &so, NULL, &err);
        expect("session version", rc, err,
               "session options: unknown version (initialise them with cotter_session_options_init)");
        rc = cotter_session_new(NULL, c, NULL, NULL, &err);
        expect("session out", rc, err, "out must not be NULL");
        rc = cotter_session_new(&s, NULL, NULL, NULL, &err);
        expect("session client", rc, err, "client must not be NULL");
        cotter_client_free(c);
    }
    {
        cotter_client *c = NULL;
        cotter_client_options co;
        if (cotter_client_options_init(&co, COTTER_CLIENT_OPTIONS_VERSION) != COTTER_OK) failures++;
        rc = cotter_client_new(&c, &co, &err);
        expect("client without api_key_id", rc, err, "api_key_id (your Cotter API key id) is required");
        rc = cotter_client_new(&c, NULL, &err);
        expect("client opts NULL", rc, err, "client options are required (opts is NULL)");
        co.api_key_id = "key";
        co.version = 0;
        rc = cotter_client_new(&c, &co, &err);
        expect("client version", rc, err,
               "client options: unknown version (initialise them with cotter_client_options_init)");
    }
    rc = cotter_event_token_verify("{}", "", NULL, &err);
    expect("event token without api key", rc, err, "api_key_id (your Cotter API key id) is required");
    rc = cotter_identity_token_verify("{}", "key", NULL, -5, &err);
    expect("identity token negative now", rc, err, "now must be 0 (the current time) or a Unix time in seconds");

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("argument errors: ok\n");
    return 0;
}
