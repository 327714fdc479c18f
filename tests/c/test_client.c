/**
 * @file test_client.c
 * @brief C99 program exercising the token-client ABI against the emulator: argument checks, cleared outputs,
 * error objects, every call, PKCE and login URL, token JSON, sessions with a token file and callbacks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cotter.h"
#include "emulator.h"

static int failures = 0;
#define CHECK(cond)                                                               \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                           \
        }                                                                         \
    } while (0)

static emu E;

static int log_lines = 0, log_leaks = 0;
static void on_log(int level, const char *message, void *payload) {
    (void)level;
    log_lines++;
    if (strstr(message, (const char *)payload) != NULL) log_leaks++;
}

static cotter_client *new_client(int with_secret) {
    cotter_client_options o;
    cotter_client *c = NULL;
    cotter_error *err = NULL;
    CHECK(cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) == COTTER_OK);
    o.api_key_id = E.api_key_id;
    o.api_secret_key = with_secret ? E.api_secret_key : NULL;
    o.base_url = E.base_url;
    o.worker_url = E.worker_url;
    o.retry_base_ms = 10;
    o.log = on_log;
    o.log_payload = E.api_secret_key;  /* the log must never contain it */
    if (cotter_client_new(&c, &o, &err) != COTTER_OK) {
        fprintf(stderr, "client_new: %s\n", cotter_error_message(err));
        failures++;
    }
    cotter_error_free(err);
    return c;
}

static void test_arguments(void) {
    cotter_client *c = (cotter_client *)1;
    cotter_error *err = NULL;
    cotter_client_options o = COTTER_CLIENT_OPTIONS_INIT;
    cotter_token *t = (cotter_token *)1;
    cotter_buf b = COTTER_BUF_INIT;
    int64_t cid = 5;
    CHECK(cotter_client_new(&c, &o, &err) == COTTER_EINVAL);  /* api_key_id missing */
    CHECK(c == NULL);
    CHECK(cotter_error_code(err) == COTTER_EINVAL);
    cotter_error_free(err);
    err = NULL;
    CHECK(cotter_client_new(NULL, &o, NULL) == COTTER_EINVAL);
    CHECK(cotter_client_options_init(&o, 99) == COTTER_EINVAL);
    o.api_key_id = "k";
    o.base_url = "http://example.com/api";  /* plain http off loopback */
    CHECK(cotter_client_new(&c, &o, &err) == COTTER_EINVAL);
    cotter_error_free(err);
    CHECK(cotter_client_refresh(&t, NULL, "x", NULL) == COTTER_EINVAL);
    CHECK(t == NULL);
    CHECK(cotter_token_from_json(&t, "{}", 2, NULL) == COTTER_EPROTOCOL);
    CHECK(cotter_token_from_json(&t, NULL, 0, NULL) == COTTER_EINVAL);
    CHECK(cotter_login_redirect_parse(&b, &cid, "code=a&state=x&challenge_id=1", "y", NULL) == COTTER_ESTATE);
    CHECK(b.ptr == NULL && cid == 0);
    cotter_client_free(NULL);
    cotter_token_free(NULL);
    cotter_session_free(NULL);
    cotter_user_free(NULL);
    cotter_user_list_free(NULL);
    cotter_social_token_free(NULL);
    cotter_social_token_list_free(NULL);
    cotter_identity_free(NULL);
    cotter_pkce_free(NULL);
    CHECK(cotter_token_access_token(NULL) == NULL);
    CHECK(strcmp(cotter_status_name(COTTER_EREAUTH), "COTTER_EREAUTH") == 0);
}

static void test_tokens_and_refresh(void) {
    cotter_client *c = new_client(0);
    char *json = emu_login(&E, "c-refresh@example.com");
    cotter_token *t0 = NULL, *t1 = NULL, *t2 = NULL, *rt = NULL;
    cotter_error *err = NULL;
    cotter_buf out = COTTER_BUF_INIT;
    cotter_client_stats st;
    CHECK(json != NULL);
    CHECK(cotter_token_from_json(&t0, json, strlen(json), NULL) == COTTER_OK);
    CHECK(cotter_token_access_token(t0) != NULL);
    CHECK(strcmp(cotter_token_token_type(t0), "Bearer") == 0);
    CHECK(cotter_token_expires_in(t0) > 0);
    CHECK(cotter_token_access_token_expires_at(t0) > 1600000000);
    CHECK(cotter_token_to_json(&out, t0, NULL) == COTTER_OK);
    CHECK(out.len > 0 && strstr(out.ptr, "\"refresh_token\"") != NULL);
    CHECK(cotter_token_from_json(&rt, out.ptr, out.len, NULL) == COTTER_OK);
    CHECK(strcmp(cotter_token_refresh_token(rt), cotter_token_refresh_token(t0)) == 0);
    cotter_buf_dispose(&out);
    CHECK(out.ptr == NULL && out.len == 0);

    CHECK(cotter_client_refresh(&t1, c, cotter_token_refresh_token(t0), NULL) == COTTER_OK);
    CHECK(strcmp(cotter_token_refresh_token(t1), cotter_token_refresh_token(t0)) != 0);
    CHECK(cotter_client_refresh(&t2, c, cotter_token_refresh_token(t0), &err) == COTTER_EREAUTH);
    CHECK(t2 == NULL);
    CHECK(cotter_error_code(err) == COTTER_EREAUTH);
    CHECK(cotter_error_http_status(err) == 400);
    CHECK(cotter_error_oauth_error_description(err) != NULL &&
          strstr(cotter_error_oauth_error_description(err), "not valid") != NULL);
    CHECK(strstr(cotter_error_message(err), cotter_token_refresh_token(t0)) == NULL);
    cotter_error_free(err);

    CHECK(cotter_client_logout(c, cotter_token_refresh_token(t1), NULL) == COTTER_OK);
    CHECK(cotter_client_refresh(&t2, c, cotter_token_refresh_token(t1), NULL) == COTTER_EREAUTH);
    CHECK(cotter_client_stats_get(&st, c) == COTTER_OK);
    CHECK(st.version == 1 && st.requests == 4 && st.connections == 1);
    CHECK(strcmp(cotter_client_base_url(c), E.base_url) == 0);
    cotter_token_free(t0);
    cotter_token_free(t1);
    cotter_token_free(rt);
    free(json);
    cotter_client_free(c);
}

static void test_grants_and_claims(void) {
    cotter_client *c = new_client(1);
    char *resp = NULL, *idt, *json;
    cotter_token *t = NULL, *base = NULL;
    cotter_buf tok = COTTER_BUF_INIT, rt = COTTER_BUF_INIT;
    CHECK(emu_dev(&E, "POST", "/identity_token", "{\"identifier\":\"c-grant@example.com\"}", &resp) == 200);
    idt = emu_json_member(resp, "identity_token");
    CHECK(idt != NULL);
    CHECK(cotter_client_grant_identity_token(&t, c, idt, NULL) == COTTER_OK);
    CHECK(t && strcmp(cotter_token_auth_method(t), "OTP") == 0);
    cotter_token_free(t);
    t = NULL;
    free(resp);
    free(idt);
    CHECK(emu_dev(&E, "POST", "/event_token", "{\"identifier\":\"c-grant@example.com\"}", &resp) == 200);
    idt = emu_json_member(resp, "event_token");
    CHECK(cotter_client_grant_event_token(&t, c, idt, NULL) == COTTER_OK);
    cotter_token_free(t);
    free(resp);
    free(idt);

    json = emu_login(&E, "c-claims@example.com");
    CHECK(cotter_token_from_json(&base, json, strlen(json), NULL) == COTTER_OK);
    CHECK(cotter_client_custom_claims(&tok, &rt, c, cotter_token_access_token(base), "{\"role\":\"admin\"}",
                                      cotter_token_refresh_token(base), NULL) == COTTER_OK);
    CHECK(tok.len > 0 && rt.len > 0);
    cotter_buf_dispose(&tok);
    cotter_buf_dispose(&rt);
    CHECK(cotter_client_custom_claims(&tok, NULL, c, cotter_token_access_token(base), "{\"sub\":\"x\"}", NULL, NULL) ==
          COTTER_EOAUTH);
    cotter_token_free(base);
    free(json);
    cotter_client_free(c);
}

static void test_users_social_verify(void) {
    cotter_client *c = new_client(1);
    cotter_user *u = NULL, *u2 = NULL;
    cotter_user_list *list = NULL;
    cotter_social_token_list *sl = NULL;
    cotter_social_token *st = NULL;
    char body[512], *json;
    cotter_token *t = NULL;
    int valid = -1;
    cotter_buf reason = COTTER_BUF_INIT;
    size_t len = 0;
    CHECK(cotter_client_user_create(&u, c, "c-user@example.com", NULL) == COTTER_OK);
    CHECK(u && strcmp(cotter_user_identifier(u), "c-user@example.com") == 0);
    CHECK(strcmp(cotter_user_issuer(u), E.api_key_id) == 0);
    CHECK(cotter_user_json(u, &len) != NULL && len > 10);
    CHECK(cotter_client_user_get_by_identifier(&u2, c, "c-user@example.com", NULL) == COTTER_OK);
    CHECK(strcmp(cotter_user_id(u2), cotter_user_id(u)) == 0);
    cotter_user_free(u2);
    u2 = NULL;
    CHECK(cotter_client_user_get_by_identifier(&u2, c, "nobody@example.com", NULL) == COTTER_ENOTFOUND);
    CHECK(cotter_client_user_get(&u2, c, cotter_user_id(u), NULL) == COTTER_OK);
    cotter_user_free(u2);
    CHECK(cotter_client_user_list(&list, c, 0, NULL) == COTTER_OK);
    CHECK(cotter_user_list_count(list) >= 1);
    CHECK(cotter_user_list_get(list, 0) != NULL && cotter_user_list_get(list, 1000) == NULL);
    /* The emulator's wrapper says how many users there are, and whether pages follow this first one. */
    CHECK(cotter_user_list_total(list) >= (int64_t)cotter_user_list_count(list));
    CHECK(cotter_user_list_has_more(list) == (cotter_user_list_total(list) > (int64_t)cotter_user_list_count(list)));
    CHECK(cotter_user_list_total(NULL) == -1 && cotter_user_list_has_more(NULL) == -1);
    cotter_user_list_free(list);

    snprintf(body, sizeof body,
             "{\"user_id\":\"%s\",\"identity_provider\":\"GITHUB\",\"tokens\":{\"access_token\":\"gho_x\",\"scope\":\"repo\",\"token_type\":\"bearer\"}}",
             cotter_user_id(u));
    CHECK(emu_dev(&E, "POST", "/social_tokens", body, NULL) == 201);
    CHECK(cotter_client_social_tokens_list(&sl, c, cotter_user_id(u), NULL) == COTTER_OK);
    CHECK(cotter_social_token_list_count(sl) == 1);
    CHECK(strcmp(cotter_social_token_provider(cotter_social_token_list_get(sl, 0)), "GITHUB") == 0);
    CHECK(strstr(cotter_social_token_json(cotter_social_token_list_get(sl, 0), &len), "\"identity_provider\":\"GITHUB\"") != NULL);
    CHECK(len == strlen(cotter_social_token_json(cotter_social_token_list_get(sl, 0), NULL)));
    cotter_social_token_list_free(sl);
    CHECK(cotter_client_social_token_get(&st, c, "GITHUB", cotter_user_id(u), NULL) == COTTER_OK);
    CHECK(strcmp(cotter_social_token_access_token(st), "gho_x") == 0);
    CHECK(strstr(cotter_social_token_json(st, &len), "gho_x") != NULL && len > 20);
    cotter_social_token_free(st);
    CHECK(cotter_client_social_token_delete(c, "GITHUB", cotter_user_id(u), NULL) == COTTER_OK);
    st = NULL;
    CHECK(cotter_client_social_token_get(&st, c, "GITHUB", cotter_user_id(u), NULL) == COTTER_ENOTFOUND);
    CHECK(st == NULL);
    cotter_user_free(u);

    json = emu_login(&E, "c-verify@example.com");
    CHECK(cotter_token_from_json(&t, json, strlen(json), NULL) == COTTER_OK);
    CHECK(cotter_client_verify_remote(&valid, &reason, c, cotter_token_access_token(t), NULL) == COTTER_OK);
    CHECK(valid == 1 && reason.ptr == NULL);
    CHECK(cotter_client_verify_remote(&valid, &reason, c, "x.y.z", NULL) == COTTER_OK);
    CHECK(valid == 0 && reason.len > 0);
    cotter_buf_dispose(&reason);
    cotter_token_free(t);
    free(json);
    cotter_client_free(c);
}

static void test_pkce(void) {
    cotter_pkce *p = NULL;
    cotter_buf url = COTTER_BUF_INIT, ch = COTTER_BUF_INIT, code = COTTER_BUF_INIT;
    cotter_login_url_options lo = COTTER_LOGIN_URL_OPTIONS_INIT;
    char query[512];
    int64_t cid = 0;
    CHECK(cotter_pkce_new(&p, NULL) == COTTER_OK);
    CHECK(strlen(cotter_pkce_verifier(p)) == 43 && strlen(cotter_pkce_state(p)) == 22);
    CHECK(cotter_pkce_challenge_of(&ch, cotter_pkce_verifier(p), NULL) == COTTER_OK);
    CHECK(strcmp(ch.ptr, cotter_pkce_challenge(p)) == 0);
    lo.login_url = E.login_url;
    lo.api_key_id = E.api_key_id;
    lo.redirect_url = "http://localhost:8080";
    lo.state = cotter_pkce_state(p);
    lo.code_challenge = cotter_pkce_challenge(p);
    lo.auth_method = "OTP";
    CHECK(cotter_login_url(&url, &lo, NULL) == COTTER_OK);
    CHECK(strstr(url.ptr, "redirect_url=http%3A%2F%2Flocalhost%3A8080") != NULL);
    snprintf(query, sizeof query, "?code=abc&state=%s&challenge_id=12", cotter_pkce_state(p));
    CHECK(cotter_login_redirect_parse(&code, &cid, query, cotter_pkce_state(p), NULL) == COTTER_OK);
    CHECK(strcmp(code.ptr, "abc") == 0 && cid == 12);
    cotter_buf_dispose(&url);
    cotter_buf_dispose(&ch);
    cotter_buf_dispose(&code);
    cotter_pkce_free(p);
}

static int changes = 0;
static void on_changed(const cotter_token *t, void *payload) {
    (void)payload;
    (void)t;
    changes++;
}

static int session_load_nothing(cotter_buf *out, void *payload) {
    (void)out;
    (void)payload;
    return 0;
}

static void test_session_file(void) {
    cotter_client *c = new_client(0);
    char dir[] = "/tmp/cotter-c-session-XXXXXX", path[256], lock[300];
    char *json = emu_login(&E, "c-session@example.com");
    cotter_token *t = NULL, *got = NULL;
    cotter_session *s = NULL, *s2 = NULL;
    cotter_session_options so;
    cotter_buf at = COTTER_BUF_INIT;
    cotter_error *err = NULL;
    struct stat stt;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/cottertoken.json", dir);
    snprintf(lock, sizeof lock, "%s.lock", path);
    CHECK(cotter_token_from_json(&t, json, strlen(json), NULL) == COTTER_OK);
    CHECK(cotter_session_options_init(&so, COTTER_SESSION_OPTIONS_VERSION) == COTTER_OK);
    so.token_file = path;
    so.on_tokens_changed = on_changed;
    CHECK(cotter_session_new(&s, c, &so, t, NULL) == COTTER_OK);
    CHECK(stat(path, &stt) == 0 && (stt.st_mode & 0777) == 0600);
    CHECK(cotter_session_get_access_token(&at, s, NULL) == COTTER_OK);
    CHECK(strcmp(at.ptr, cotter_token_access_token(t)) == 0);
    cotter_buf_dispose(&at);
    CHECK(cotter_session_refresh(&got, s, NULL) == COTTER_OK);
    CHECK(strcmp(cotter_token_refresh_token(got), cotter_token_refresh_token(t)) != 0);
    CHECK(changes == 1);
    /* A second session on the same file loads what the first stored. */
    so.on_tokens_changed = NULL;
    CHECK(cotter_session_new(&s2, c, &so, NULL, NULL) == COTTER_OK);
    cotter_token_free(t);
    t = NULL;
    CHECK(cotter_session_get_token(&t, s2, NULL) == COTTER_OK);
    CHECK(strcmp(cotter_token_refresh_token(t), cotter_token_refresh_token(got)) == 0);
    CHECK(cotter_session_logout(s, NULL) == COTTER_OK);
    CHECK(stat(path, &stt) != 0);
    CHECK(changes == 2);
    CHECK(cotter_session_get_access_token(&at, s, &err) == COTTER_EREAUTH);
    CHECK(at.ptr == NULL);
    cotter_error_free(err);
    cotter_session_free(s2);
    s2 = NULL;
    so.token_file = path;
    so.load = session_load_nothing;  /* file and hooks together are refused */
    CHECK(cotter_session_new(&s2, c, &so, NULL, NULL) == COTTER_EINVAL);
    CHECK(s2 == NULL);
    cotter_session_free(s);
    cotter_token_free(t);
    cotter_token_free(got);
    free(json);
    unlink(lock);
    rmdir(dir);
    cotter_client_free(c);
}

/* A wrong API key id or secret is COTTER_ECREDENTIALS (a configuration error), never COTTER_EREAUTH: the emulator
 * answers 401 "API_KEY_ID is not valid", and "not valid" used to be read as a dead refresh token. A session keeps
 * its tokens and asks the server again on the next call (an EREAUTH token would be remembered as rejected). */
static void test_rejected_credentials(void) {
    cotter_client_options o;
    cotter_client *wrong_key = NULL, *wrong_secret = NULL, *good = new_client(0);
    cotter_session *s = NULL;
    cotter_session_options so;
    cotter_token *t = NULL, *got = NULL;
    cotter_error *err = NULL;
    char *json = emu_login(&E, "c-creds@example.com"), *resp = NULL, *idt = NULL;
    CHECK(cotter_token_from_json(&t, json, strlen(json), NULL) == COTTER_OK);
    CHECK(cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) == COTTER_OK);
    o.api_key_id = "0e0e0e0e-0000-4000-8000-00000000bad2";
    o.base_url = E.base_url;
    o.api_secret_key = E.api_secret_key;
    CHECK(cotter_client_new(&wrong_key, &o, NULL) == COTTER_OK);
    o.api_key_id = E.api_key_id;
    o.api_secret_key = "wrong-secret-value";
    CHECK(cotter_client_new(&wrong_secret, &o, NULL) == COTTER_OK);

    CHECK(cotter_client_refresh(&got, wrong_key, cotter_token_refresh_token(t), &err) == COTTER_ECREDENTIALS);
    CHECK(got == NULL);
    CHECK(cotter_error_code(err) == COTTER_ECREDENTIALS);
    CHECK(cotter_error_http_status(err) == 401);
    CHECK(strstr(cotter_error_message(err), "log in again") == NULL);
    CHECK(strcmp(cotter_status_name(COTTER_ECREDENTIALS), "COTTER_ECREDENTIALS") == 0);
    cotter_error_free(err);
    err = NULL;
    CHECK(emu_dev(&E, "POST", "/identity_token", "{\"identifier\":\"c-creds@example.com\"}", &resp) == 200);
    idt = emu_json_member(resp, "identity_token");
    CHECK(cotter_client_grant_identity_token(&got, wrong_secret, idt, &err) == COTTER_ECREDENTIALS);
    CHECK(strstr(cotter_error_message(err), "wrong-secret-value") == NULL);
    cotter_error_free(err);
    err = NULL;

    CHECK(cotter_session_options_init(&so, COTTER_SESSION_OPTIONS_VERSION) == COTTER_OK);
    CHECK(cotter_session_new(&s, wrong_key, &so, t, NULL) == COTTER_OK);
    CHECK(cotter_session_refresh(&got, s, NULL) == COTTER_ECREDENTIALS);
    CHECK(cotter_session_refresh(&got, s, &err) == COTTER_ECREDENTIALS);
    CHECK(cotter_error_http_status(err) == 401);  /* asked the server again */
    cotter_error_free(err);
    /* The refresh token was never spent: the right key refreshes it. */
    CHECK(cotter_client_refresh(&got, good, cotter_token_refresh_token(t), NULL) == COTTER_OK);
    cotter_token_free(got);
    cotter_session_free(s);
    cotter_token_free(t);
    free(json);
    free(resp);
    free(idt);
    cotter_client_free(wrong_key);
    cotter_client_free(wrong_secret);
    cotter_client_free(good);
}

/* Trusted-device events (spec §2.11): ask a user's enrolled device (POST /event/create_pending), poll the event
 * (GET /event/get/:id), blocking and with the _start form; the event comes back as the JSON the library checked.
 * (Approving needs the device's signature: the Python and Node tests sign with a real key and collect tokens.) */
static void test_events(void) {
    cotter_client *c = new_client(0);
    cotter_user *u = NULL;
    cotter_pkce *p = NULL;
    cotter_call *call = NULL;
    cotter_error *err = NULL;
    cotter_buf ev = COTTER_BUF_INIT, polled = COTTER_BUF_INIT;
    char path[256], headers[512], body[256], uid[128];
    long id;
    CHECK(cotter_client_user_create(&u, c, "c-device@example.com", NULL) == COTTER_OK);
    snprintf(uid, sizeof uid, "%s", cotter_user_id(u));
    /* No trusted device yet: the API refuses, with its reason in the message. */
    CHECK(cotter_client_event_create_pending(&ev, c, uid, "LOGIN", NULL, &err) == COTTER_EOAUTH);
    CHECK(err && strstr(cotter_error_message(err), "trusted device") != NULL);
    cotter_error_free(err);
    err = NULL;
    /* Enrol a device key (RFC 8032 test 1 public key) with the secret, as a server would. */
    snprintf(path, sizeof path, "/api/v0/user/%s", uid);
    snprintf(headers, sizeof headers, "API_KEY_ID: %s\r\nAPI_SECRET_KEY: %s\r\n", E.api_key_id, E.api_secret_key);
    snprintf(body, sizeof body, "{\"method\":\"TRUSTED_DEVICE\",\"enrolled\":true,\"algorithm\":\"ED25519\","
                                "\"code\":\"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}");
    CHECK(emu_http(&E, "PUT", path, headers, body, NULL) == 200);

    CHECK(cotter_pkce_new(&p, NULL) == COTTER_OK);
    CHECK(cotter_client_event_create_pending(&ev, c, uid, "LOGIN", cotter_pkce_challenge(p), NULL) == COTTER_OK);
    CHECK(ev.ptr && strstr(ev.ptr, "\"new\":true") && strstr(ev.ptr, "\"approved\":false"));
    CHECK(strstr(ev.ptr, "\"event\":\"LOGIN\"") && strstr(ev.ptr, "\"method\":\"TRUSTED_DEVICE\""));
    id = emu_json_int(ev.ptr, "ID");
    CHECK(id > 0);
    /* Poll it with the _start form; still pending, so the verifier brings no tokens. */
    CHECK(cotter_client_event_get_start(&call, c, id, cotter_pkce_verifier(p), NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_take_buf(&polled, call, NULL) == COTTER_OK);
    cotter_call_free(call);
    CHECK(polled.ptr && emu_json_int(polled.ptr, "ID") == id && strstr(polled.ptr, "\"new\":true"));
    CHECK(strstr(polled.ptr, "oauth_token") == NULL);
    cotter_buf_dispose(&polled);
    CHECK(cotter_client_event_get(&polled, c, id, NULL, NULL) == COTTER_OK);
    CHECK(polled.ptr && emu_json_int(polled.ptr, "ID") == id);
    cotter_buf_dispose(&polled);

    /* A plain poll has no side effect: retried after a 503. A poll with the verifier may collect the tokens (once):
     * never retried. Creating is never retried. A garbled answer is COTTER_EPROTOCOL. */
    {
        const char *get_route = "GET /api/v0/event/get/:event_id";
        long before = emu_route_requests(&E, get_route);
        CHECK(emu_dev(&E, "POST", "/faults", "{\"route\":\"GET /api/v0/event/get/:event_id\","
                                             "\"status\":503,\"count\":1}", NULL) == 200);
        CHECK(cotter_client_event_get(&polled, c, id, NULL, NULL) == COTTER_OK);
        cotter_buf_dispose(&polled);
        CHECK(emu_route_requests(&E, get_route) == before + 2);
        CHECK(emu_dev(&E, "POST", "/faults", "{\"route\":\"GET /api/v0/event/get/:event_id\","
                                             "\"status\":503,\"count\":1}", NULL) == 200);
        CHECK(cotter_client_event_get(&polled, c, id, cotter_pkce_verifier(p), NULL) == COTTER_EHTTP);
        CHECK(emu_route_requests(&E, get_route) == before + 3);
        CHECK(emu_dev(&E, "POST", "/faults", "{\"route\":\"POST /api/v0/event/create_pending\","
                                             "\"status\":503,\"count\":1}", NULL) == 200);
        CHECK(cotter_client_event_create_pending(&polled, c, uid, "LOGIN", NULL, NULL) == COTTER_EHTTP);
        CHECK(emu_dev(&E, "POST", "/faults", "{\"route\":\"GET /api/v0/event/get/:event_id\","
                                             "\"malformed_json\":true,\"count\":1}", NULL) == 200);
        CHECK(cotter_client_event_get(&polled, c, id, NULL, NULL) == COTTER_EPROTOCOL);
        CHECK(polled.ptr == NULL);
        CHECK(emu_dev(&E, "DELETE", "/faults", NULL, NULL) == 200);
    }

    /* Errors: unknown event and user, bad arguments (before anything is sent). */
    CHECK(cotter_client_event_get(&polled, c, id + 1000, NULL, NULL) == COTTER_ENOTFOUND);
    CHECK(polled.ptr == NULL && polled.len == 0);
    CHECK(cotter_client_event_create_pending(&polled, c, "no-such-user", "LOGIN", NULL, NULL) == COTTER_ENOTFOUND);
    CHECK(cotter_client_event_get(&polled, c, 0, NULL, NULL) == COTTER_EINVAL);
    CHECK(cotter_client_event_get(&polled, c, id, "short", NULL) == COTTER_EINVAL);
    CHECK(cotter_client_event_create_pending(&polled, c, uid, "", NULL, NULL) == COTTER_EINVAL);
    CHECK(cotter_client_event_create_pending(&polled, c, uid, "LOGIN", "not a challenge", NULL) == COTTER_EINVAL);
    CHECK(cotter_client_event_create_pending(&polled, c, NULL, "LOGIN", NULL, NULL) == COTTER_EINVAL);
    CHECK(cotter_client_event_create_pending(NULL, c, uid, "LOGIN", NULL, NULL) == COTTER_EINVAL);
    /* The generated `_start` shims (capi/src/start_calls_gen.cpp) check every required pointer, naming it. */
    {
        cotter_call *none = NULL;
        cotter_error *e = NULL;
        CHECK(cotter_client_event_create_pending_start(&none, c, uid, NULL, NULL, NULL, &e) == COTTER_EINVAL);
        CHECK(none == NULL && e != NULL && strstr(cotter_error_message(e), "event must not be NULL") != NULL);
        cotter_error_free(e);
        e = NULL;
        CHECK(cotter_client_event_get_start(&none, NULL, id, NULL, NULL, &e) == COTTER_EINVAL);
        CHECK(none == NULL && e != NULL && strstr(cotter_error_message(e), "client must not be NULL") != NULL);
        cotter_error_free(e);
        CHECK(cotter_client_event_get_start(NULL, c, id, NULL, NULL, NULL) == COTTER_EINVAL);
    }

    cotter_buf_dispose(&ev);
    cotter_pkce_free(p);
    cotter_user_free(u);
    cotter_client_free(c);
}

int main(void) {
    if (emu_start(&E, NULL) != 0) {
        fprintf(stderr, "cannot start the emulator\n");
        return 1;
    }
    test_arguments();
    test_tokens_and_refresh();
    test_grants_and_claims();
    test_users_social_verify();
    test_pkce();
    test_events();
    test_session_file();
    test_rejected_credentials();
    CHECK(log_lines > 10);
    CHECK(log_leaks == 0);
    emu_stop(&E);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
