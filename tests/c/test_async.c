/**
 * @file test_async.c
 * @brief C99 program exercising the asynchronous ABI (cotter_call, the `_start` functions) against the emulator:
 * many calls in flight on few threads and capped connections, callbacks exactly once, cancellation while waiting
 * and mid-body, deadlines, freeing calls and clients with calls in flight, sessions (inline completion of a fresh
 * token, one shared refresh, a cancelled waiter whose refresh still lands), key-set refreshes whose waiters cancel
 * and time out independently, takers' rules, the deadlock guard, and a freed call ending its use of the hooks.
 * No test reads a clock: the server holds requests (latency faults of 30 s) and the test waits for what it saw.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static emu E;

/* ---- A completion counter the callbacks signal ----------------------------------------------------------- */

typedef struct tally {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int ok;
    int canceled;
    int timeout;
    int other;
    int on_io_thread_einval;  /* blocking calls tried inside the callback that were refused */
} tally;

static void tally_init(tally *t) {
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
}

static void tally_destroy(tally *t) {
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
}

static void tally_wait(tally *t, int n) {
    pthread_mutex_lock(&t->mu);
    while (t->done < n) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

/* The done callback: reads the status without taking (cotter_call_wait returns at once in the callback). */
static void on_done(cotter_call *call, void *payload) {
    tally *t = (tally *)payload;
    int rc = cotter_call_wait(call, NULL);
    pthread_mutex_lock(&t->mu);
    if (rc == COTTER_OK) t->ok++;
    else if (rc == COTTER_ECANCELED) t->canceled++;
    else if (rc == COTTER_ETIMEOUT) t->timeout++;
    else t->other++;
    t->done++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static cotter_call_options opts_for(tally *t) {
    cotter_call_options o;
    if (cotter_call_options_init(&o, COTTER_CALL_OPTIONS_VERSION) != COTTER_OK) failures++;
    o.done = on_done;
    o.done_payload = t;
    return o;
}

/* ---- Helpers --------------------------------------------------------------------------------------------- */

static void pause_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Waits until the emulator has received `n` requests on `route` (a hang guard, not a timing assertion). */
static int wait_for_requests(const char *route, long n) {
    int i;
    for (i = 0; i < 12000; i++) {
        if (emu_route_requests(&E, route) >= n) return 1;
        pause_ms(5);
    }
    return 0;
}

static int fault(const char *json) { return emu_dev(&E, "POST", "/faults", json, NULL) == 200; }

static int threads_in_process(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0) n = atoi(line + 8);
    fclose(f);
    return n;
}

static cotter_client *new_client(long max_host_connections) {
    cotter_client_options o;
    cotter_client *c = NULL;
    cotter_error *err = NULL;
    CHECK(cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) == COTTER_OK);
    o.api_key_id = E.api_key_id;
    o.api_secret_key = E.api_secret_key;
    o.base_url = E.base_url;
    o.worker_url = E.worker_url;
    o.max_host_connections = max_host_connections;
    if (cotter_client_new(&c, &o, &err) != COTTER_OK) {
        fprintf(stderr, "client_new: %s\n", cotter_error_message(err));
        failures++;
    }
    cotter_error_free(err);
    return c;
}

#define ROUTE_USER "GET /api/v0/user"
#define ROUTE_REFRESH "POST /api/v0/token/:api_key_id"

/* ---- Tests ----------------------------------------------------------------------------------------------- */

/* 60 calls are in flight at once on a handful of threads; cancelling them ends every one, exactly once. */
static void test_many_in_flight_then_cancel(void) {
    enum { N = 60 };
    cotter_client *c = new_client(0);
    cotter_call *calls[N];
    tally t;
    cotter_call_options o;
    int i, threads_before, threads_during;
    const long base = emu_route_requests(&E, ROUTE_USER);
    tally_init(&t);
    o = opts_for(&t);
    CHECK(fault("{\"route\":\"GET /api/v0/user\",\"count\":60,\"latency_ms\":30000}"));
    threads_before = threads_in_process();
    for (i = 0; i < N; i++) {
        calls[i] = NULL;
        CHECK(cotter_client_user_get_by_identifier_start(&calls[i], c, "nobody@example.com", &o, NULL) == COTTER_OK);
    }
    CHECK(wait_for_requests(ROUTE_USER, base + N));
    threads_during = threads_in_process();
    /* One I/O thread for the client, whatever the number of calls (libcurl resolves numeric hosts inline). */
    CHECK(threads_during - threads_before <= 2);
    for (i = 0; i < N; i++) CHECK(cotter_call_is_done(calls[i]) == 0);
    for (i = 0; i < N; i++) cotter_call_cancel(calls[i]);
    tally_wait(&t, N);
    CHECK(t.canceled == N);
    for (i = 0; i < N; i++) {
        cotter_buf u = COTTER_BUF_INIT;
        cotter_error *err = NULL;
        CHECK(cotter_call_is_done(calls[i]) == 1);
        CHECK(cotter_call_take_buf(&u, calls[i], &err) == COTTER_ECANCELED);
        CHECK(u.ptr == NULL);
        CHECK(cotter_error_code(err) == COTTER_ECANCELED);
        cotter_error_free(err);
        cotter_call_cancel(calls[i]); /* after completion: a no-op */
        cotter_call_free(calls[i]);
    }
    /* The server saw each request once: a cancelled request is never re-sent. */
    CHECK(emu_route_requests(&E, ROUTE_USER) == base + N);
    CHECK(t.done == N);
    CHECK(emu_dev(&E, "DELETE", "/faults", NULL, NULL) == 200);
    cotter_client_free(c);
    tally_destroy(&t);
}

/* With a per-host cap, 40 concurrent calls share at most that many connections, and all succeed. */
static void test_connection_cap(void) {
    enum { N = 40, CAP = 4 };
    cotter_client *c = new_client(CAP);
    cotter_call *calls[N];
    cotter_client_stats st;
    tally t;
    cotter_call_options o;
    int i;
    tally_init(&t);
    o = opts_for(&t);
    CHECK(fault("{\"route\":\"GET /api/v0/user\",\"count\":40,\"latency_ms\":50}"));
    for (i = 0; i < N; i++) CHECK(cotter_client_user_get_by_identifier_start(&calls[i], c, "cap@example.com", &o, NULL) == COTTER_OK);
    tally_wait(&t, N);
    /* An unknown identifier is ENOTFOUND: a complete answer, as opposed to a transport failure. */
    CHECK(t.other == N);
    for (i = 0; i < N; i++) {
        cotter_buf u = COTTER_BUF_INIT;
        CHECK(cotter_call_take_buf(&u, calls[i], NULL) == COTTER_ENOTFOUND);
        cotter_call_free(calls[i]);
    }
    CHECK(cotter_client_stats_get(&st, c) == COTTER_OK);
    CHECK(st.requests == N);
    CHECK(st.connections >= 1 && st.connections <= CAP);
    cotter_client_free(c);
    tally_destroy(&t);
}

/* A deadline ends a call the server holds: ETIMEOUT, request seen once. Cancel through free: ECANCELED. */
static void test_deadline_and_free_cancels(void) {
    cotter_client *c = new_client(0);
    cotter_call *call = NULL;
    tally t;
    cotter_call_options o;
    long base = emu_route_requests(&E, ROUTE_USER);
    tally_init(&t);
    o = opts_for(&t);
    o.timeout_ms = 300;
    CHECK(fault("{\"route\":\"GET /api/v0/user\",\"count\":1,\"latency_ms\":30000}"));
    CHECK(cotter_client_user_get_by_identifier_start(&call, c, "slow@example.com", &o, NULL) == COTTER_OK);
    tally_wait(&t, 1);
    CHECK(t.timeout == 1);
    {
        cotter_error *err = NULL;
        CHECK(cotter_call_wait(call, &err) == COTTER_ETIMEOUT);
        CHECK(strstr(cotter_error_message(err), "GET") != NULL);
        cotter_error_free(err);
    }
    cotter_call_free(call);
    CHECK(emu_route_requests(&E, ROUTE_USER) == base + 1);

    /* Freeing the handle of a call in flight cancels it; its callback still runs, once. */
    o.timeout_ms = 0;
    base = emu_route_requests(&E, ROUTE_USER);
    CHECK(fault("{\"route\":\"GET /api/v0/user\",\"count\":1,\"latency_ms\":30000}"));
    CHECK(cotter_client_user_get_by_identifier_start(&call, c, "slow@example.com", &o, NULL) == COTTER_OK);
    CHECK(wait_for_requests(ROUTE_USER, base + 1));
    cotter_call_free(call);
    tally_wait(&t, 2);
    CHECK(t.canceled == 1);
    CHECK(emu_dev(&E, "DELETE", "/faults", NULL, NULL) == 200);
    cotter_client_free(c);
    tally_destroy(&t);
}

/* Queued behind the connection cap: cancelled before it was ever sent. */
static void test_cancel_queued(void) {
    cotter_client *c = new_client(1);
    cotter_call *held = NULL, *queued = NULL;
    tally t;
    cotter_call_options o;
    long base = emu_route_requests(&E, ROUTE_USER);
    tally_init(&t);
    o = opts_for(&t);
    CHECK(fault("{\"route\":\"GET /api/v0/user\",\"count\":1,\"latency_ms\":30000}"));
    CHECK(cotter_client_user_get_by_identifier_start(&held, c, "held@example.com", &o, NULL) == COTTER_OK);
    CHECK(wait_for_requests(ROUTE_USER, base + 1));
    CHECK(cotter_client_user_get_by_identifier_start(&queued, c, "queued@example.com", &o, NULL) == COTTER_OK);
    cotter_call_cancel(queued);
    tally_wait(&t, 1);
    CHECK(t.canceled == 1);
    CHECK(cotter_call_is_done(held) == 0);
    cotter_call_cancel(held);
    tally_wait(&t, 2);
    CHECK(t.canceled == 2);
    CHECK(emu_route_requests(&E, ROUTE_USER) == base + 1); /* the queued one never reached the server */
    cotter_call_free(held);
    cotter_call_free(queued);
    CHECK(emu_dev(&E, "DELETE", "/faults", NULL, NULL) == 200);
    cotter_client_free(c);
    tally_destroy(&t);
}

/* Mid-body: the body arrives one byte a minute; cancelling ends it at once and the next call still works. */
static void test_cancel_mid_body(void) {
    cotter_client *c = new_client(1); /* one connection: the next call proves it was not reused half-read */
    cotter_call *call = NULL;
    cotter_buf u = COTTER_BUF_INIT;
    tally t;
    cotter_call_options o;
    long base = emu_route_requests(&E, ROUTE_USER);
    tally_init(&t);
    o = opts_for(&t);
    CHECK(fault("{\"route\":\"GET /api/v0/user\",\"count\":1,\"slow_drip\":true,\"chunk_bytes\":1,\"interval_ms\":60000}"));
    CHECK(cotter_client_user_get_by_identifier_start(&call, c, "drip@example.com", &o, NULL) == COTTER_OK);
    CHECK(wait_for_requests(ROUTE_USER, base + 1));
    cotter_call_cancel(call);
    tally_wait(&t, 1);
    CHECK(t.canceled == 1);
    cotter_call_free(call);
    /* The connection was closed, not reused: a fresh request gets a clean answer. */
    CHECK(cotter_client_user_get_by_identifier(&u, c, "drip@example.com", NULL) == COTTER_ENOTFOUND);
    CHECK(emu_route_requests(&E, ROUTE_USER) == base + 2);
    cotter_client_free(c);
    tally_destroy(&t);
}

/* The client handle is freed with 100 calls in flight: they keep it alive and complete normally. */
static void test_free_client_with_calls_in_flight(void) {
    enum { N = 100 };
    cotter_client *c = new_client(0);
    cotter_call *calls[N];
    tally t;
    cotter_call_options o;
    int i;
    tally_init(&t);
    o = opts_for(&t);
    CHECK(fault("{\"route\":\"GET /api/v0/user\",\"count\":100,\"latency_ms\":100}"));
    for (i = 0; i < N; i++) CHECK(cotter_client_user_get_by_identifier_start(&calls[i], c, "x@example.com", &o, NULL) == COTTER_OK);
    cotter_client_free(c);
    tally_wait(&t, N);
    CHECK(t.other == N); /* ENOTFOUND: the server answered every one */
    for (i = 0; i < N; i++) cotter_call_free(calls[i]);
    tally_destroy(&t);
}

/* Fire-and-forget: the handle is freed inside the callback. */
static void free_in_callback(cotter_call *call, void *payload) {
    on_done(call, payload);
    cotter_call_free(call);
}

static void test_free_inside_callback(void) {
    cotter_client *c = new_client(0);
    cotter_call *call = NULL;
    tally t;
    cotter_call_options o;
    tally_init(&t);
    o = opts_for(&t);
    o.done = free_in_callback;
    CHECK(cotter_client_user_get_by_identifier_start(&call, c, "ff@example.com", &o, NULL) == COTTER_OK);
    tally_wait(&t, 1);
    CHECK(t.other == 1);
    {
        /* Completed at once (a still-valid access token): the callback frees the handle before _start returns. */
        char *json = emu_login(&E, "ff-inline@example.com");
        cotter_token *initial = NULL;
        cotter_session *s = NULL;
        CHECK(cotter_token_from_json(&initial, json, strlen(json), NULL) == COTTER_OK);
        CHECK(cotter_session_new(&s, c, NULL, initial, NULL) == COTTER_OK);
        CHECK(cotter_session_get_access_token_start(&call, s, &o, NULL) == COTTER_OK);
        tally_wait(&t, 2);
        CHECK(t.ok == 1);
        cotter_session_free(s);
        cotter_token_free(initial);
        free(json);
    }
    cotter_client_free(c);
    tally_destroy(&t);
}

/* A blocking call from the I/O thread is refused (it would wait for itself), not a deadlock. */
static cotter_client *G_client;
static void blocking_in_callback(cotter_call *call, void *payload) {
    tally *t = (tally *)payload;
    cotter_buf u = COTTER_BUF_INIT;
    cotter_error *err = NULL;
    const int rc = cotter_client_user_get_by_identifier(&u, G_client, "inner@example.com", &err);
    cotter_error_free(err);
    pthread_mutex_lock(&t->mu);
    if (rc == COTTER_EINVAL) t->on_io_thread_einval++;
    pthread_mutex_unlock(&t->mu);
    on_done(call, payload);
}

static void test_blocking_call_in_callback_is_refused(void) {
    cotter_call *call = NULL;
    tally t;
    cotter_call_options o;
    G_client = new_client(0);
    tally_init(&t);
    o = opts_for(&t);
    o.done = blocking_in_callback;
    CHECK(cotter_client_user_get_by_identifier_start(&call, G_client, "outer@example.com", &o, NULL) == COTTER_OK);
    tally_wait(&t, 1);
    CHECK(t.on_io_thread_einval == 1);
    cotter_call_free(call);
    cotter_client_free(G_client);
    tally_destroy(&t);
}

/* Takers: wrong type and a second take are EINVAL; bad options are EINVAL and create no call. */
static void test_taker_rules(void) {
    cotter_client *c = new_client(0);
    cotter_call *call = NULL;
    cotter_buf u = COTTER_BUF_INIT;
    cotter_token *tok = NULL;
    cotter_call_options bad;
    char *json = emu_login(&E, "taker@example.com");
    cotter_error *err = NULL;
    CHECK(cotter_call_options_init(&bad, COTTER_CALL_OPTIONS_VERSION) == COTTER_OK);
    bad.timeout_ms = -1;
    CHECK(cotter_client_user_create_start(&call, c, "bad@example.com", &bad, &err) == COTTER_EINVAL);
    CHECK(call == NULL);
    cotter_error_free(err);
    err = NULL;
    bad.timeout_ms = 0;
    bad.version = 99;
    CHECK(cotter_client_user_create_start(&call, c, "bad@example.com", &bad, NULL) == COTTER_EINVAL);
    CHECK(cotter_client_user_create_start(NULL, c, "bad@example.com", NULL, NULL) == COTTER_EINVAL);
    CHECK(cotter_client_user_create_start(&call, NULL, "bad@example.com", NULL, NULL) == COTTER_EINVAL);
    CHECK(cotter_call_options_init(NULL, COTTER_CALL_OPTIONS_VERSION) == COTTER_EINVAL);

    CHECK(cotter_client_user_create_start(&call, c, "taker@example.com", NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_take_token(&tok, call, &err) == COTTER_EINVAL); /* a user call has no token */
    CHECK(tok == NULL);
    cotter_error_free(err);
    CHECK(cotter_call_take_buf(&u, call, NULL) == COTTER_OK);
    CHECK(u.ptr != NULL && strstr(u.ptr, "\"ID\":\"") != NULL);
    cotter_buf_dispose(&u);
    CHECK(cotter_call_take_buf(&u, call, NULL) == COTTER_EINVAL); /* taken once */
    CHECK(cotter_call_wait(call, NULL) == COTTER_OK);
    cotter_call_free(call);
    cotter_call_free(NULL);
    cotter_call_cancel(NULL);
    CHECK(cotter_call_is_done(NULL) == 0);
    CHECK(cotter_call_wait(NULL, NULL) == COTTER_EINVAL);
    free(json);
    cotter_client_free(c);
}

/* Sessions: a fresh token completes inline; an expired one is refreshed once for 30 concurrent callers. */
typedef struct inline_probe {
    int ran;
} inline_probe;
static void mark_ran(cotter_call *call, void *payload) {
    (void)call;
    ((inline_probe *)payload)->ran = 1;
}

static int64_t G_now = 0;
static int64_t fixed_clock(void *payload) {
    (void)payload;
    return G_now;
}

static void test_session_async(void) {
    enum { N = 30 };
    cotter_client *c = new_client(0);
    cotter_session *s = NULL;
    cotter_session_options so;
    cotter_token *initial = NULL;
    char *json = emu_login(&E, "session-async@example.com");
    cotter_call *call = NULL, *calls[N];
    cotter_call_options o;
    inline_probe probe = {0};
    cotter_buf first = COTTER_BUF_INIT, again = COTTER_BUF_INIT;
    tally t;
    int i;
    long base;
    CHECK(json != NULL);
    CHECK(cotter_token_from_json(&initial, json, strlen(json), NULL) == COTTER_OK);
    CHECK(cotter_session_options_init(&so, COTTER_SESSION_OPTIONS_VERSION) == COTTER_OK);
    so.clock = fixed_clock;
    G_now = cotter_token_access_token_expires_at(initial) - 3600; /* fresh */
    CHECK(cotter_session_new(&s, c, &so, initial, NULL) == COTTER_OK);
    cotter_client_free(c); /* the session keeps it alive */

    CHECK(cotter_call_options_init(&o, COTTER_CALL_OPTIONS_VERSION) == COTTER_OK);
    o.done = mark_ran;
    o.done_payload = &probe;
    CHECK(cotter_session_get_access_token_start(&call, s, &o, NULL) == COTTER_OK);
    CHECK(probe.ran == 1); /* inline: the token was fresh */
    CHECK(cotter_call_is_done(call) == 1);
    CHECK(cotter_call_take_buf(&first, call, NULL) == COTTER_OK);
    CHECK(first.len > 0 && strcmp(first.ptr, cotter_token_access_token(initial)) == 0);
    cotter_call_free(call);

    /* Expired: 30 concurrent callers share one refresh, held by the server until all have queued. */
    G_now = cotter_token_access_token_expires_at(initial) + 10;
    base = emu_route_requests(&E, ROUTE_REFRESH);
    CHECK(fault("{\"route\":\"POST /api/v0/token/:api_key_id\",\"count\":1,\"latency_ms\":300}"));
    tally_init(&t);
    o = opts_for(&t);
    for (i = 0; i < N; i++) CHECK(cotter_session_get_access_token_start(&calls[i], s, &o, NULL) == COTTER_OK);
    tally_wait(&t, N);
    CHECK(t.ok == N);
    CHECK(emu_route_requests(&E, ROUTE_REFRESH) == base + 1);
    for (i = 0; i < N; i++) {
        cotter_buf b = COTTER_BUF_INIT;
        CHECK(cotter_call_take_buf(&b, calls[i], NULL) == COTTER_OK);
        CHECK(b.ptr && strcmp(b.ptr, first.ptr) != 0);
        if (i == 0) {
            CHECK(cotter_buf_alloc(&again, b.len) == COTTER_OK);
            memcpy(again.ptr, b.ptr, b.len);
        } else {
            CHECK(strcmp(b.ptr, again.ptr) == 0);
        }
        cotter_buf_dispose(&b);
        cotter_call_free(calls[i]);
    }

    /* A waiter that gives up does not undo the refresh it started: the session stores the new tokens. */
    G_now += 100000;
    base = emu_route_requests(&E, ROUTE_REFRESH);
    CHECK(fault("{\"route\":\"POST /api/v0/token/:api_key_id\",\"count\":1,\"latency_ms\":500}"));
    CHECK(cotter_session_refresh_start(&call, s, &o, NULL) == COTTER_OK);
    CHECK(wait_for_requests(ROUTE_REFRESH, base + 1));
    cotter_call_cancel(call);
    tally_wait(&t, N + 1);
    CHECK(t.canceled == 1);
    cotter_call_free(call);
    {
        /* The blocking form joins the refresh in flight (or finds its result): no second request. */
        cotter_token *now = NULL;
        CHECK(cotter_session_get_token(&now, s, NULL) == COTTER_OK);
        CHECK(now && strcmp(cotter_token_access_token(now), again.ptr) != 0);
        cotter_token_free(now);
        CHECK(emu_route_requests(&E, ROUTE_REFRESH) == base + 1);
    }
    /* set_token and logout through the asynchronous forms. */
    CHECK(cotter_session_set_token_start(&call, s, initial, NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_wait(call, NULL) == COTTER_OK);
    cotter_call_free(call);
    CHECK(cotter_session_logout_start(&call, s, NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_wait(call, NULL) == COTTER_OK);
    cotter_call_free(call);
    {
        cotter_buf none = COTTER_BUF_INIT;
        CHECK(cotter_session_get_access_token(&none, s, NULL) == COTTER_EREAUTH);
    }
    cotter_buf_dispose(&first);
    cotter_buf_dispose(&again);
    cotter_session_free(s);
    cotter_token_free(initial);
    free(json);
    tally_destroy(&t);
}

/* ---- When user callbacks may run (a binding releases their payloads after the last use) ------------------ */

typedef struct hook_counts {
    pthread_mutex_t mu;
    int saves;
    int changes;
} hook_counts;

static hook_counts H = {PTHREAD_MUTEX_INITIALIZER, 0, 0};

static int count_save(const char *json, size_t len, void *payload) {
    (void)json;
    (void)len;
    pthread_mutex_lock(&((hook_counts *)payload)->mu);
    ((hook_counts *)payload)->saves++;
    pthread_mutex_unlock(&((hook_counts *)payload)->mu);
    return 0;
}

static void count_change(const cotter_token *token, void *payload) {
    (void)token;
    pthread_mutex_lock(&((hook_counts *)payload)->mu);
    ((hook_counts *)payload)->changes++;
    pthread_mutex_unlock(&((hook_counts *)payload)->mu);
}

static int hook_calls(void) {
    int n;
    pthread_mutex_lock(&H.mu);
    n = H.saves + H.changes;
    pthread_mutex_unlock(&H.mu);
    return n;
}

static cotter_session *counted_session(cotter_client *c, const cotter_token *initial) {
    cotter_session_options so;
    cotter_session *s = NULL;
    CHECK(cotter_session_options_init(&so, COTTER_SESSION_OPTIONS_VERSION) == COTTER_OK);
    so.save = count_save;
    so.storage_payload = &H;
    so.on_tokens_changed = count_change;
    so.on_tokens_changed_payload = &H;
    CHECK(cotter_session_new(&s, c, &so, initial, NULL) == COTTER_OK);
    return s;
}

static void test_callbacks_end_with_the_last_use(void) {
    cotter_client *c = new_client(1); /* one connection: a later call queues behind the refresh */
    char *json = emu_login(&E, "hooks-end@example.com");
    cotter_token *initial = NULL;
    cotter_session *s;
    cotter_call *call = NULL;
    cotter_buf ul = COTTER_BUF_INIT;
    cotter_call_options o;
    tally t;
    int before;
    long base;
    CHECK(cotter_token_from_json(&initial, json, strlen(json), NULL) == COTTER_OK);
    tally_init(&t);
    o = opts_for(&t);

    /* A call in flight is a use: the handle freed first, the refresh still stores its tokens through the hooks. */
    s = counted_session(c, initial);
    before = hook_calls();
    CHECK(fault("{\"route\":\"POST /api/v0/token/:api_key_id\",\"count\":1,\"latency_ms\":300}"));
    CHECK(cotter_session_refresh_start(&call, s, &o, NULL) == COTTER_OK);
    cotter_session_free(s);
    tally_wait(&t, 1);
    CHECK(t.ok == 1);
    CHECK(hook_calls() == before + 2); /* tokens-changed, then save */
    cotter_call_free(call);

    /* The last use ended (caller gave up and freed its call, handle freed) while the refresh it started was on
     * the wire: the refresh completes without the callbacks, whose payload the binding may have released. */
    free(json);
    cotter_token_free(initial);
    json = emu_login(&E, "hooks-end@example.com");
    CHECK(cotter_token_from_json(&initial, json, strlen(json), NULL) == COTTER_OK);
    s = counted_session(c, initial);
    base = emu_route_requests(&E, ROUTE_REFRESH);
    CHECK(fault("{\"route\":\"POST /api/v0/token/:api_key_id\",\"count\":1,\"latency_ms\":1000}"));
    CHECK(cotter_session_refresh_start(&call, s, &o, NULL) == COTTER_OK);
    CHECK(wait_for_requests(ROUTE_REFRESH, base + 1));
    cotter_call_free(call); /* cancels: the waiter leaves, the refresh goes on */
    tally_wait(&t, 2);
    CHECK(t.canceled == 1);
    before = hook_calls();
    cotter_session_free(s); /* the last use: from here on, no callback of the session */
    /* Queued behind the refresh on the only connection: when it is answered, the refresh has been handled. */
    CHECK(cotter_client_user_list(&ul, c, 0, NULL) == COTTER_OK);
    CHECK(hook_calls() == before);
    cotter_buf_dispose(&ul);
    cotter_token_free(initial);
    free(json);
    cotter_client_free(c);
    tally_destroy(&t);
}

/* Storage hooks whose owner freed the session: they must never run again, although a refresh the session sent
 * still lands after cotter_session_free (the caller frees the hooks' payload once free returns). */
typedef struct hook_probe {
    int freed;          /* set once cotter_session_free returned */
    int calls;          /* hook calls */
    int after_free;     /* hook calls after free: must stay 0 */
} hook_probe;

static void probe_hit(hook_probe *h) {
    h->calls++;
    if (h->freed) h->after_free++;
}
static int probe_load(cotter_buf *out, void *payload) {
    (void)out;
    probe_hit((hook_probe *)payload);
    return 0;
}
static int probe_save(const char *json, size_t len, void *payload) {
    (void)json;
    (void)len;
    probe_hit((hook_probe *)payload);
    return 0;
}
static void probe_changed(const cotter_token *token, void *payload) {
    (void)token;
    probe_hit((hook_probe *)payload);
}

static void test_session_free_stops_hooks(void) {
    cotter_client *c = new_client(1); /* one connection: a later request is answered after the refresh landed */
    cotter_session *s = NULL;
    cotter_session_options so;
    cotter_token *initial = NULL;
    char *json = emu_login(&E, "session-free-hooks@example.com");
    cotter_call *call = NULL;
    cotter_buf u = COTTER_BUF_INIT;
    hook_probe h = {0, 0, 0};
    long base;
    CHECK(json != NULL);
    CHECK(cotter_token_from_json(&initial, json, strlen(json), NULL) == COTTER_OK);
    CHECK(cotter_session_options_init(&so, COTTER_SESSION_OPTIONS_VERSION) == COTTER_OK);
    so.load = probe_load;
    so.save = probe_save;
    so.storage_payload = &h;
    so.on_tokens_changed = probe_changed;
    so.on_tokens_changed_payload = &h;
    CHECK(cotter_session_new(&s, c, &so, initial, NULL) == COTTER_OK);
    CHECK(h.calls == 1); /* the initial store, on this thread */

    base = emu_route_requests(&E, ROUTE_REFRESH);
    CHECK(fault("{\"route\":\"POST /api/v0/token/:api_key_id\",\"count\":1,\"latency_ms\":500}"));
    CHECK(cotter_session_refresh_start(&call, s, NULL, NULL) == COTTER_OK);
    CHECK(wait_for_requests(ROUTE_REFRESH, base + 1));
    cotter_call_free(call); /* the waiter gives up; the refresh goes on */
    cotter_session_free(s);
    h.freed = 1;
    /* Queued behind the refresh on the one connection: by the time it is answered, the refresh was processed. */
    CHECK(cotter_client_user_get_by_identifier(&u, c, "session-free-hooks@example.com", NULL) == COTTER_OK);
    CHECK(emu_route_requests(&E, ROUTE_REFRESH) == base + 1);
    CHECK(h.after_free == 0);
    cotter_buf_dispose(&u);
    cotter_client_free(c);
    cotter_token_free(initial);
    free(json);
}

/* Holds the client's I/O thread inside a done callback (not a callback of the client or its sessions) until `go`. */
typedef struct io_hold {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t test_thread;
    int entered, go;
} io_hold;

static void hold_io(cotter_call *call, void *payload) {
    io_hold *h = (io_hold *)payload;
    (void)call;
    if (pthread_equal(pthread_self(), h->test_thread)) return; /* completed inline: no I/O thread to hold */
    pthread_mutex_lock(&h->mu);
    h->entered = 1;
    pthread_cond_broadcast(&h->cv);
    while (!h->go) pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

/* A call freed before it completed ends its use at the free (issue 17): the session's work queued on the I/O thread
 * before the call's cancelled completion runs after every free, and calls none of the session's hooks. (Before, the
 * call's use lasted until that completion: the queued refresh called the load hook after cotter_session_free.) */
static void test_freed_call_ends_its_use_at_the_free(void) {
    cotter_client *c = new_client(0);
    cotter_session *s = NULL;
    cotter_session_options so;
    cotter_token *initial = NULL;
    char *json = emu_login(&E, "freed-call-hooks@example.com");
    cotter_call *call = NULL, *held = NULL;
    cotter_call_options co;
    cotter_buf u = COTTER_BUF_INIT;
    hook_probe h = {0, 0, 0};
    static io_hold io; /* static: the holding callback must never outlive it, even if a check fails */
    CHECK(json != NULL);
    CHECK(cotter_token_from_json(&initial, json, strlen(json), NULL) == COTTER_OK);
    CHECK(cotter_session_options_init(&so, COTTER_SESSION_OPTIONS_VERSION) == COTTER_OK);
    so.load = probe_load;
    so.save = probe_save;
    so.storage_payload = &h;
    so.on_tokens_changed = probe_changed;
    so.on_tokens_changed_payload = &h;
    CHECK(cotter_session_new(&s, c, &so, initial, NULL) == COTTER_OK);
    CHECK(h.calls == 1); /* the initial store, on this thread */
    pthread_mutex_init(&io.mu, NULL);
    pthread_cond_init(&io.cv, NULL);
    io.test_thread = pthread_self();
    io.entered = io.go = 0;

    /* Another call of the client, cancelled at once: its done callback holds the I/O thread. */
    CHECK(cotter_call_options_init(&co, COTTER_CALL_OPTIONS_VERSION) == COTTER_OK);
    co.done = hold_io;
    co.done_payload = &io;
    CHECK(cotter_client_refresh_start(&held, c, "not-a-refresh-token", &co, NULL) == COTTER_OK);
    cotter_call_cancel(held);
    pthread_mutex_lock(&io.mu);
    while (!io.entered) pthread_cond_wait(&io.cv, &io.mu);
    pthread_mutex_unlock(&io.mu);

    /* The refresh is queued (its first step loads through the hook), then the call's cancelled completion. */
    CHECK(cotter_session_refresh_start(&call, s, NULL, NULL) == COTTER_OK);
    cotter_call_free(call);
    cotter_session_free(s); /* the last use: no hook of the session may run from here on */
    pthread_mutex_lock(&io.mu);
    h.freed = 1;
    io.go = 1;
    pthread_cond_broadcast(&io.cv);
    pthread_mutex_unlock(&io.mu);
    cotter_call_free(held);
    /* Answered after the queued refresh step has run (it ran before this request could be answered). */
    CHECK(cotter_client_user_get_by_identifier(&u, c, "freed-call-hooks@example.com", NULL) == COTTER_OK);
    CHECK(h.after_free == 0);
    CHECK(h.calls == 1);
    cotter_buf_dispose(&u);
    cotter_client_free(c);
    cotter_token_free(initial);
    free(json);
}

/* Every client call has an asynchronous form that works end to end (one call each, through the takers). */
static void test_every_start_function(void) {
    cotter_client *c = new_client(0);
    cotter_call *call = NULL;
    char *json = emu_login(&E, "every@example.com");
    cotter_token *tok = NULL, *refreshed = NULL;
    cotter_buf u = COTTER_BUF_INIT;
    cotter_buf ul = COTTER_BUF_INIT;
    cotter_buf sl = COTTER_BUF_INIT;
    cotter_buf ct = COTTER_BUF_INIT, reason = COTTER_BUF_INIT;
    int valid = -1;
    char path[256], uid[128];
    CHECK(cotter_token_from_json(&tok, json, strlen(json), NULL) == COTTER_OK);
    CHECK(cotter_client_refresh_start(&call, c, cotter_token_refresh_token(tok), NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_take_token(&refreshed, call, NULL) == COTTER_OK);
    cotter_call_free(call);
    CHECK(cotter_client_custom_claims_start(&call, c, cotter_token_access_token(refreshed), "{\"role\":\"admin\"}", NULL,
                                            NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_take_custom_claims(&ct, NULL, call, NULL) == COTTER_OK);
    CHECK(ct.len > 0);
    cotter_call_free(call);
    CHECK(cotter_client_verify_remote_start(&call, c, cotter_token_access_token(refreshed), NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_take_verify_remote(&valid, &reason, call, NULL) == COTTER_OK);
    CHECK(valid == 1);
    cotter_call_free(call);
    CHECK(cotter_client_user_create_start(&call, c, "every2@example.com", NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_take_buf(&u, call, NULL) == COTTER_OK);
    emu_json_string(u.ptr, "ID", uid, sizeof uid);
    cotter_call_free(call);
    CHECK(cotter_client_user_get_start(&call, c, uid, NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_wait(call, NULL) == COTTER_OK);
    cotter_call_free(call);
    CHECK(cotter_client_user_list_start(&call, c, 0, NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_take_buf(&ul, call, NULL) == COTTER_OK);
    CHECK(strncmp(ul.ptr, "{\"users\":[{", 11) == 0);
    cotter_call_free(call);
    snprintf(path, sizeof path, "{\"user_id\":\"%s\",\"identity_provider\":\"GITHUB\"}", uid);
    {
        const int st = emu_dev(&E, "POST", "/social_tokens", path, NULL);
        CHECK(st >= 200 && st < 300);
    }
    CHECK(cotter_client_social_tokens_list_start(&call, c, uid, NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_take_buf(&sl, call, NULL) == COTTER_OK);
    CHECK(strstr(sl.ptr, "\"identity_provider\":\"GITHUB\"") != NULL && strstr(sl.ptr, "},{") == NULL);
    cotter_call_free(call);
    CHECK(cotter_client_social_token_get_start(&call, c, "GITHUB", uid, NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_wait(call, NULL) == COTTER_OK);
    cotter_call_free(call);
    CHECK(cotter_client_social_token_delete_start(&call, c, "GITHUB", uid, NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_wait(call, NULL) == COTTER_OK);
    cotter_call_free(call);
    CHECK(cotter_client_logout_start(&call, c, cotter_token_refresh_token(refreshed), NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_wait(call, NULL) == COTTER_OK);
    cotter_call_free(call);
    {
        /* A remote verifier's refresh. */
        cotter_jwt_verifier_options vo;
        cotter_jwt_verifier *v = NULL;
        char jwks[300];
        snprintf(jwks, sizeof jwks, "%s/token/jwks", E.base_url);
        CHECK(cotter_jwt_verifier_options_init(&vo, COTTER_JWT_VERIFIER_OPTIONS_VERSION) == COTTER_OK);
        vo.audience = E.api_key_id;
        vo.jwks_url = jwks;
        CHECK(cotter_jwt_verifier_new(&v, &vo, NULL) == COTTER_OK);
        CHECK(cotter_jwt_verifier_refresh_start(&call, v, NULL, NULL) == COTTER_OK);
        cotter_jwt_verifier_free(v); /* the call keeps it alive */
        CHECK(cotter_call_wait(call, NULL) == COTTER_OK);
        cotter_call_free(call);
    }
    cotter_buf_dispose(&sl);
    cotter_buf_dispose(&ul);
    cotter_buf_dispose(&u);
    cotter_buf_dispose(&ct);
    cotter_buf_dispose(&reason);
    cotter_token_free(tok);
    cotter_token_free(refreshed);
    free(json);
    cotter_client_free(c);
}

#define ROUTE_JWKS "GET /api/v0/token/jwks"

static cotter_jwt_verifier *remote_verifier(void) {
    cotter_jwt_verifier_options vo;
    cotter_jwt_verifier *v = NULL;
    char jwks[300];
    snprintf(jwks, sizeof jwks, "%s/token/jwks", E.base_url);
    CHECK(cotter_jwt_verifier_options_init(&vo, COTTER_JWT_VERIFIER_OPTIONS_VERSION) == COTTER_OK);
    vo.audience = E.api_key_id;
    vo.jwks_url = jwks;
    vo.jwks_timeout_ms = 60000; /* longer than the server's hold: only the calls themselves can end early */
    CHECK(cotter_jwt_verifier_new(&v, &vo, NULL) == COTTER_OK);
    return v;
}

/* Concurrent key-set refreshes share one fetch, but each call's cancellation and timeout are its own: cancelling the
 * call that started the fetch leaves the others waiting; cancelling one that joined it ends that one at once; a
 * timeout_ms ends only its call; the fetch stops when the last waiter leaves, and a later refresh fetches again. */
static void test_verifier_refresh_waiters_are_independent(void) {
    cotter_jwt_verifier *v = remote_verifier();
    cotter_call *first = NULL, *second = NULL, *third = NULL, *timed = NULL;
    tally t;
    cotter_call_options o, short_budget;
    long base = emu_route_requests(&E, ROUTE_JWKS);
    tally_init(&t);
    o = opts_for(&t);
    short_budget = opts_for(&t);
    short_budget.timeout_ms = 200;
    CHECK(fault("{\"route\":\"GET /api/v0/token/jwks\",\"count\":1,\"latency_ms\":30000}"));
    CHECK(cotter_jwt_verifier_refresh_start(&first, v, &o, NULL) == COTTER_OK);
    CHECK(wait_for_requests(ROUTE_JWKS, base + 1));
    CHECK(cotter_jwt_verifier_refresh_start(&second, v, &o, NULL) == COTTER_OK);
    CHECK(cotter_jwt_verifier_refresh_start(&third, v, &o, NULL) == COTTER_OK);
    CHECK(cotter_jwt_verifier_refresh_start(&timed, v, &short_budget, NULL) == COTTER_OK);
    tally_wait(&t, 1); /* the 200 ms budget, the server holds 30 s */
    CHECK(t.timeout == 1 && cotter_call_is_done(timed) == 1);
    cotter_call_cancel(first); /* started the fetch: only its own wait ends */
    tally_wait(&t, 2);
    CHECK(t.canceled == 1);
    CHECK(cotter_call_is_done(second) == 0 && cotter_call_is_done(third) == 0);
    cotter_call_cancel(third); /* joined it: ends at once too */
    tally_wait(&t, 3);
    CHECK(t.canceled == 2 && cotter_call_is_done(second) == 0);
    cotter_call_free(second); /* the last waiter: the fetch stops */
    tally_wait(&t, 4);
    CHECK(t.canceled == 3 && t.other == 0 && t.ok == 0);
    CHECK(emu_route_requests(&E, ROUTE_JWKS) == base + 1);
    cotter_call_free(first);
    cotter_call_free(third);
    cotter_call_free(timed);
    /* Nothing was recorded for the abandoned fetch (no cooldown): the next refresh fetches, and succeeds. */
    CHECK(cotter_jwt_verifier_refresh_start(&first, v, NULL, NULL) == COTTER_OK);
    CHECK(cotter_call_wait(first, NULL) == COTTER_OK);
    cotter_call_free(first);
    CHECK(emu_route_requests(&E, ROUTE_JWKS) == base + 2);
    cotter_jwt_verifier_free(v);
    tally_destroy(&t);
}

int main(void) {
    if (emu_start(&E, NULL) != 0) {
        fprintf(stderr, "cannot start the emulator\n");
        return 1;
    }
    test_taker_rules();
    test_every_start_function();
    test_many_in_flight_then_cancel();
    test_connection_cap();
    test_deadline_and_free_cancels();
    test_cancel_queued();
    test_cancel_mid_body();
    test_free_client_with_calls_in_flight();
    test_free_inside_callback();
    test_blocking_call_in_callback_is_refused();
    test_session_async();
    test_callbacks_end_with_the_last_use();
    test_verifier_refresh_waiters_are_independent();
    test_session_free_stops_hooks();
    test_freed_call_ends_its_use_at_the_free();
    emu_stop(&E);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_async: all checks passed\n");
    return 0;
}
