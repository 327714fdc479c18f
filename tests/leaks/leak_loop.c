/**
 * @file leak_loop.c
 * @brief C99 leak loop over the C ABI: creates and frees every object type and verifies N tokens (default
 * 1,000,000); RSS after the loop may exceed RSS after a warm-up by at most 1 MiB.
 *
 * Usage: leak_loop DIR [N [--no-rss]] — DIR holds the files written by tests/leaks/material.js (a running emulator's
 * JWKS, a valid access token, an Identity Token, credentials and URLs). Run by scripts/test-hardening.sh
 * against a non-sanitized libcotter (sanitizer quarantines make RSS meaningless), and once under valgrind with
 * a small N and --no-rss (every object type, no definite leak; valgrind's own memory makes RSS meaningless).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter.h"

static const char *g_dir;

/* A material file's content (NUL-terminated), or exit(2). Freed at exit by the OS: read once. */
static char *material(const char *name) {
    char path[4096];
    FILE *f;
    long size;
    char *buf;
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "leak_loop: missing %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) exit(2);
    buf[size] = '\0';
    fclose(f);
    return buf;
}

/* Resident set size in KiB (VmRSS). */
static long rss_kib(void) {
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "leak_loop: check failed: %s (line %d)\n", #cond, __LINE__); \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

static char *g_jwks, *g_token, *g_api_key_id, *g_secret, *g_base_url, *g_worker_url, *g_identity_token,
    *g_identity_key, *g_identifier, *g_user_id;
static cotter_jwt_verifier *g_verifier;
static cotter_client *g_client;

static cotter_jwt_verifier *new_verifier(size_t cache) {
    cotter_jwt_verifier_options o;
    cotter_jwt_verifier *v = NULL;
    CHECK(cotter_jwt_verifier_options_init(&o, COTTER_JWT_VERIFIER_OPTIONS_VERSION) == COTTER_OK);
    o.audience = g_api_key_id;
    o.jwks_json = g_jwks;
    o.token_cache_size = cache;
    CHECK(cotter_jwt_verifier_new(&v, &o, NULL) == COTTER_OK);
    return v;
}

static cotter_client *new_client(void) {
    cotter_client_options o;
    cotter_client *c = NULL;
    CHECK(cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) == COTTER_OK);
    o.api_key_id = g_api_key_id;
    o.api_secret_key = g_secret;
    o.base_url = g_base_url;
    o.worker_url = g_worker_url;
    CHECK(cotter_client_new(&c, &o, NULL) == COTTER_OK);
    return c;
}

/* One verification of the valid token, reading a claim. */
static void verify_once(void) {
    cotter_claims *claims = NULL;
    CHECK(cotter_jwt_verify(&claims, g_verifier, g_token, strlen(g_token), NULL) == COTTER_OK);
    CHECK(cotter_claims_sub(claims) != NULL);
    cotter_claims_free(claims);
}

/* Every object type that needs no server, created and freed once. */
static void churn_offline(void) {
    cotter_jwt_verifier *v = new_verifier(16);
    cotter_claims *claims = NULL;
    cotter_error *err = NULL;
    cotter_token *tok = NULL, *tok2 = NULL;
    cotter_buf buf = COTTER_BUF_INIT, code = COTTER_BUF_INIT;
    cotter_pkce *pkce = NULL;
    cotter_login_url_options lo = COTTER_LOGIN_URL_OPTIONS_INIT;
    cotter_client *client;
    cotter_session *session = NULL;
    cotter_session_options so;
    int64_t challenge_id = 0;
    char token_json[8192];

    /* Cached verifier: a miss, a hit, and a rejected token with its error object. */
    CHECK(cotter_jwt_verify(&claims, v, g_token, strlen(g_token), NULL) == COTTER_OK);
    cotter_claims_free(claims);
    claims = NULL;
    CHECK(cotter_jwt_verify(&claims, v, g_token, strlen(g_token), NULL) == COTTER_OK);
    cotter_claims_free(claims);
    CHECK(cotter_jwt_verify(NULL, v, "a.b.c", 5, &err) != COTTER_OK && err);
    CHECK(cotter_error_message(err)[0] != '\0');
    cotter_error_free(err);
    err = NULL;
    cotter_jwt_verifier_free(v);

    /* Token sets: parse, serialise, parse again. */
    snprintf(token_json, sizeof token_json,
             "{\"access_token\":\"%s\",\"id_token\":\"x\",\"refresh_token\":\"41:r\",\"token_type\":\"Bearer\","
             "\"auth_method\":\"OTP\",\"expires_in\":3600}",
             g_token);
    CHECK(cotter_token_from_json(&tok, token_json, strlen(token_json), NULL) == COTTER_OK);
    CHECK(cotter_token_to_json(&buf, tok, NULL) == COTTER_OK);
    CHECK(cotter_token_from_json(&tok2, buf.ptr, buf.len, NULL) == COTTER_OK);
    cotter_buf_dispose(&buf);
    cotter_token_free(tok2);
    CHECK(cotter_token_from_json(&tok2, "[]", 2, &err) == COTTER_EPROTOCOL);
    cotter_error_free(err);
    err = NULL;

    /* PKCE, login URL, redirect parsing. */
    CHECK(cotter_pkce_new(&pkce, NULL) == COTTER_OK);
    CHECK(cotter_pkce_challenge_of(&buf, cotter_pkce_verifier(pkce), NULL) == COTTER_OK);
    CHECK(strcmp(buf.ptr, cotter_pkce_challenge(pkce)) == 0);
    cotter_buf_dispose(&buf);
    lo.api_key_id = g_api_key_id;
    lo.redirect_url = "http://localhost:8080";
    lo.state = cotter_pkce_state(pkce);
    lo.code_challenge = cotter_pkce_challenge(pkce);
    lo.input = "a@example.com";
    CHECK(cotter_login_url(&buf, &lo, NULL) == COTTER_OK);
    cotter_buf_dispose(&buf);
    CHECK(cotter_login_redirect_parse(&code, &challenge_id, "code=abc&challenge_id=7&state=s", "s", NULL) == COTTER_OK);
    cotter_buf_dispose(&code);
    CHECK(cotter_login_redirect_parse(&code, &challenge_id, "code=abc&state=t", "s", &err) == COTTER_ESTATE);
    cotter_error_free(err);
    err = NULL;
    cotter_pkce_free(pkce);

    /* Legacy Identity Token. */
    CHECK(cotter_identity_token_verify(g_identity_token, g_api_key_id, g_identity_key, 0, NULL) == COTTER_OK);

    /* A client and an in-memory session holding a still-valid token set (no request is made). */
    client = new_client();
    CHECK(cotter_session_options_init(&so, COTTER_SESSION_OPTIONS_VERSION) == COTTER_OK);
    CHECK(cotter_session_new(&session, client, &so, tok, NULL) == COTTER_OK);
    CHECK(cotter_session_get_access_token(&buf, session, NULL) == COTTER_OK);
    cotter_buf_dispose(&buf);
    cotter_session_free(session);
    cotter_client_free(client);
    cotter_token_free(tok);
}

/* Every object type that needs the server (the emulator), created and freed once. */
static void churn_online(void) {
    cotter_buf record = COTTER_BUF_INIT; /* users and social tokens come as the JSON the library checked */
    cotter_error *err = NULL;
    cotter_buf reason = COTTER_BUF_INIT;
    cotter_token *tok = NULL;
    int valid = -1;

    CHECK(cotter_client_user_get_by_identifier(&record, g_client, g_identifier, NULL) == COTTER_OK);
    cotter_buf_dispose(&record);
    CHECK(cotter_client_user_list(&record, g_client, 0, NULL) == COTTER_OK);
    CHECK(record.len > 0 && strstr((const char *)record.ptr, "\"users\":[{") != NULL);
    cotter_buf_dispose(&record);
    CHECK(cotter_client_social_tokens_list(&record, g_client, g_user_id, NULL) == COTTER_OK);
    cotter_buf_dispose(&record);
    CHECK(cotter_client_social_token_get(&record, g_client, "GITHUB", g_user_id, NULL) == COTTER_OK);
    cotter_buf_dispose(&record);
    CHECK(cotter_client_verify_remote(&valid, &reason, g_client, g_token, NULL) == COTTER_OK && valid == 1);
    cotter_buf_dispose(&reason);
    /* An API error with its error object. */
    CHECK(cotter_client_refresh(&tok, g_client, "not-a-refresh-token", &err) != COTTER_OK && err);
    cotter_error_free(err);
}

static void run(long verifications) {
    long i;
    for (i = 0; i < verifications; ++i) {
        verify_once();
        if (i % 1000 == 0) churn_offline();
        if (i % 20000 == 0) churn_online();
    }
}

int main(int argc, char **argv) {
    long n, warmup;
    long before, after;
    int check_rss;
    if (argc < 2) {
        fprintf(stderr, "usage: leak_loop DIR [N]\n");
        return 2;
    }
    g_dir = argv[1];
    n = argc > 2 ? atol(argv[2]) : 1000000;
    warmup = n / 10 > 50000 ? 50000 : n / 10;
    check_rss = !(argc > 3 && strcmp(argv[3], "--no-rss") == 0);
    g_jwks = material("jwks");
    g_token = material("access_token");
    g_api_key_id = material("api_key_id");
    g_secret = material("api_secret_key");
    g_base_url = material("base_url");
    g_worker_url = material("worker_url");
    g_identity_token = material("identity_token");
    g_identity_key = material("identity_public_key");
    g_identifier = material("identifier");
    g_user_id = material("user_id");

    CHECK(cotter_global_init() == COTTER_OK);
    g_verifier = new_verifier(0);
    g_client = new_client();

    run(warmup);
    before = rss_kib();
    run(n);
    after = rss_kib();

    cotter_client_free(g_client);
    cotter_jwt_verifier_free(g_verifier);
    cotter_global_shutdown();
    printf("leak_loop: %ld verifications (+%ld object churns): RSS %ld KiB -> %ld KiB (growth %ld KiB, limit 1024)\n",
           n, n / 1000 + 1, before, after, after - before);
    return !check_rss || after - before < 1024 ? 0 : 1;
}
