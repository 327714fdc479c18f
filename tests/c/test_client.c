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
    /* Records come as the JSON object the library checked (capi/abi.json `records`), in a cotter_buf. */
    cotter_buf u = COTTER_BUF_INIT, u2 = COTTER_BUF_INIT, list = COTTER_BUF_INIT, sl = COTTER_BUF_INIT,
               st = COTTER_BUF_INIT;
    char body[512], uid[128], got[256], *json;
    cotter_token *t = NULL;
    int valid = -1;
    cotter_buf reason = COTTER_BUF_INIT;
    long total;
    CHECK(cotter_client_user_create(&u, c, "c-user@example.com", NULL) == COTTER_OK);
    CHECK(u.ptr && u.len == strlen(u.ptr) && u.ptr[0] == '{' && u.ptr[u.len - 1] == '}');
    emu_json_string(u.ptr, "identifier", got, sizeof got);
    CHECK(strcmp(got, "c-user@example.com") == 0);
    emu_json_string(u.ptr, "issuer", got, sizeof got);
    CHECK(strcmp(got, E.api_key_id) == 0);
    emu_json_string(u.ptr, "ID", uid, sizeof uid);
    CHECK(uid[0] != '\0');
    CHECK(strstr(u.ptr, "\": ") == NULL); /* minified */
    CHECK(cotter_client_user_get_by_identifier(&u2, c, "c-user@example.com", NULL) == COTTER_OK);
    emu_json_string(u2.ptr, "ID", got, sizeof got);
    CHECK(strcmp(got, uid) == 0);
    cotter_buf_dispose(&u2);
    CHECK(u2.ptr == NULL && u2.len == 0);
    CHECK(cotter_client_user_get_by_identifier(&u2, c, "nobody@example.com", NULL) == COTTER_ENOTFOUND);
    CHECK(u2.ptr == NULL);
    CHECK(cotter_client_user_get(&u2, c, uid, NULL) == COTTER_OK);
    CHECK(strcmp(u2.ptr, u.ptr) == 0);
    cotter_buf_dispose(&u2);
    CHECK(cotter_client_user_list(&list, c, 0, NULL) == COTTER_OK);
    /* One shape whatever wrapper the server used: {"users":[...],"total":N|null,"has_more":b|null}. */
    CHECK(strncmp(list.ptr, "{\"users\":[{", 11) == 0 && strstr(list.ptr, uid) != NULL);
    /* The emulator's wrapper says how many users there are, and whether pages follow this first one. */
    total = emu_json_int(list.ptr, "total");
    CHECK(total >= 1);
    CHECK(strstr(list.ptr, "\"has_more\":true}") != NULL || strstr(list.ptr, "\"has_more\":false}") != NULL);
    cotter_buf_dispose(&list);

    snprintf(body, sizeof body,
             "{\"user_id\":\"%s\",\"identity_provider\":\"GITHUB\",\"tokens\":{\"access_token\":\"gho_x\",\"scope\":\"repo\",\"token_type\":\"bearer\"}}",
             uid);
    CHECK(emu_dev(&E, "POST", "/social_tokens", body, NULL) == 201);
    CHECK(cotter_client_social_tokens_list(&sl, c, uid, NULL) == COTTER_OK);
    CHECK(sl.ptr[0] == '[' && sl.ptr[sl.len - 1] == ']' && sl.len == strlen(sl.ptr));
    CHECK(strstr(sl.ptr, "\"identity_provider\":\"GITHUB\"") != NULL && strstr(sl.ptr, "},{") == NULL);
    cotter_buf_dispose(&sl);
    CHECK(cotter_client_social_token_get(&st, c, "GITHUB", uid, NULL) == COTTER_OK);
    CHECK(strstr(st.ptr, "\"access_token\":\"gho_x\"") != NULL && st.ptr[0] == '{');
    cotter_buf_dispose(&st);
    CHECK(cotter_client_social_token_delete(c, "GITHUB", uid, NULL) == COTTER_OK);
    CHECK(cotter_client_social_token_get(&st, c, "GITHUB", uid, NULL) == COTTER_ENOTFOUND);
    CHECK(st.ptr == NULL);
    cotter_buf_dispose(&u);

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
    cotter_buf u = COTTER_BUF_INIT;
    cotter_pkce *p = NULL;
    cotter_call *call = NULL;
    cotter_error *err = NULL;
    cotter_buf ev = COTTER_BUF_INIT, polled = COTTER_BUF_INIT;
    char path[256], headers[512], body[256], uid[128];
    long id;
    CHECK(cotter_client_user_create(&u, c, "c-device@example.com", NULL) == COTTER_OK);
    emu_json_string(u.ptr, "ID", uid, sizeof uid);
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
    cotter_buf_dispose(&u);
    cotter_client_free(c);
}

/* A blocking form given a NULL out-parameter fails before anything is started (capi/src/blocking_calls.cpp checks
 * its outputs, then starts the call): the message names the out-parameter, even when an input is wrong too (the
 * `_start` form would have named the input), and the server sees no request (user_list: valid inputs). */
static void expect_null_out(cotter_client *c, const char *what, int rc, cotter_error **err, const char *message) {
    cotter_client_stats st;
    if (rc != COTTER_EINVAL || !*err || strcmp(cotter_error_message(*err), message) != 0) {
        fprintf(stderr, "%s: rc=%d message=%s, want COTTER_EINVAL \"%s\"\n", what, rc,
                *err ? cotter_error_message(*err) : "(none)", message);
        failures++;
    }
    cotter_error_free(*err);
    *err = NULL;
    CHECK(cotter_client_stats_get(&st, c) == COTTER_OK);
    if (st.requests != 0) {
        fprintf(stderr, "%s: %llu request(s) sent for a call that could not hand its result over\n", what,
                (unsigned long long)st.requests);
        failures++;
    }
}

static void test_blocking_null_outputs(void) {
    cotter_client *c = new_client(1);
    cotter_error *err = NULL;
    cotter_buf b = COTTER_BUF_INIT;
    int rc;
    rc = cotter_client_refresh(NULL, c, NULL, &err);
    expect_null_out(c, "refresh", rc, &err, "out must not be NULL");
    rc = cotter_client_grant_identity_token(NULL, c, NULL, &err);
    expect_null_out(c, "grant_identity_token", rc, &err, "out must not be NULL");
    rc = cotter_client_user_get(NULL, c, NULL, &err);
    expect_null_out(c, "user_get", rc, &err, "out must not be NULL");
    rc = cotter_client_user_list(NULL, c, 1, &err);
    expect_null_out(c, "user_list", rc, &err, "out must not be NULL");
    rc = cotter_client_social_token_get(NULL, c, NULL, "u", &err);
    expect_null_out(c, "social_token_get", rc, &err, "out must not be NULL");
    rc = cotter_client_get_identity(NULL, c, NULL, 1, "v", "http://x/", &err);
    expect_null_out(c, "get_identity", rc, &err, "out must not be NULL");
    rc = cotter_client_custom_claims(NULL, &b, c, NULL, "{}", NULL, &err);
    expect_null_out(c, "custom_claims", rc, &err, "token_out must not be NULL");
    rc = cotter_client_verify_remote(NULL, &b, c, NULL, &err);
    expect_null_out(c, "verify_remote", rc, &err, "valid_out must not be NULL");
    CHECK(b.ptr == NULL);
    cotter_client_free(c);
}

/* The credentials' environment variables are read by the library only when the options ask (from_environment = 1,
 * what the Python client passes): a C, Rust or Go caller's NULL secret stays absent whatever the environment holds. */
static void test_from_environment(void) {
    cotter_client_options o;
    cotter_client *c = NULL;
    cotter_error *err = NULL;
    cotter_token *t = NULL;
    char *resp = NULL, *idt = NULL;
    CHECK(emu_dev(&E, "POST", "/identity_token", "{\"identifier\":\"c-env@example.com\"}", &resp) == 200);
    idt = emu_json_member(resp, "identity_token");
    CHECK(idt != NULL);
    setenv("COTTER_API_KEY_ID", E.api_key_id, 1);
    setenv("COTTER_API_SECRET_KEY", E.api_secret_key, 1);

    CHECK(cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) == COTTER_OK);
    CHECK(o.from_environment == 0);
    o.base_url = E.base_url;
    CHECK(cotter_client_new(&c, &o, &err) == COTTER_EINVAL && c == NULL);
    CHECK(err && strcmp(cotter_error_message(err), "api_key_id (your Cotter API key id) is required") == 0);
    cotter_error_free(err);
    err = NULL;
    o.api_key_id = E.api_key_id;
    CHECK(cotter_client_new(&c, &o, NULL) == COTTER_OK);
    CHECK(cotter_client_grant_identity_token(&t, c, idt, &err) == COTTER_EINVAL && t == NULL);
    CHECK(err && strstr(cotter_error_message(err), "needs the API secret key") != NULL);
    cotter_error_free(err);
    err = NULL;
    cotter_client_free(c);
    c = NULL;

    o.api_key_id = NULL;
    o.from_environment = 1;
    CHECK(cotter_client_new(&c, &o, NULL) == COTTER_OK);
    CHECK(c && strcmp(cotter_client_api_key_id(c), E.api_key_id) == 0);
    CHECK(cotter_client_grant_identity_token(&t, c, idt, NULL) == COTTER_OK && t != NULL);
    cotter_token_free(t);
    cotter_client_free(c);
    c = NULL;
    o.api_key_id = "given-key";  /* what is given wins over the environment */
    CHECK(cotter_client_new(&c, &o, NULL) == COTTER_OK);
    CHECK(c && strcmp(cotter_client_api_key_id(c), "given-key") == 0);
    cotter_client_free(c);
    c = NULL;
    o.api_key_id = NULL;
    unsetenv("COTTER_API_KEY_ID");
    CHECK(cotter_client_new(&c, &o, &err) == COTTER_EINVAL && c == NULL);
    CHECK(err && strcmp(cotter_error_message(err),
                        "api_key_id (your Cotter API key id) is required: pass it or set COTTER_API_KEY_ID") == 0);
    cotter_error_free(err);
    unsetenv("COTTER_API_SECRET_KEY");
    CHECK(cotter_client_api_key_id(NULL) == NULL);

    /* A version-2 caller's struct ends before from_environment: init writes nothing past it. */
    {
        cotter_client_options v2;
        memset(&v2, 0x5A, sizeof v2);
        CHECK(cotter_client_options_init(&v2, 2) == COTTER_OK);
        CHECK(v2.version == 2 && v2.max_host_connections == 0);
        const unsigned char *past = (const unsigned char *)&v2.from_environment;
        size_t i, untouched = 0;
        for (i = 0; i < sizeof v2.from_environment; i++) untouched += past[i] == 0x5A;
        CHECK(untouched == sizeof v2.from_environment);
    }
    free(resp);
    free(idt);
}

/* The verifier's and the login URL's environment defaults are opt-ins too (from_environment = 1, what Python's
 * cotter.validate and login functions and Node's compat helpers pass): the audience from $COTTER_API_KEY_ID, the
 * JWKS fetch's CA file from $COTTER_CA_FILE, the hosted page from $COTTER_LOGIN_URL. */
static int new_verifier(cotter_jwt_verifier **v, const char *audience, const char *jwks_url, long from_env,
                        cotter_error **err) {
    cotter_jwt_verifier_options o;
    CHECK(cotter_jwt_verifier_options_init(&o, COTTER_JWT_VERIFIER_OPTIONS_VERSION) == COTTER_OK);
    CHECK(o.from_environment == 0);
    o.audience = audience;
    o.jwks_url = jwks_url;
    o.from_environment = from_env;
    return cotter_jwt_verifier_new(v, &o, err);
}

static void test_verifier_and_login_url_from_environment(void) {
    cotter_jwt_verifier *v = NULL;
    cotter_claims *claims = NULL;
    cotter_error *err = NULL;
    cotter_token *t = NULL;
    cotter_buf jwks = COTTER_BUF_INIT, url = COTTER_BUF_INIT;
    char *json = emu_login(&E, "c-env-verify@example.com");
    const char *access;
    CHECK(json && cotter_token_from_json(&t, json, strlen(json), NULL) == COTTER_OK);
    access = cotter_token_access_token(t);
    CHECK(cotter_jwks_url(&jwks, E.base_url, NULL) == COTTER_OK);
    setenv("COTTER_API_KEY_ID", E.api_key_id, 1);

    /* Without the opt-in the variable is never read. */
    CHECK(new_verifier(&v, NULL, jwks.ptr, 0, &err) == COTTER_EINVAL && v == NULL);
    CHECK(err && strcmp(cotter_error_message(err), "audience (your Cotter API key id) is required") == 0);
    cotter_error_free(err);
    err = NULL;
    /* With it, a NULL or empty audience is the variable's, and a given one wins. */
    CHECK(new_verifier(&v, NULL, jwks.ptr, 1, NULL) == COTTER_OK);
    CHECK(cotter_jwt_verify(&claims, v, access, strlen(access), NULL) == COTTER_OK);
    CHECK(claims && cotter_claims_audience_count(claims) >= 1);
    cotter_claims_free(claims);
    claims = NULL;
    cotter_jwt_verifier_free(v);
    v = NULL;
    CHECK(new_verifier(&v, "", jwks.ptr, 1, NULL) == COTTER_OK);
    CHECK(cotter_jwt_verify(NULL, v, access, strlen(access), NULL) == COTTER_OK);
    cotter_jwt_verifier_free(v);
    v = NULL;
    CHECK(new_verifier(&v, "another-key", jwks.ptr, 1, NULL) == COTTER_OK);
    CHECK(cotter_jwt_verify(NULL, v, access, strlen(access), NULL) == COTTER_EJWT_AUDIENCE);
    cotter_jwt_verifier_free(v);
    v = NULL;
    unsetenv("COTTER_API_KEY_ID");
    CHECK(new_verifier(&v, NULL, jwks.ptr, 1, &err) == COTTER_EINVAL && v == NULL);
    CHECK(err && strcmp(cotter_error_message(err),
                        "audience (your Cotter API key id) is required: pass it or set COTTER_API_KEY_ID") == 0);
    cotter_error_free(err);
    err = NULL;

    /* A version-1 caller's struct ends before from_environment: init writes nothing past it, new never reads it. */
    {
        cotter_jwt_verifier_options v1;
        const unsigned char *past = (const unsigned char *)&v1.from_environment;
        size_t i, untouched = 0;
        memset(&v1, 0x5A, sizeof v1);
        CHECK(cotter_jwt_verifier_options_init(&v1, 1) == COTTER_OK);
        for (i = 0; i < sizeof v1.from_environment; i++) untouched += past[i] == 0x5A;
        CHECK(v1.version == 1 && untouched == sizeof v1.from_environment);
        setenv("COTTER_API_KEY_ID", E.api_key_id, 1);
        v1.jwks_url = jwks.ptr;
        CHECK(cotter_jwt_verifier_new(&v, &v1, NULL) == COTTER_EINVAL && v == NULL);  /* 0x5A.. is not read */
        v1.audience = E.api_key_id;
        CHECK(cotter_jwt_verifier_new(&v, &v1, NULL) == COTTER_OK);
        cotter_jwt_verifier_free(v);
        v = NULL;
        unsetenv("COTTER_API_KEY_ID");
        CHECK(cotter_jwt_verifier_options_init(&v1, COTTER_JWT_VERIFIER_OPTIONS_VERSION + 1) == COTTER_EINVAL);
    }

    /* $COTTER_CA_FILE: the CA of a TLS emulator's key set, read only with the opt-in. */
    {
        emu tls;
        const char *flags[] = {"--tls", NULL};
        char ca[512], tls_jwks[512];
        if (emu_start(&tls, flags) != 0) {
            fprintf(stderr, "cannot start the TLS emulator\n");
            failures++;
        } else {
            emu_json_string(tls.line, "ca_file", ca, sizeof ca);
            emu_json_string(tls.line, "jwks_url", tls_jwks, sizeof tls_jwks);
            CHECK(ca[0] && strncmp(tls_jwks, "https://", 8) == 0);
            setenv("COTTER_CA_FILE", ca, 1);
            CHECK(new_verifier(&v, "key", tls_jwks, 0, NULL) == COTTER_OK);
            CHECK(cotter_jwt_verifier_refresh(v, &err) != COTTER_OK);  /* the system store does not know this CA */
            cotter_error_free(err);
            err = NULL;
            cotter_jwt_verifier_free(v);
            v = NULL;
            CHECK(new_verifier(&v, "key", tls_jwks, 1, NULL) == COTTER_OK);
            CHECK(cotter_jwt_verifier_refresh(v, &err) == COTTER_OK);
            if (err) fprintf(stderr, "refresh with $COTTER_CA_FILE: %s\n", cotter_error_message(err));
            cotter_error_free(err);
            err = NULL;
            cotter_jwt_verifier_free(v);
            v = NULL;
            unsetenv("COTTER_CA_FILE");
            emu_stop(&tls);
        }
    }

    /* $COTTER_LOGIN_URL: the hosted page's default, with the opt-in only; a given login_url wins. */
    {
        cotter_login_url_options lo = COTTER_LOGIN_URL_OPTIONS_INIT;
        char want[300];
        CHECK(lo.from_environment == 0);
        lo.api_key_id = E.api_key_id;
        lo.redirect_url = "http://localhost:8080";
        lo.state = "s";
        lo.code_challenge = "c";
        setenv("COTTER_LOGIN_URL", E.login_url, 1);
        CHECK(cotter_login_url(&url, &lo, NULL) == COTTER_OK);
        CHECK(url.ptr && strncmp(url.ptr, COTTER_DEFAULT_LOGIN_URL "?", strlen(COTTER_DEFAULT_LOGIN_URL) + 1) == 0);
        cotter_buf_dispose(&url);
        lo.from_environment = 1;
        snprintf(want, sizeof want, "%s?", E.login_url);
        CHECK(cotter_login_url(&url, &lo, NULL) == COTTER_OK);
        CHECK(url.ptr && strncmp(url.ptr, want, strlen(want)) == 0);
        cotter_buf_dispose(&url);
        lo.login_url = "https://login.example/app";
        CHECK(cotter_login_url(&url, &lo, NULL) == COTTER_OK);
        CHECK(url.ptr && strncmp(url.ptr, "https://login.example/app?", 26) == 0);
        cotter_buf_dispose(&url);
        lo.login_url = NULL;
        lo.from_environment = 2;
        CHECK(cotter_login_url(&url, &lo, &err) == COTTER_EINVAL && url.ptr == NULL);
        CHECK(err && strcmp(cotter_error_message(err), "login URL options: from_environment must be within 0..1") == 0);
        cotter_error_free(err);
        err = NULL;
        lo.version = 1;  /* a version-1 struct has no from_environment: never read */
        CHECK(cotter_login_url(&url, &lo, NULL) == COTTER_OK);
        CHECK(url.ptr && strncmp(url.ptr, COTTER_DEFAULT_LOGIN_URL "?", strlen(COTTER_DEFAULT_LOGIN_URL) + 1) == 0);
        cotter_buf_dispose(&url);
        unsetenv("COTTER_LOGIN_URL");
        lo.version = COTTER_LOGIN_URL_OPTIONS_VERSION;
        lo.from_environment = 1;
        CHECK(cotter_login_url(&url, &lo, NULL) == COTTER_OK);  /* the variable unset: Cotter's page */
        CHECK(url.ptr && strncmp(url.ptr, COTTER_DEFAULT_LOGIN_URL "?", strlen(COTTER_DEFAULT_LOGIN_URL) + 1) == 0);
        cotter_buf_dispose(&url);
    }
    cotter_buf_dispose(&jwks);
    cotter_token_free(t);
    free(json);
}

/* get_identity's arguments: the core checks them (its `_start` shim is generated from capi/abi.json), both forms
 * answer COTTER_EINVAL with the same message, and nothing is sent. */
static void test_get_identity_arguments(void) {
    cotter_client *c = new_client(0);
    cotter_client_stats before, after;
    cotter_buf id = {(char *)1, 1};
    cotter_call *call = (cotter_call *)1;
    cotter_error *err = NULL;
    CHECK(cotter_client_stats_get(&before, c) == COTTER_OK);
    CHECK(cotter_client_get_identity(&id, c, "code", -1, "verifier", "http://localhost:1", &err) == COTTER_EINVAL);
    CHECK(id.ptr == NULL && id.len == 0);
    CHECK(err && strcmp(cotter_error_message(err), "challenge_id must not be negative") == 0);
    cotter_error_free(err);
    err = NULL;
    CHECK(cotter_client_get_identity_start(&call, c, "code", -1, "verifier", "http://localhost:1", NULL, &err) ==
          COTTER_EINVAL);
    CHECK(call == NULL);
    CHECK(err && strcmp(cotter_error_message(err), "challenge_id must not be negative") == 0);
    cotter_error_free(err);
    err = NULL;
    CHECK(cotter_client_get_identity_start(&call, c, NULL, 1, "verifier", "http://localhost:1", NULL, &err) ==
          COTTER_EINVAL);
    CHECK(err && strcmp(cotter_error_message(err), "authorization_code must not be NULL") == 0);
    cotter_error_free(err);
    err = NULL;
    CHECK(cotter_client_get_identity_start(&call, c, "", 1, "verifier", "http://localhost:1", NULL, &err) ==
          COTTER_EINVAL);
    CHECK(err && strcmp(cotter_error_message(err), "code, verifier and redirect URL are required") == 0);
    cotter_error_free(err);
    CHECK(cotter_client_stats_get(&after, c) == COTTER_OK);
    CHECK(after.requests == before.requests);
    cotter_client_free(c);
}

int main(void) {
    if (emu_start(&E, NULL) != 0) {
        fprintf(stderr, "cannot start the emulator\n");
        return 1;
    }
    test_arguments();
    test_get_identity_arguments();
    test_blocking_null_outputs();
    test_tokens_and_refresh();
    test_grants_and_claims();
    test_users_social_verify();
    test_pkce();
    test_events();
    test_session_file();
    test_rejected_credentials();
    test_from_environment();
    test_verifier_and_login_url_from_environment();
    CHECK(log_lines > 10);
    CHECK(log_leaks == 0);
    emu_stop(&E);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
