/**
 * @file test_session_survival.c
 * @brief C99 program: sessions whose refresh answer is lost after the server rotated the token (issue 13 item 4).
 * With the emulator's reuse grace window the session survives, without it the login is revoked:
 *  - a lost answer (`reset` + `after`: handled, then the connection dies): the session retries once with the
 *    same token;
 *  - a process SIGKILLed while the answer is on its way (slow drip after the handler ran): the next process that
 *    opens the token file presents the old token.
 * The test counts the sessions that survive either way, and the families the emulator revoked.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cotter.h"
#include "emulator.h"

static int failures = 0;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

#define ROUTE_REFRESH "POST /api/v0/token/:api_key_id"

static emu E;
static char dir[64];

static void pause_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static long stat_int(const char *key) {
    char *body = NULL;
    long v = -1;
    if (emu_dev(&E, "GET", "/stats", NULL, &body) == 200 && body) v = emu_json_int(body, key);
    free(body);
    return v;
}

/* Refresh requests whose handler ran (the token rotated), from /dev/stats "handled". */
static long handled_refreshes(void) {
    char *body = NULL, *handled;
    long n = -1;
    if (emu_dev(&E, "GET", "/stats", NULL, &body) == 200 && body && (handled = emu_json_member(body, "handled"))) {
        const char *p = strstr(handled, "\"" ROUTE_REFRESH "\":");
        n = p ? strtol(p + strlen("\"" ROUTE_REFRESH "\":"), NULL, 10) : 0;
        free(handled);
    }
    free(body);
    return n;
}

static void set_grace(int seconds) {
    char json[64];
    snprintf(json, sizeof json, "{\"refresh_reuse_grace\":%d}", seconds);
    CHECK(emu_dev(&E, "POST", "/settings", json, NULL) == 200);
}

static cotter_client *new_client(void) {
    cotter_client_options o;
    cotter_client *c = NULL;
    CHECK(cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) == COTTER_OK);
    o.api_key_id = E.api_key_id;
    o.base_url = E.base_url;
    CHECK(cotter_client_new(&c, &o, NULL) == COTTER_OK);
    return c;
}

/* Far in the future: every access token is expired, so get_access_token refreshes. */
static int64_t late_clock(void *payload) {
    (void)payload;
    return (int64_t)4000000000LL;
}

static cotter_session *open_session(cotter_client *c, const char *file, const cotter_token *initial) {
    cotter_session_options so;
    cotter_session *s = NULL;
    cotter_error *err = NULL;
    CHECK(cotter_session_options_init(&so, COTTER_SESSION_OPTIONS_VERSION) == COTTER_OK);
    so.token_file = file;
    so.clock = late_clock;
    if (cotter_session_new(&s, c, &so, initial, &err) != COTTER_OK) {
        fprintf(stderr, "session_new: %s\n", cotter_error_message(err));
        failures++;
    }
    cotter_error_free(err);
    return s;
}

static cotter_token *login(const char *who) {
    char body[256], *resp = NULL, *json;
    cotter_token *t = NULL;
    snprintf(body, sizeof body, "{\"identifier\":\"%s\"}", who);
    CHECK(emu_dev(&E, "POST", "/login", body, &resp) == 200);
    json = resp ? emu_json_member(resp, "oauth_token") : NULL;
    CHECK(json != NULL);
    if (json) CHECK(cotter_token_from_json(&t, json, strlen(json), NULL) == COTTER_OK);
    free(json);
    free(resp);
    return t;
}

/* A lost answer: the session's one retry with the same token gets the current set within the grace window. */
static void lost_answer(int grace, int expect_survive) {
    cotter_client *c = new_client();
    char who[64], file[128];
    cotter_token *t;
    cotter_session *s;
    cotter_buf tok = COTTER_BUF_INIT;
    int rc;
    long revoked = stat_int("refresh_families_revoked");
    static int n = 0;
    set_grace(grace);
    snprintf(who, sizeof who, "lost-%d@example.com", ++n);
    snprintf(file, sizeof file, "%s/lost-%d.json", dir, n);
    t = login(who);
    s = open_session(c, file, t);
    CHECK(emu_dev(&E, "POST", "/faults", "{\"route\":\"" ROUTE_REFRESH "\",\"reset\":true,\"after\":true}", NULL) == 200);
    rc = cotter_session_get_access_token(&tok, s, NULL);
    if (expect_survive) {
        CHECK(rc == COTTER_OK);
        CHECK(stat_int("refresh_families_revoked") == revoked);
        cotter_buf_dispose(&tok);
        /* And the chain goes on: the next refresh uses the token the retry brought. */
        CHECK(cotter_session_refresh(NULL, s, NULL) == COTTER_OK);
    } else {
        CHECK(rc == COTTER_EREAUTH);
        CHECK(stat_int("refresh_families_revoked") == revoked + 1);
    }
    cotter_session_free(s);
    cotter_token_free(t);
    cotter_client_free(c);
}

/* N processes are killed while their refresh answer drips in (the token rotated); count who survives. */
static int killed_mid_refresh(int grace, int n) {
    int i, survivors = 0;
    set_grace(grace);
    for (i = 0; i < n; i++) {
        char who[64], file[128];
        cotter_client *c = new_client();
        cotter_token *t;
        cotter_session *s;
        long before;
        pid_t pid;
        int status;
        snprintf(who, sizeof who, "killed-%d-%d@example.com", grace, i);
        snprintf(file, sizeof file, "%s/killed-%d-%d.json", dir, grace, i);
        t = login(who);
        s = open_session(c, file, t); /* stores the first token set in the file */
        cotter_session_free(s);
        cotter_client_free(c);
        CHECK(emu_dev(&E, "POST", "/faults",
                      "{\"route\":\"" ROUTE_REFRESH "\",\"slow_drip\":true,\"chunk_bytes\":1,\"interval_ms\":60000}",
                      NULL) == 200);
        before = handled_refreshes();
        pid = fork();
        if (pid == 0) {
            cotter_client *cc = new_client();
            cotter_session *cs = open_session(cc, file, NULL);
            cotter_buf b = COTTER_BUF_INIT;
            if (cotter_session_get_access_token(&b, cs, NULL) == COTTER_OK) _exit(4); /* killed while it drips */
            _exit(3);
        }
        CHECK(pid > 0);
        {
            int k;
            for (k = 0; k < 12000 && handled_refreshes() <= before; k++) pause_ms(5);
        }
        CHECK(handled_refreshes() == before + 1); /* the server rotated the token */
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status));
        CHECK(emu_dev(&E, "DELETE", "/faults", NULL, NULL) == 200);
        /* The file still holds the old set: the next process presents the rotated-out token. */
        c = new_client();
        s = open_session(c, file, NULL);
        {
            cotter_buf b = COTTER_BUF_INIT;
            if (cotter_session_get_access_token(&b, s, NULL) == COTTER_OK) survivors++;
            cotter_buf_dispose(&b);
        }
        cotter_session_free(s);
        cotter_client_free(c);
        cotter_token_free(t);
    }
    return survivors;
}

int main(void) {
    long revoked;
    int with_grace, without;
    strcpy(dir, "/tmp/cotter-survival-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    if (emu_start(&E, NULL) != 0) {
        fprintf(stderr, "cannot start the emulator\n");
        return 1;
    }
    lost_answer(30, 1);
    lost_answer(0, 0);
    with_grace = killed_mid_refresh(30, 6);
    revoked = stat_int("refresh_families_revoked");
    without = killed_mid_refresh(0, 6);
    CHECK(with_grace == 6);
    CHECK(without == 0);
    CHECK(stat_int("refresh_families_revoked") == revoked + 6);
    printf("sessions killed mid-refresh that survive: %d of 6 with a 30 s grace window, %d of 6 without\n", with_grace,
           without);
    emu_stop(&E);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) failures++;
    }
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_session_survival: all checks passed\n");
    return 0;
}
