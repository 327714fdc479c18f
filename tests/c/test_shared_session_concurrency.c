/**
 * @file test_shared_session_concurrency.c
 * @brief C99 + pthreads over the C ABI: sessions shared by a fleet through a real redis-server (started here, in its
 * own temp dir, on a free port and a Unix socket, killed at the end) against the emulator (docs/shared-sessions.md).
 *  (a) 3 worker processes (this program re-executed) x 4 threads share 20 sessions whose access tokens expire (dev
 *      clock): each round, exactly one refresh grant per session, no family revoked; a round on valid tokens costs
 *      0 Redis commands.
 *  (b) a lease holder SIGKILLed mid-refresh (its request held by the emulator): another replica takes over after the
 *      lease TTL; the session is not lost.
 *  (c) DEBUG SLEEP longer than the lease TTL while a refresh's save is in flight: another replica takes the expired
 *      lease and refreshes (within the server's reuse grace window); the late save is fenced; one lineage remains.
 *  (d) Redis restarted without its data: a valid cached token is served; the refresh fails with COTTER_EREAUTH;
 *      a new login (set_token) recovers the fleet.
 *  (e) Redis down: a valid cached token is served; a needed refresh is COTTER_ESHARED_UNAVAILABLE, nothing sent.
 *  (f) waiters woken by the holder's `...:changed` message (the hiredis adapter's wait): each loser runs exactly 2
 *      scripts (busy, then fresh); a version-1 adapter struct is accepted and its waiters poll; a wait that times
 *      out reads again; sessions and stores freed with a wait pending end cleanly once it completes, and no callback
 *      of the freed client runs after the frees (also for a wake-up queued on the I/O thread before them); a killed
 *      subscriber connection fails its waits, and the next wait subscribes on a new one.
 * Time is driven by the emulator's dev clock (and the sessions' clock follows it), never by sleeps. Runs under TSan
 * (label "concurrency").
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cotter.h"
#include "emulator.h"

#define SESSIONS 20
#define WORKERS 3
#define THREADS 4
#define ROUNDS 3
#define REFRESH_ROUTE "POST /api/v0/token/:api_key_id"

static int failures = 0;
#define CHECK(cond, ...)                                                                            \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                    \
            fprintf(stderr, __VA_ARGS__);                                                           \
            fprintf(stderr, "\n");                                                                  \
            failures++;                                                                             \
        }                                                                                           \
    } while (0)

/* ---- The sessions' clock follows the emulator's dev clock: real time plus the offset the test advanced ---------- */

static int64_t clock_offset = 0;
static int64_t dev_clock(void *payload) {
    (void)payload;
    return (int64_t)time(NULL) + __atomic_load_n(&clock_offset, __ATOMIC_SEQ_CST);
}

/* ---- Redis, started by the test --------------------------------------------------------------------------------- */

typedef struct redis_proc {
    pid_t pid;
    int port;
    char dir[256], sock[300];
} redis_proc;

static int free_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static redisContext *redis_admin(const redis_proc *r) {
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectUnixWithTimeout(r->sock, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Starts redis-server (no persistence, DEBUG allowed) on r->port and r->sock; waits until it answers PING. */
static int redis_start(redis_proc *r) {
    char port[16], log[320];
    int i;
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    r->pid = fork();
    if (r->pid < 0) return -1;
    if (r->pid == 0) {
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--unixsocket", r->sock,
               "--unixsocketperm", "700", "--dir", r->dir, "--save", "", "--appendonly", "no", "--logfile", log,
               "--enable-debug-command", "yes", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 400; i++) { /* up to 20 s on a loaded machine */
        redisContext *c = redis_admin(r);
        if (c) {
            redisReply *p = redisCommand(c, "PING");
            const int ok = p && p->type == REDIS_REPLY_STATUS;
            if (p) freeReplyObject(p);
            redisFree(c);
            if (ok) return 0;
        }
        {
            struct timespec ts = {0, 50000000L};
            nanosleep(&ts, NULL);
        }
    }
    return -1;
}

/* SIGKILL: no clean shutdown, so the Unix socket file stays (connections to it are refused) and nothing is saved. */
static void redis_kill(redis_proc *r) {
    int status;
    if (r->pid <= 0) return;
    kill(r->pid, SIGKILL);
    waitpid(r->pid, &status, 0);
    r->pid = 0;
}

static long long redis_int(redisContext *c, const char *cmd, const char *arg) {
    redisReply *p = redisCommand(c, cmd, arg);
    long long v = -1;
    if (p && p->type == REDIS_REPLY_INTEGER) v = p->integer;
    else if (p && p->type == REDIS_REPLY_STRING) v = strtoll(p->str, NULL, 10);
    if (p) freeReplyObject(p);
    return v;
}

/* Script calls (EVALSHA + EVAL) since the last CONFIG RESETSTAT. */
static long redis_script_calls(redisContext *c) {
    redisReply *p = redisCommand(c, "INFO commandstats");
    long n = 0;
    const char *names[] = {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="};
    int i;
    if (!p || p->type != REDIS_REPLY_STRING) {
        if (p) freeReplyObject(p);
        return -1;
    }
    for (i = 0; i < 2; i++) {
        const char *at = strstr(p->str, names[i]);
        if (at) n += strtol(at + strlen(names[i]), NULL, 10);
    }
    freeReplyObject(p);
    return n;
}

/* ---- Emulator helpers ------------------------------------------------------------------------------------------- */

static long handled_refreshes(emu *e, long *revoked, long *grace) {
    char *body = NULL, *handled;
    long n = -1;
    if (emu_dev(e, "GET", "/stats", NULL, &body) != 200 || !body) {
        free(body);
        return -1;
    }
    handled = emu_json_member(body, "handled");
    if (handled) {
        const char *p = strstr(handled, "\"" REFRESH_ROUTE "\":");
        n = p ? strtol(p + strlen("\"" REFRESH_ROUTE "\":"), NULL, 10) : 0;
    }
    if (revoked) *revoked = emu_json_int(body, "refresh_families_revoked");
    if (grace) *grace = emu_json_int(body, "refresh_grace_reuses");
    free(handled);
    free(body);
    return n;
}

/* Moves the emulator's dev clock and the sessions' clock together. */
static int advance(emu *e, int64_t seconds) {
    char body[64];
    snprintf(body, sizeof body, "{\"advance_seconds\":%lld}", (long long)seconds);
    if (emu_dev(e, "POST", "/clock", body, NULL) != 200) return -1;
    __atomic_add_fetch(&clock_offset, seconds, __ATOMIC_SEQ_CST);
    return 0;
}

/* ---- Fleet objects ---------------------------------------------------------------------------------------------- */

static cotter_client *new_client(const char *base_url, const char *key) {
    cotter_client_options o = COTTER_CLIENT_OPTIONS_INIT;
    cotter_client *c = NULL;
    o.api_key_id = key;
    o.base_url = base_url;
    return cotter_client_new(&c, &o, NULL) == COTTER_OK ? c : NULL;
}

/* A hiredis store over the Unix socket (port 0) or TCP; `wait_ms` bounds each wait of a replica that found the lease
 * held (0 = the default). */
static cotter_shared_store *new_store_waiting(const char *sock, int port, int64_t lease_ms, int64_t wait_ms) {
    cotter_hiredis_options ro = COTTER_HIREDIS_OPTIONS_INIT;
    cotter_shared_store_options so = COTTER_SHARED_STORE_OPTIONS_INIT;
    cotter_shared_store *st = NULL;
    cotter_error *err = NULL;
    if (port > 0) ro.port = port;
    else ro.unix_socket = sock;
    ro.command_timeout_ms = 10000; /* DEBUG SLEEP in (c) must not look like an outage */
    so.lease_ttl_ms = lease_ms;
    if (wait_ms > 0) so.wait_ms = wait_ms;
    if (cotter_shared_store_new_hiredis(&st, &ro, &so, &err) != COTTER_OK) {
        fprintf(stderr, "store: %s\n", err ? cotter_error_message(err) : "?");
        cotter_error_free(err);
        return NULL;
    }
    return st;
}

static cotter_shared_store *new_store(const char *sock, int port, int64_t lease_ms) {
    return new_store_waiting(sock, port, lease_ms, 0);
}

static cotter_session *new_session(cotter_client *c, cotter_shared_store *st, const char *id, const cotter_token *t,
                                   int *rc_out) {
    cotter_session_options o;
    cotter_session *s = NULL;
    cotter_error *err = NULL;
    int rc;
    if (cotter_session_options_init(&o, COTTER_SESSION_OPTIONS_VERSION) != COTTER_OK) return NULL;
    o.shared_store = st;
    o.shared_session_id = id;
    o.clock = dev_clock;
    rc = cotter_session_new(&s, c, &o, t, &err);
    if (rc != COTTER_OK) fprintf(stderr, "session %s: %s\n", id, err ? cotter_error_message(err) : "?");
    cotter_error_free(err);
    if (rc_out) *rc_out = rc;
    return s;
}

static int get_token(cotter_session *s, char *out, size_t cap, char *message, size_t mcap) {
    cotter_buf at = COTTER_BUF_INIT;
    cotter_error *err = NULL;
    const int rc = cotter_session_get_access_token(&at, s, &err);
    if (out) out[0] = '\0';
    if (message) snprintf(message, mcap, "%s", err ? cotter_error_message(err) : "");
    if (rc == COTTER_OK && out && at.len < cap) memcpy(out, at.ptr, at.len + 1);
    cotter_buf_dispose(&at);
    cotter_error_free(err);
    return rc;
}

static cotter_token *login(emu *e, const char *identifier) {
    char *json = emu_login(e, identifier);
    cotter_token *t = NULL;
    if (json && cotter_token_from_json(&t, json, strlen(json), NULL) != COTTER_OK) t = NULL;
    free(json);
    return t;
}

/* ---- Worker process (this program, re-executed): THREADS threads over SESSIONS sessions, one round per line ---- */

static cotter_session *w_sessions[SESSIONS];
static int w_failures;
static pthread_mutex_t w_mutex = PTHREAD_MUTEX_INITIALIZER;

static void *w_thread(void *arg) {
    const int t = (int)(size_t)arg;
    int i, bad = 0;
    for (i = 0; i < SESSIONS; i++) {
        char message[512];
        const int k = (i + t * 7) % SESSIONS; /* threads start on different sessions */
        const int rc = get_token(w_sessions[k], NULL, 0, message, sizeof message);
        if (rc != COTTER_OK) {
            fprintf(stderr, "worker %d: session %d: %s %s\n", (int)getpid(), k, cotter_status_name(rc), message);
            bad++;
        }
    }
    pthread_mutex_lock(&w_mutex);
    w_failures += bad;
    pthread_mutex_unlock(&w_mutex);
    return NULL;
}

static int worker_main(void) {
    const char *base = getenv("T_BASE_URL"), *key = getenv("T_KEY"), *sock = getenv("T_SOCK");
    const int port = atoi(getenv("T_PORT") ? getenv("T_PORT") : "0");
    cotter_client *c = new_client(base, key);
    cotter_shared_store *st = new_store(sock, port, 10000);
    char line[128];
    int i;
    if (!c || !st) return 2;
    for (i = 0; i < SESSIONS; i++) {
        char id[32];
        snprintf(id, sizeof id, "fleet-%d", i);
        w_sessions[i] = new_session(c, st, id, NULL, NULL);
        if (!w_sessions[i]) return 2;
    }
    cotter_shared_store_free(st); /* the sessions keep it */
    while (fgets(line, sizeof line, stdin)) {
        long long offset;
        pthread_t th[THREADS];
        if (sscanf(line, "round %lld", &offset) != 1) break;
        __atomic_store_n(&clock_offset, (int64_t)offset, __ATOMIC_SEQ_CST);
        w_failures = 0;
        for (i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, w_thread, (void *)(size_t)i);
        for (i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
        printf("done %d\n", w_failures);
        fflush(stdout);
    }
    for (i = 0; i < SESSIONS; i++) cotter_session_free(w_sessions[i]);
    cotter_client_free(c);
    return 0;
}

/* (b)'s lease holder: one refresh of `id`, which the emulator holds until this process is killed. */
static int holder_main(const char *id, const char *offset) {
    cotter_client *c = new_client(getenv("T_BASE_URL"), getenv("T_KEY"));
    cotter_shared_store *st = new_store(getenv("T_SOCK"), 0, 5000);
    cotter_session *s;
    char message[512];
    if (!c || !st) return 2;
    __atomic_store_n(&clock_offset, (int64_t)strtoll(offset, NULL, 10), __ATOMIC_SEQ_CST);
    s = new_session(c, st, id, NULL, NULL);
    if (!s) return 2;
    get_token(s, NULL, 0, message, sizeof message); /* never returns before the SIGKILL (the budget is 3.75 s) */
    return 3;
}

typedef struct child {
    pid_t pid;
    FILE *to, *from;
} child;

static int spawn(child *ch, const char *mode, const char *a1, const char *a2) {
    int in[2], out[2];
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || pipe(in) != 0 || pipe(out) != 0) return -1;
    self[n] = '\0';
    ch->pid = fork();
    if (ch->pid < 0) return -1;
    if (ch->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execl(self, self, mode, a1, a2, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    /* Our ends must not leak into later children: a worker sees EOF on its stdin only once every copy is closed. */
    fcntl(in[1], F_SETFD, FD_CLOEXEC);
    fcntl(out[0], F_SETFD, FD_CLOEXEC);
    ch->to = fdopen(in[1], "w");
    ch->from = fdopen(out[0], "r");
    return ch->to && ch->from ? 0 : -1;
}

static int child_end(child *ch) {
    int status = 0;
    if (ch->to) {
        fputs("quit\n", ch->to);
        fclose(ch->to);
    }
    if (ch->from) fclose(ch->from);
    ch->to = ch->from = NULL;
    if (ch->pid > 0) waitpid(ch->pid, &status, 0);
    ch->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- (c): an adapter of the test's own over hiredis, synchronous (completes inline), that can hold back a save - */

typedef struct gate {
    pthread_mutex_t m;
    pthread_cond_t cv;
    redisContext *c;
    int hold_save, held;
    long evals; /* every eval it was asked for */
    char *script, *sha1, **argv;
    size_t nkeys, nargs;
    cotter_shared_store_done_fn done;
    void *done_ctx;
    /* (f) a wait held until the test completes it (gate_wait), and the adapter's release */
    int waiting, released;
    cotter_shared_store_wait_done_fn wait_done;
    void *wait_ctx;
} gate;

static void gate_run(redisContext *c, const char *script, const char *sha1, char **kv, size_t nkeys, size_t nargs,
                     cotter_shared_store_done_fn done, void *done_ctx) {
    const char **argv = calloc(3 + nkeys + nargs, sizeof *argv);
    char n[16];
    redisReply *r;
    size_t i;
    snprintf(n, sizeof n, "%lu", (unsigned long)nkeys);
    argv[0] = "EVALSHA";
    argv[1] = sha1;
    argv[2] = n;
    for (i = 0; i < nkeys + nargs; i++) argv[3 + i] = kv[i];
    r = redisCommandArgv(c, (int)(3 + nkeys + nargs), argv, NULL);
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        argv[0] = "EVAL";
        argv[1] = script;
        r = redisCommandArgv(c, (int)(3 + nkeys + nargs), argv, NULL);
    }
    free(argv);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        done(done_ctx, COTTER_ESHARED_UNAVAILABLE, NULL, NULL, 0, r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
    } else {
        const char **items = calloc(r->elements + 1, sizeof *items);
        size_t *lens = calloc(r->elements + 1, sizeof *lens);
        for (i = 0; i < r->elements; i++) {
            items[i] = r->element[i]->str ? r->element[i]->str : "";
            lens[i] = r->element[i]->str ? r->element[i]->len : 0;
        }
        done(done_ctx, COTTER_OK, items, lens, r->elements, NULL);
        free(items);
        free(lens);
    }
    if (r) freeReplyObject(r);
}

static int gate_eval(void *payload, const char *script, const char *sha1, const char **keys, size_t key_count,
                     const char **args, size_t arg_count, cotter_shared_store_done_fn done, void *done_ctx) {
    gate *g = payload;
    size_t i;
    char **kv = calloc(key_count + arg_count + 1, sizeof *kv);
    for (i = 0; i < key_count; i++) kv[i] = strdup(keys[i]);
    for (i = 0; i < arg_count; i++) kv[key_count + i] = strdup(args[i]);
    pthread_mutex_lock(&g->m);
    g->evals++;
    if (g->hold_save && strstr(script, "'fenced'")) { /* the save script: keep it until the test lets it go */
        g->hold_save = 0;
        g->held = 1;
        g->script = strdup(script);
        g->sha1 = strdup(sha1);
        g->argv = kv;
        g->nkeys = key_count;
        g->nargs = arg_count;
        g->done = done;
        g->done_ctx = done_ctx;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->m);
        return 0;
    }
    gate_run(g->c, script, sha1, kv, key_count, arg_count, done, done_ctx);
    pthread_mutex_unlock(&g->m);
    for (i = 0; i < key_count + arg_count; i++) free(kv[i]);
    free(kv);
    return 0;
}

static void gate_release_held(gate *g) {
    size_t i, nkeys, nargs;
    pthread_mutex_lock(&g->m);
    nkeys = g->nkeys;
    nargs = g->nargs;
    gate_run(g->c, g->script, g->sha1, g->argv, nkeys, nargs, g->done, g->done_ctx);
    for (i = 0; i < nkeys + nargs; i++) free(g->argv[i]);
    free(g->argv);
    free(g->script);
    free(g->sha1);
    g->held = 0;
    pthread_mutex_unlock(&g->m);
}

typedef struct async_result {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int done;
} async_result;

static void on_call_done(cotter_call *call, void *payload) {
    async_result *r = payload;
    (void)call;
    pthread_mutex_lock(&r->m);
    r->done = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->m);
}

/* ---- The scenarios ---------------------------------------------------------------------------------------------- */

static void scenario_fleet(emu *e, redis_proc *r) {
    child w[WORKERS];
    redisContext *admin = redis_admin(r);
    long before, after, calls;
    long revoked = -1;
    int round, i;
    char offset[32];
    CHECK(admin != NULL, "admin connection");
    if (!admin) return;
    for (i = 0; i < WORKERS; i++) {
        char port[16];
        snprintf(port, sizeof port, "%d", i == WORKERS - 1 ? 0 : r->port); /* two over TCP, one over the socket */
        setenv("T_PORT", port, 1);
        CHECK(spawn(&w[i], "worker", "", "") == 0, "spawn worker %d", i);
    }
    /* rounds 0..ROUNDS-1 refresh every session (the clock moved past exp); the last round is cached */
    for (round = 0; round <= ROUNDS; round++) {
        const int cached = round == ROUNDS;
        if (!cached) CHECK(advance(e, 3600) == 0, "advance the dev clock");
        freeReplyObject(redisCommand(admin, "CONFIG RESETSTAT"));
        before = handled_refreshes(e, NULL, NULL);
        snprintf(offset, sizeof offset, "%lld", (long long)__atomic_load_n(&clock_offset, __ATOMIC_SEQ_CST));
        for (i = 0; i < WORKERS; i++) {
            fprintf(w[i].to, "round %s\n", offset);
            fflush(w[i].to);
        }
        for (i = 0; i < WORKERS; i++) {
            char line[64];
            int bad = -1;
            if (!fgets(line, sizeof line, w[i].from) || sscanf(line, "done %d", &bad) != 1) bad = -1;
            CHECK(bad == 0, "round %d: worker %d reported %d failed calls", round, i, bad);
        }
        after = handled_refreshes(e, &revoked, NULL);
        calls = redis_script_calls(admin);
        CHECK(after - before == (cached ? 0 : SESSIONS), "round %d: %ld refresh grants for %d sessions", round,
              after - before, SESSIONS);
        CHECK(revoked == 0, "round %d: %ld refresh families revoked", round, revoked);
        if (cached) CHECK(calls == 0, "a round on valid tokens ran %ld Redis scripts (want 0)", calls);
        else printf("round %d: %d sessions x %d processes x %d threads: %ld grants, %ld Redis scripts\n", round,
                    SESSIONS, WORKERS, THREADS, after - before, calls);
    }
    for (i = 0; i < WORKERS; i++) CHECK(child_end(&w[i]) == 0, "worker %d exit", i);
    redisFree(admin);
}

/* One replica alone: a refresh is 2 Redis round trips (acquire, save), a fresh token 0. */
static void scenario_round_trips(emu *e, redis_proc *r, cotter_client *c, cotter_shared_store *st) {
    redisContext *admin = redis_admin(r);
    cotter_session *s = new_session(c, st, "fleet-1", NULL, NULL);
    char token[4096], message[512];
    long h0, h1, calls;
    int rc;
    CHECK(admin && s, "setup");
    if (!admin || !s) return;
    CHECK(advance(e, 3600) == 0, "advance");
    freeReplyObject(redisCommand(admin, "CONFIG RESETSTAT"));
    h0 = handled_refreshes(e, NULL, NULL);
    rc = get_token(s, token, sizeof token, message, sizeof message);
    h1 = handled_refreshes(e, NULL, NULL);
    calls = redis_script_calls(admin);
    CHECK(rc == COTTER_OK && h1 - h0 == 1, "refresh: %s, %ld grants", cotter_status_name(rc), h1 - h0);
    CHECK(calls == 2, "an uncontended refresh ran %ld Redis scripts (want 2: acquire, save)", calls);
    rc = get_token(s, token, sizeof token, message, sizeof message);
    CHECK(rc == COTTER_OK && redis_script_calls(admin) == 2, "a fresh token costs no round trip");
    cotter_session_free(s);
    redisFree(admin);
}

static void scenario_killed_holder(emu *e, redis_proc *r, cotter_client *c) {
    const char *id = "fleet-0";
    child h;
    cotter_shared_store *st = new_store(r->sock, 0, 10000);
    cotter_session *s;
    redisContext *admin = redis_admin(r);
    long arrived0, handled0, handled1, revoked = -1;
    int i, rc;
    char offset[32], token[4096], message[512], lease_key[64];
    CHECK(st && admin, "store and admin connection");
    if (!st || !admin) return;
    s = new_session(c, st, id, NULL, NULL);
    CHECK(s != NULL, "session");
    CHECK(advance(e, 3600) == 0, "advance");
    /* The holder's refresh is held by the emulator for 30 s, far beyond its budget (3/4 of its 5 s lease). */
    CHECK(emu_dev(e, "POST", "/faults", "{\"route\":\"" REFRESH_ROUTE "\",\"latency_ms\":30000}", NULL) == 200,
          "fault");
    arrived0 = emu_route_requests(e, REFRESH_ROUTE);
    handled0 = handled_refreshes(e, NULL, NULL);
    snprintf(offset, sizeof offset, "%lld", (long long)__atomic_load_n(&clock_offset, __ATOMIC_SEQ_CST));
    CHECK(spawn(&h, "holder", id, offset) == 0, "spawn holder");
    for (i = 0; i < 2000 && emu_route_requests(e, REFRESH_ROUTE) == arrived0; i++) {
        struct timespec ts = {0, 5000000L};
        nanosleep(&ts, NULL);
    }
    snprintf(lease_key, sizeof lease_key, "cotter:{%s}:lease", id);
    CHECK(emu_route_requests(e, REFRESH_ROUTE) == arrived0 + 1, "the holder's refresh reached the emulator");
    CHECK(redis_int(admin, "EXISTS %s", lease_key) == 1, "the holder has the lease while its refresh is held");
    kill(h.pid, SIGKILL);
    child_end(&h);
    /* Another replica: finds the lease held by a dead process, waits it out (bounded waits, re-reads), refreshes. */
    rc = get_token(s, token, sizeof token, message, sizeof message);
    handled1 = handled_refreshes(e, &revoked, NULL);
    CHECK(rc == COTTER_OK, "after the holder died: %s %s", cotter_status_name(rc), message);
    CHECK(handled1 - handled0 == 1, "%ld refreshes handled (the killed one was never handled)", handled1 - handled0);
    CHECK(revoked == 0, "%ld families revoked", revoked);
    cotter_session_free(s);
    cotter_shared_store_free(st);
    redisFree(admin);
}

static void scenario_fencing(emu *e, redis_proc *r, cotter_client *ca, cotter_client *cb) {
    const char *id = "fenced";
    gate g;
    cotter_shared_store_adapter ad;
    cotter_shared_store_options so = COTTER_SHARED_STORE_OPTIONS_INIT;
    cotter_shared_store *sta = NULL, *stb = new_store(r->sock, 0, 10000);
    cotter_session *a, *b;
    cotter_token *t = login(e, "fenced@example.com");
    cotter_call *call = NULL;
    cotter_call_options co = COTTER_CALL_OPTIONS_INIT;
    async_result ar;
    cotter_buf at = COTTER_BUF_INIT;
    redisContext *admin = redis_admin(r);
    long handled0, handled1, revoked = -1, grace0 = -1, grace1 = -1;
    char tb[4096], ta[4096], message[512];
    int rc, held, i;
    redisReply *p;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.m, NULL);
    pthread_cond_init(&g.cv, NULL);
    pthread_mutex_init(&ar.m, NULL);
    pthread_cond_init(&ar.cv, NULL);
    ar.done = 0;
    g.c = redis_admin(r);
    CHECK(t && stb && admin && g.c, "setup");
    if (!t || !stb || !admin || !g.c) return;
    CHECK(emu_dev(e, "POST", "/settings", "{\"refresh_reuse_grace\":600}", NULL) == 200, "grace window");
    CHECK(cotter_shared_store_adapter_init(&ad, COTTER_SHARED_STORE_ADAPTER_VERSION) == COTTER_OK, "adapter init");
    ad.eval = gate_eval;
    ad.payload = &g;
    so.lease_ttl_ms = 3000; /* A's refresh gets 2.25 s of it: ample even under valgrind (scripts/test-hardening.sh) */
    CHECK(cotter_shared_store_new(&sta, &ad, &so, NULL) == COTTER_OK, "store over the test's adapter");
    a = new_session(ca, sta, id, t, NULL); /* stores the login: version 1 */
    b = new_session(cb, stb, id, NULL, NULL);
    CHECK(a && b, "sessions");
    if (!a || !b) return;
    CHECK(advance(e, 3600) == 0, "advance");
    handled0 = handled_refreshes(e, NULL, &grace0);
    /* A refreshes; its save is held back by its adapter (as a stalled network or process would hold it). */
    pthread_mutex_lock(&g.m);
    g.hold_save = 1;
    pthread_mutex_unlock(&g.m);
    co.done = on_call_done;
    co.done_payload = &ar;
    CHECK(cotter_session_get_access_token_start(&call, a, &co, NULL) == COTTER_OK, "A starts");
    for (held = 0, i = 0; !held && i < 6000; i++) { /* A's save is held, or A's call ended without one (a failure) */
        struct timespec ts = {0, 10000000L};
        pthread_mutex_lock(&g.m);
        held = g.held;
        pthread_mutex_unlock(&g.m);
        pthread_mutex_lock(&ar.m);
        if (ar.done) i = 6000;
        pthread_mutex_unlock(&ar.m);
        if (!held) nanosleep(&ts, NULL);
    }
    CHECK(held, "A refreshed and its save reached the adapter");
    if (!held) return;
    /* Redis sleeps past A's lease: it expires with A's save still to come. */
    p = redisCommand(admin, "DEBUG SLEEP 3.5");
    CHECK(p && p->type == REDIS_REPLY_STATUS, "DEBUG SLEEP");
    if (p) freeReplyObject(p);
    CHECK(redis_int(admin, "EXISTS cotter:{%s}:lease", id) == 0, "A's lease expired");
    /* B takes the expired lease, re-reads (version 1, the token A already rotated), refreshes within the server's
     * reuse grace window and saves version 2. */
    rc = get_token(b, tb, sizeof tb, message, sizeof message);
    CHECK(rc == COTTER_OK, "B refreshes: %s %s", cotter_status_name(rc), message);
    /* A's late save: fenced (version 2 is not the 1 it read); A adopts B's set. */
    gate_release_held(&g);
    pthread_mutex_lock(&ar.m);
    while (!ar.done) pthread_cond_wait(&ar.cv, &ar.m);
    pthread_mutex_unlock(&ar.m);
    rc = cotter_call_take_buf(&at, call, NULL);
    CHECK(rc == COTTER_OK, "A's call: %s", cotter_status_name(rc));
    snprintf(ta, sizeof ta, "%s", rc == COTTER_OK && at.ptr ? at.ptr : "");
    cotter_buf_dispose(&at);
    cotter_call_free(call);
    CHECK(strcmp(ta, tb) == 0 && ta[0], "A serves B's token after its save was fenced");
    CHECK(redis_int(admin, "HGET cotter:{%s}:tokens v", id) == 2, "the store holds version 2 (A's save not written)");
    p = redisCommand(admin, "HGET cotter:{%s}:tokens json", id);
    CHECK(p && p->type == REDIS_REPLY_STRING && strstr(p->str, tb) != NULL, "the store holds B's set");
    if (p) freeReplyObject(p);
    handled1 = handled_refreshes(e, &revoked, &grace1);
    CHECK(handled1 - handled0 == 2, "%ld refreshes (A's and B's)", handled1 - handled0);
    CHECK(grace1 - grace0 == 1, "B's refresh used the grace window once (%ld)", grace1 - grace0);
    CHECK(revoked == 0, "%ld families revoked", revoked);
    /* One lineage: the next refresh, by either, works. */
    CHECK(advance(e, 3600) == 0, "advance");
    rc = get_token(a, ta, sizeof ta, message, sizeof message);
    CHECK(rc == COTTER_OK, "next refresh by A: %s %s", cotter_status_name(rc), message);
    CHECK(emu_dev(e, "POST", "/settings", "{\"refresh_reuse_grace\":0}", NULL) == 200, "grace off");
    cotter_session_free(a);
    cotter_session_free(b);
    cotter_shared_store_free(sta);
    cotter_shared_store_free(stb);
    cotter_token_free(t);
    redisFree(g.c);
    redisFree(admin);
}

static void scenario_restart_and_down(emu *e, redis_proc *r, cotter_client *c) {
    const char *id = "restarted";
    cotter_shared_store *st = new_store(r->sock, 0, 10000);
    cotter_session *s, *s2;
    cotter_token *t = login(e, "restarted@example.com"), *t2 = NULL;
    char token[4096], message[512];
    long handled0, handled1;
    int rc;
    CHECK(st && t, "setup");
    if (!st || !t) return;
    s = new_session(c, st, id, t, NULL);
    CHECK(s != NULL, "session");
    if (!s) return;
    rc = get_token(s, token, sizeof token, message, sizeof message);
    CHECK(rc == COTTER_OK, "fresh: %s", cotter_status_name(rc));

    /* (d) Redis restarted without its data. */
    redis_kill(r);
    CHECK(redis_start(r) == 0, "restart redis");
    rc = get_token(s, token, sizeof token, message, sizeof message);
    CHECK(rc == COTTER_OK, "a valid cached token is served after the restart: %s", cotter_status_name(rc));
    CHECK(advance(e, 3600) == 0, "advance");
    handled0 = handled_refreshes(e, NULL, NULL);
    rc = get_token(s, token, sizeof token, message, sizeof message);
    CHECK(rc == COTTER_EREAUTH && strstr(message, "no tokens") != NULL, "data gone: %s %s", cotter_status_name(rc),
          message);
    CHECK(handled_refreshes(e, NULL, NULL) == handled0, "nothing was sent");
    /* Recovery: a new login stored by one replica; another (a new session, loading from Redis) uses it. */
    t2 = login(e, "restarted@example.com");
    rc = t2 ? cotter_session_set_token(s, t2, NULL) : -1;
    CHECK(rc == COTTER_OK, "set_token: %s", cotter_status_name(rc));
    s2 = new_session(c, st, id, NULL, NULL);
    rc = s2 ? get_token(s2, token, sizeof token, message, sizeof message) : -1;
    CHECK(rc == COTTER_OK, "the fleet recovered: %s %s", cotter_status_name(rc), message);

    /* (e) Redis down (killed: its socket stays, refusing). */
    redis_kill(r);
    rc = get_token(s, token, sizeof token, message, sizeof message);
    CHECK(rc == COTTER_OK, "Redis down, a valid cached token is served: %s %s", cotter_status_name(rc), message);
    CHECK(advance(e, 3600) == 0, "advance");
    handled0 = handled_refreshes(e, NULL, NULL);
    rc = get_token(s, token, sizeof token, message, sizeof message);
    handled1 = handled_refreshes(e, NULL, NULL);
    CHECK(rc == COTTER_ESHARED_UNAVAILABLE, "Redis down, refresh needed: %s %s", cotter_status_name(rc), message);
    CHECK(handled1 == handled0, "no local refresh was sent (%ld)", handled1 - handled0);
    cotter_session_free(s);
    cotter_session_free(s2);
    cotter_shared_store_free(st);
    cotter_token_free(t);
    cotter_token_free(t2);
}

/* ---- (f) Waiters and the `...:changed` message ------------------------------------------------------------------ */

/* What the sessions' debug log says about their waits (core/token/session.cpp, shared_wait). */
typedef struct wake_log {
    long woken, timed_out, failed;
    long bounds[4]; /* the first waits' bounds that passed, in ms, as logged */
} wake_log;

static void count_wakes(int level, const char *message, void *payload) {
    wake_log *w = payload;
    (void)level;
    if (strstr(message, "woken by the store's message")) __atomic_add_fetch(&w->woken, 1, __ATOMIC_SEQ_CST);
    else if (strstr(message, "no message within")) {
        const long n = __atomic_fetch_add(&w->timed_out, 1, __ATOMIC_SEQ_CST);
        if (n < 4) __atomic_store_n(&w->bounds[n], strtol(strstr(message, "within") + 6, NULL, 10), __ATOMIC_SEQ_CST);
    }
    else if (strstr(message, "wait for the store's message failed")) __atomic_add_fetch(&w->failed, 1, __ATOMIC_SEQ_CST);
}

static long wake_count(long *counter) { return __atomic_load_n(counter, __ATOMIC_SEQ_CST); }

static cotter_client *new_logging_client(const char *base_url, const char *key, wake_log *w) {
    cotter_client_options o = COTTER_CLIENT_OPTIONS_INIT;
    cotter_client *c = NULL;
    o.api_key_id = key;
    o.base_url = base_url;
    o.log = count_wakes;
    o.log_payload = w;
    return cotter_client_new(&c, &o, NULL) == COTTER_OK ? c : NULL;
}

static long pubsub_numsub(redisContext *c, const char *channel) {
    redisReply *p = redisCommand(c, "PUBSUB NUMSUB %s", channel);
    long n = -1;
    if (p && p->type == REDIS_REPLY_ARRAY && p->elements == 2 && p->element[1]->type == REDIS_REPLY_INTEGER)
        n = (long)p->element[1]->integer;
    if (p) freeReplyObject(p);
    return n;
}

/* Connections over TCP: in (f) only the store under test uses TCP (every other connection of this process goes
 * through the Unix socket, and the worker processes that used TCP are gone). */
static long tcp_clients(redisContext *c) {
    redisReply *p = redisCommand(c, "CLIENT LIST");
    long n = -1;
    const char *at;
    if (p && p->type == REDIS_REPLY_STRING)
        for (n = 0, at = p->str; (at = strstr(at, " addr=127.0.0.1:")) != NULL; at++) n++;
    if (p) freeReplyObject(p);
    return n;
}

static void pause_5ms(void) {
    struct timespec ts = {0, 5000000L};
    nanosleep(&ts, NULL);
}

/* Waits (up to 60 s, for a loaded machine) until `channel` has `want` subscribed connections: a state other threads
 * reach, never a timing. */
static int wait_numsub(redisContext *admin, const char *channel, long want) {
    int i;
    for (i = 0; i < 12000; i++) {
        if (pubsub_numsub(admin, channel) == want) return 1;
        pause_5ms();
    }
    return 0;
}

static int wait_counter(long *counter, long at_least) {
    int i;
    for (i = 0; i < 12000; i++) {
        if (wake_count(counter) >= at_least) return 1;
        pause_5ms();
    }
    return 0;
}

static int start_token(cotter_call **call, cotter_session *s) {
    return cotter_session_get_access_token_start(call, s, NULL, NULL);
}

/* Takes a finished call's access token into `out`; returns its status. */
static int take_token(cotter_call *call, char *out, size_t cap) {
    cotter_buf at = COTTER_BUF_INIT;
    const int rc = cotter_call_take_buf(&at, call, NULL);
    snprintf(out, cap, "%s", rc == COTTER_OK && at.ptr ? at.ptr : "");
    cotter_buf_dispose(&at);
    return rc;
}

/* A holder whose save its adapter (the gate) keeps until released: the lease stays held as long as the test wants.
 * Returns the holder's call (its result: the new token), or NULL. */
static cotter_call *hold_a_refresh(gate *g, cotter_session *h) {
    cotter_call *call = NULL;
    int held = 0, i;
    pthread_mutex_lock(&g->m);
    g->hold_save = 1;
    pthread_mutex_unlock(&g->m);
    if (start_token(&call, h) != COTTER_OK) return NULL;
    for (i = 0; !held && i < 12000 && !cotter_call_is_done(call); i++) {
        pthread_mutex_lock(&g->m);
        held = g->held;
        pthread_mutex_unlock(&g->m);
        if (!held) pause_5ms();
    }
    if (!held) {
        cotter_call_free(call);
        return NULL;
    }
    return call;
}

static int gate_init(gate *g, redis_proc *r) {
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->m, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->c = redis_admin(r);
    return g->c != NULL;
}

static void gate_destroy(gate *g) {
    if (g->c) redisFree(g->c);
    pthread_mutex_destroy(&g->m);
    pthread_cond_destroy(&g->cv);
}

/* A store over the gate (adapter version 2, no wait: it never needs one), with a long lease. */
static cotter_shared_store *gate_store(gate *g, int64_t lease_ms) {
    cotter_shared_store_adapter ad;
    cotter_shared_store_options so = COTTER_SHARED_STORE_OPTIONS_INIT;
    cotter_shared_store *st = NULL;
    if (cotter_shared_store_adapter_init(&ad, COTTER_SHARED_STORE_ADAPTER_VERSION) != COTTER_OK) return NULL;
    ad.eval = gate_eval;
    ad.payload = g;
    so.lease_ttl_ms = lease_ms;
    return cotter_shared_store_new(&st, &ad, &so, NULL) == COTTER_OK ? st : NULL;
}

#define LOSERS 3

/* PUBLISHes on `channel` by hand (as another replica's write would) until `counter` reaches `at_least`: a waiter that
 * waits again and again is woken by one of them, whatever its bound. */
static int publish_until(redisContext *admin, const char *channel, long *counter, long at_least) {
    int i;
    for (i = 0; i < 12000; i++) {
        redisReply *p;
        if (wake_count(counter) >= at_least) return 1;
        p = redisCommand(admin, "PUBLISH %s 0", channel);
        if (p) freeReplyObject(p);
        pause_5ms();
    }
    return 0;
}

/* One contended refresh of the holder `h` (its save held by the gate) and the losers `l`: returns the number of Redis
 * scripts it ran, or -1. `during` runs while the save is held and every loser waits (its channel subscribed). */
static long contended_round(emu *e, gate *g, redisContext *admin, const char *channel, cotter_session *h,
                            cotter_session **l, void (*during)(redisContext *, const char *, wake_log *), wake_log *wl) {
    cotter_call *hc, *lc[LOSERS];
    char th[4096], tl[4096];
    long handled0, calls;
    int i, rc;
    CHECK(advance(e, 3600) == 0, "advance");
    handled0 = handled_refreshes(e, NULL, NULL);
    hc = hold_a_refresh(g, h);
    CHECK(hc != NULL, "the holder refreshed and its save is held");
    if (!hc) return -1;
    freeReplyObject(redisCommand(admin, "CONFIG RESETSTAT"));
    for (i = 0; i < LOSERS; i++) CHECK(start_token(&lc[i], l[i]) == COTTER_OK, "loser %d starts", i);
    /* Each loser's store subscribes on its own connection, and the channel stays subscribed between its waits (the
     * adapter lingers): a state, reached once, that lasts. Each loser has found the lease busy by then. */
    CHECK(wait_numsub(admin, channel, LOSERS), "every loser waits on %s (%ld subscribed)", channel,
          pubsub_numsub(admin, channel));
    if (during) during(admin, channel, wl);
    gate_release_held(g); /* saves the next version and publishes it */
    rc = cotter_call_wait(hc, NULL);
    CHECK(rc == COTTER_OK && take_token(hc, th, sizeof th) == COTTER_OK && th[0], "the holder: %s",
          cotter_status_name(rc));
    for (i = 0; i < LOSERS; i++) {
        rc = cotter_call_wait(lc[i], NULL);
        CHECK(rc == COTTER_OK, "loser %d: %s", i, cotter_status_name(rc));
        CHECK(take_token(lc[i], tl, sizeof tl) == COTTER_OK && strcmp(tl, th) == 0, "loser %d serves the new token", i);
        cotter_call_free(lc[i]);
    }
    cotter_call_free(hc);
    calls = redis_script_calls(admin);
    CHECK(handled_refreshes(e, NULL, NULL) - handled0 == 1, "%ld refresh grants (want 1: no loser refreshed)",
          handled_refreshes(e, NULL, NULL) - handled0);
    /* At least each loser's busy and fresh, and the holder's save; a loser whose bound passed first reads once more
     * per bound (5 ms, doubling: the polling schedule). */
    CHECK(calls >= 2 * LOSERS + 1, "%ld Redis scripts (at least %d)", calls, 2 * LOSERS + 1);
    return calls;
}

static void publish_until_woken(redisContext *admin, const char *channel, wake_log *wl) {
    const long woken = wake_count(&wl->woken);
    CHECK(publish_until(admin, channel, &wl->woken, woken + 1), "a message woke a waiting loser");
}

/* A contended refresh: the holder's save is held until every loser found the lease busy and subscribed (PUBSUB NUMSUB:
 * one connection per loser's store), then let go. Each wait is bounded by the polling schedule (5 ms doubling up to
 * wait_ms), so how many times a loser reads again before the save depends on the machine's speed: the test checks
 * what does not (every loser ends with the new token, one grant, no failed wait, the channel stays subscribed after
 * the round). The second round proves the wake-up by message: messages published while the losers wait wake them
 * (each wake-up reads again: still busy, so it waits again), whatever their bounds. */
static void scenario_woken_by_message(emu *e, redis_proc *r, cotter_client *ch) {
    const char *id = "woken", *channel = "cotter:{woken}:changed";
    gate g;
    wake_log wl = {0, 0, 0, {0, 0, 0, 0}};
    cotter_client *cl = new_logging_client(e->base_url, e->api_key_id, &wl);
    cotter_shared_store *sth, *stl[LOSERS];
    cotter_session *h, *l[LOSERS];
    cotter_token *t = login(e, "woken@example.com");
    redisContext *admin = redis_admin(r);
    long calls1, calls2, woken1;
    int i;
    CHECK(gate_init(&g, r) && cl && t && admin, "setup");
    if (!g.c || !cl || !t || !admin) return;
    sth = gate_store(&g, 60000);
    h = sth ? new_session(ch, sth, id, t, NULL) : NULL; /* stores the login: version 1 */
    CHECK(h != NULL, "holder");
    if (!h) return;
    for (i = 0; i < LOSERS; i++) {
        stl[i] = new_store_waiting(r->sock, 0, 60000, 10000);
        l[i] = stl[i] ? new_session(cl, stl[i], id, NULL, NULL) : NULL;
        CHECK(l[i] != NULL, "loser %d", i);
        if (!l[i]) return;
    }
    calls1 = contended_round(e, &g, admin, channel, h, l, NULL, &wl);
    woken1 = wake_count(&wl.woken);
    CHECK(wake_count(&wl.woken) + wake_count(&wl.timed_out) >= LOSERS && wake_count(&wl.failed) == 0,
          "each loser waited: %ld woken by the message, %ld bounds passed, %ld failed", wake_count(&wl.woken),
          wake_count(&wl.timed_out), wake_count(&wl.failed));
    /* The adapter keeps a channel subscribed for a while (30 s) after its last waiter. */
    CHECK(pubsub_numsub(admin, channel) == LOSERS, "the losers' channel stays subscribed (%ld)",
          pubsub_numsub(admin, channel));
    calls2 = contended_round(e, &g, admin, channel, h, l, publish_until_woken, &wl);
    CHECK(wake_count(&wl.failed) == 0, "no failed wait (%ld)", wake_count(&wl.failed));
    printf("woken by the message: %d losers, %ld and %ld Redis scripts, %ld and %ld wake-ups by message, %ld bounds "
           "passed\n",
           LOSERS, calls1, calls2, woken1, wake_count(&wl.woken) - woken1, wake_count(&wl.timed_out));
    for (i = 0; i < LOSERS; i++) {
        cotter_session_free(l[i]);
        cotter_shared_store_free(stl[i]);
    }
    cotter_session_free(h);
    cotter_shared_store_free(sth);
    cotter_client_free(cl);
    cotter_token_free(t);
    gate_destroy(&g);
    redisFree(admin);
}

/* A version-1 adapter struct, as a binding built against version 1 passes it: it ends before `wait`. */
typedef struct adapter_v1 {
    unsigned int version;
    cotter_shared_store_eval_fn eval;
    cotter_shared_store_release_fn release;
    void *payload;
} adapter_v1;

static int v1_released = 0;
static void v1_release(void *payload) {
    (void)payload;
    __atomic_add_fetch(&v1_released, 1, __ATOMIC_SEQ_CST);
}

/* A version-1 adapter is accepted (allocated at its own size: ASan sees a read past it) and its waiters poll: the
 * loser reads again and again while the holder's save is held, with no subscription, and then gets the new token. */
static void scenario_version1_polls(emu *e, redis_proc *r, cotter_client *ch) {
    const char *id = "polled", *channel = "cotter:{polled}:changed";
    gate g, gl;
    wake_log wl = {0, 0, 0, {0, 0, 0, 0}};
    cotter_client *cl = new_logging_client(e->base_url, e->api_key_id, &wl);
    adapter_v1 *v1 = calloc(1, sizeof *v1);
    cotter_shared_store_options so = COTTER_SHARED_STORE_OPTIONS_INIT;
    cotter_shared_store *sth, *stl = NULL;
    cotter_session *h, *l = NULL;
    cotter_call *hc, *lc = NULL;
    cotter_token *t = login(e, "polled@example.com");
    redisContext *admin = redis_admin(r);
    char th[4096], tl[4096];
    long evals = 0;
    int i, rc;
    CHECK(gate_init(&g, r) && gate_init(&gl, r) && cl && v1 && t && admin, "setup");
    if (!g.c || !gl.c || !cl || !v1 || !t || !admin) return;
    v1->version = 1;
    v1->eval = gate_eval;
    v1->release = v1_release;
    v1->payload = &gl;
    so.wait_ms = 20;
    CHECK(cotter_shared_store_new(&stl, (const cotter_shared_store_adapter *)v1, &so, NULL) == COTTER_OK,
          "a version-1 adapter is accepted");
    free(v1); /* copied by the store */
    sth = gate_store(&g, 60000);
    h = sth ? new_session(ch, sth, id, t, NULL) : NULL;
    l = stl ? new_session(cl, stl, id, NULL, NULL) : NULL;
    CHECK(h && l, "sessions");
    if (!h || !l) return;
    CHECK(advance(e, 3600) == 0, "advance");
    hc = hold_a_refresh(&g, h);
    CHECK(hc != NULL, "the holder refreshed and its save is held");
    if (!hc) return;
    CHECK(start_token(&lc, l) == COTTER_OK, "the loser starts");
    /* 1 read when the session was made, then acquires: 3 of them while the lease is held means it polls. */
    for (i = 0; i < 12000 && evals < 4; i++) {
        pthread_mutex_lock(&gl.m);
        evals = gl.evals;
        pthread_mutex_unlock(&gl.m);
        if (evals < 4) pause_5ms();
    }
    CHECK(evals >= 4, "the loser read again while the lease was held (%ld scripts)", evals);
    CHECK(pubsub_numsub(admin, channel) == 0, "a version-1 adapter never subscribes");
    gate_release_held(&g);
    rc = cotter_call_wait(hc, NULL);
    CHECK(rc == COTTER_OK && take_token(hc, th, sizeof th) == COTTER_OK, "the holder: %s", cotter_status_name(rc));
    rc = cotter_call_wait(lc, NULL);
    CHECK(rc == COTTER_OK && take_token(lc, tl, sizeof tl) == COTTER_OK && strcmp(tl, th) == 0,
          "the polling loser gets the new token: %s", cotter_status_name(rc));
    CHECK(wake_count(&wl.woken) + wake_count(&wl.timed_out) + wake_count(&wl.failed) == 0, "no wait was made");
    cotter_call_free(hc);
    cotter_call_free(lc);
    cotter_session_free(h);
    cotter_session_free(l);
    cotter_shared_store_free(sth);
    cotter_shared_store_free(stl);
    /* The last use of the store is dropped on the client's I/O thread, soon after the sessions' last step. */
    for (i = 0; i < 12000 && __atomic_load_n(&v1_released, __ATOMIC_SEQ_CST) == 0; i++) pause_5ms();
    CHECK(__atomic_load_n(&v1_released, __ATOMIC_SEQ_CST) == 1, "the version-1 adapter was released once");
    cotter_client_free(cl);
    cotter_token_free(t);
    gate_destroy(&g);
    gate_destroy(&gl);
    redisFree(admin);
}

/* A lease whose holder never saves (set here by hand, as a dead replica leaves it): the waiter's waits time out
 * (nothing is published) and it reads again after each; once the lease is gone, the next read takes it and
 * refreshes. */
static void scenario_wait_times_out(emu *e, redis_proc *r) {
    const char *id = "timeouts";
    wake_log wl = {0, 0, 0, {0, 0, 0, 0}};
    cotter_client *cl = new_logging_client(e->base_url, e->api_key_id, &wl);
    cotter_shared_store *st = new_store_waiting(r->sock, 0, 10000, 20);
    cotter_token *t = login(e, "timeouts@example.com");
    cotter_session *s = NULL;
    cotter_call *call = NULL;
    redisContext *admin = redis_admin(r);
    redisReply *p;
    char token[4096];
    long handled0;
    int rc;
    CHECK(cl && st && t && admin, "setup");
    if (!cl || !st || !t || !admin) return;
    s = new_session(cl, st, id, t, NULL);
    CHECK(s != NULL, "session");
    if (!s) return;
    CHECK(advance(e, 3600) == 0, "advance");
    p = redisCommand(admin, "SET cotter:{%s}:lease a-dead-replica PX 600000", id);
    CHECK(p && p->type == REDIS_REPLY_STATUS, "a lease held by nobody alive");
    if (p) freeReplyObject(p);
    handled0 = handled_refreshes(e, NULL, NULL);
    CHECK(start_token(&call, s) == COTTER_OK, "start");
    CHECK(wait_counter(&wl.timed_out, 4), "the waiter's waits time out (%ld)", wake_count(&wl.timed_out));
    CHECK(!cotter_call_is_done(call), "the waiter still waits");
    p = redisCommand(admin, "DEL cotter:{%s}:lease", id); /* expired, as a dead holder's lease does */
    if (p) freeReplyObject(p);
    rc = cotter_call_wait(call, NULL);
    CHECK(rc == COTTER_OK && take_token(call, token, sizeof token) == COTTER_OK, "refreshed once the lease was gone: %s",
          cotter_status_name(rc));
    CHECK(handled_refreshes(e, NULL, NULL) - handled0 == 1, "one refresh grant");
    CHECK(wake_count(&wl.woken) == 0 && wake_count(&wl.failed) == 0, "no message, no failed wait");
    /* Each wait is bounded by the polling schedule (5 ms doubling up to wait_ms = 20): a lost wake-up costs what a
     * poll would have. (Read once the call is done: every wait has logged.) */
    CHECK(wake_count(&wl.bounds[0]) == 5 && wake_count(&wl.bounds[1]) == 10 && wake_count(&wl.bounds[2]) == 20 &&
              wake_count(&wl.bounds[3]) == 20,
          "the waits' bounds: %ld, %ld, %ld, %ld ms (want 5, 10, 20, 20)", wake_count(&wl.bounds[0]),
          wake_count(&wl.bounds[1]), wake_count(&wl.bounds[2]), wake_count(&wl.bounds[3]));
    cotter_call_free(call);
    cotter_session_free(s);
    cotter_shared_store_free(st);
    cotter_client_free(cl);
    cotter_token_free(t);
    redisFree(admin);
}

/* A session, its call and its store freed while the session waits for the message: nothing runs after a free, and
 * once the wait completes (here: a message) every part ends: the store's adapter is released, which closes both of
 * its Redis connections (the commands' and the subscriber's). ASan/LSan and valgrind check the memory. */
static void scenario_freed_while_waiting(emu *e, redis_proc *r) {
    const char *id = "freed", *channel = "cotter:{freed}:changed";
    wake_log wl = {0, 0, 0, {0, 0, 0, 0}};
    cotter_client *cl = new_logging_client(e->base_url, e->api_key_id, &wl);
    cotter_token *t = login(e, "freed@example.com");
    redisContext *admin = redis_admin(r);
    cotter_shared_store *st;
    cotter_session *s;
    cotter_call *call = NULL;
    redisReply *p;
    long handled0, logged;
    int i;
    CHECK(cl && t && admin, "setup");
    if (!cl || !t || !admin) return;
    CHECK(tcp_clients(admin) == 0, "no TCP connection before the store's (%ld)", tcp_clients(admin));
    st = new_store_waiting(NULL, r->port, 10000, 10000);
    s = st ? new_session(cl, st, id, t, NULL) : NULL;
    CHECK(s != NULL, "session");
    if (!s) return;
    CHECK(advance(e, 3600) == 0, "advance");
    p = redisCommand(admin, "SET cotter:{%s}:lease another-replica PX 600000", id);
    if (p) freeReplyObject(p);
    handled0 = handled_refreshes(e, NULL, NULL);
    CHECK(start_token(&call, s) == COTTER_OK, "start");
    CHECK(wait_numsub(admin, channel, 1), "the session waits on its channel");
    CHECK(tcp_clients(admin) == 2, "the store has its two connections (%ld)", tcp_clients(admin));
    cotter_call_free(call); /* cancels it */
    cotter_session_free(s);
    cotter_shared_store_free(st);
    cotter_client_free(cl);
    logged = wake_count(&wl.woken) + wake_count(&wl.timed_out) + wake_count(&wl.failed); /* before the frees: fine */
    /* The pending wait completes (its bound passes, or a message, as another replica's save publishes, wakes it) and
     * finds nobody waiting. */
    p = redisCommand(admin, "DEL cotter:{%s}:lease", id);
    if (p) freeReplyObject(p);
    for (i = 0; i < 12000 && tcp_clients(admin) != 0; i++) {
        p = redisCommand(admin, "PUBLISH %s 99", channel);
        if (p) freeReplyObject(p);
        pause_5ms();
    }
    CHECK(tcp_clients(admin) == 0, "the store was released and closed its connections (%ld left)", tcp_clients(admin));
    CHECK(pubsub_numsub(admin, channel) == 0, "no subscription left");
    CHECK(handled_refreshes(e, NULL, NULL) == handled0, "nothing was refreshed for the abandoned call");
    CHECK(wake_count(&wl.woken) + wake_count(&wl.timed_out) + wake_count(&wl.failed) == logged,
          "the freed client's log callback was not called by the late wake-up");
    cotter_token_free(t);
    redisFree(admin);
}

/* The gate's wait (adapter version 2): held, never completed by itself, until the test calls `wait_done`. */
static int gate_wait(void *payload, const char *channel, int64_t timeout_ms, cotter_shared_store_wait_done_fn done,
                     void *done_ctx) {
    gate *g = payload;
    (void)channel;
    (void)timeout_ms;
    pthread_mutex_lock(&g->m);
    g->waiting = 1;
    g->wait_done = done;
    g->wait_ctx = done_ctx;
    pthread_mutex_unlock(&g->m);
    return 0;
}

static void gate_released(void *payload) {
    gate *g = payload;
    pthread_mutex_lock(&g->m);
    g->released = 1;
    pthread_mutex_unlock(&g->m);
}

static int gate_flag(gate *g, const int *flag) {
    int v;
    pthread_mutex_lock(&g->m);
    v = *flag;
    pthread_mutex_unlock(&g->m);
    return v;
}

/* Holds the client's I/O thread inside a done callback (never one of the client's own callbacks) until `go`. */
typedef struct io_hold {
    pthread_mutex_t m;
    pthread_cond_t cv;
    pthread_t test_thread;
    int entered, go;
} io_hold;

static void hold_io(cotter_call *call, void *payload) {
    io_hold *h = payload;
    (void)call;
    if (pthread_equal(pthread_self(), h->test_thread)) return; /* completed inline: there is no I/O thread to hold */
    pthread_mutex_lock(&h->m);
    h->entered = 1;
    pthread_cond_broadcast(&h->cv);
    while (!h->go) pthread_cond_wait(&h->cv, &h->m);
    pthread_mutex_unlock(&h->m);
}

static int io_held(io_hold *h) {
    int v;
    pthread_mutex_lock(&h->m);
    v = h->entered;
    pthread_mutex_unlock(&h->m);
    return v;
}

/* The same as scenario_freed_while_waiting with the order forced (issue 17): the wake-up is queued on the client's I/O
 * thread before the cancelled call's completion, and runs after every handle was freed. A call freed before it
 * completed must end its use of the client's callbacks at the free, not at its completion on the I/O thread:
 * otherwise that late wake-up logs through the freed client's callback (its payload already released). */
static void scenario_late_wake_after_frees(emu *e, redis_proc *r) {
    const char *id = "late-wake";
    gate g;
    static io_hold h; /* static: the holding callback may outlive this frame if a check below fails */
    wake_log wl = {0, 0, 0, {0, 0, 0, 0}};
    cotter_client *cl = new_logging_client(e->base_url, e->api_key_id, &wl);
    cotter_shared_store_adapter ad;
    cotter_shared_store_options so = COTTER_SHARED_STORE_OPTIONS_INIT;
    cotter_shared_store *st = NULL;
    cotter_session *s;
    cotter_call *call = NULL, *held = NULL;
    cotter_call_options co = COTTER_CALL_OPTIONS_INIT;
    cotter_token *t = login(e, "late-wake@example.com");
    redisReply *p;
    cotter_shared_store_wait_done_fn wake;
    void *wake_ctx;
    long logged;
    int i;
    CHECK(gate_init(&g, r) && cl && t, "setup");
    if (!g.c || !cl || !t) return;
    pthread_mutex_init(&h.m, NULL); /* once: the scenario runs once per process */
    pthread_cond_init(&h.cv, NULL);
    h.test_thread = pthread_self();
    h.entered = h.go = 0;
    CHECK(cotter_shared_store_adapter_init(&ad, COTTER_SHARED_STORE_ADAPTER_VERSION) == COTTER_OK, "adapter init");
    ad.eval = gate_eval;
    ad.wait = gate_wait;
    ad.release = gate_released;
    ad.payload = &g;
    CHECK(cotter_shared_store_new(&st, &ad, &so, NULL) == COTTER_OK, "store over the test's adapter");
    s = st ? new_session(cl, st, id, t, NULL) : NULL;
    CHECK(s != NULL, "session");
    if (!s) return;
    CHECK(advance(e, 3600) == 0, "advance");
    p = redisCommand(g.c, "SET cotter:{%s}:lease another-replica PX 600000", id);
    if (p) freeReplyObject(p);
    CHECK(start_token(&call, s) == COTTER_OK, "start");
    for (i = 0; i < 12000 && !gate_flag(&g, &g.waiting); i++) pause_5ms();
    CHECK(gate_flag(&g, &g.waiting), "the session waits (its wait held by the adapter)");
    /* Another call of the client, cancelled at once: its done callback holds the I/O thread. */
    co.done = hold_io;
    co.done_payload = &h;
    CHECK(cotter_client_refresh_start(&held, cl, "not-a-refresh-token", &co, NULL) == COTTER_OK, "the holding call");
    cotter_call_cancel(held);
    for (i = 0; i < 12000 && !io_held(&h); i++) pause_5ms();
    CHECK(io_held(&h), "the I/O thread is held");
    /* The wake-up (a message), then every free: the wake-up's step is queued before the call's cancelled completion. */
    pthread_mutex_lock(&g.m);
    wake = g.wait_done;
    wake_ctx = g.wait_ctx;
    g.waiting = 0;
    pthread_mutex_unlock(&g.m);
    wake(wake_ctx, COTTER_OK);
    cotter_call_free(call);
    cotter_call_free(held);
    cotter_session_free(s);
    cotter_shared_store_free(st);
    cotter_client_free(cl);
    logged = wake_count(&wl.woken) + wake_count(&wl.timed_out) + wake_count(&wl.failed);
    pthread_mutex_lock(&h.m);
    h.go = 1;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.m);
    /* The wake-up finds nobody waiting, the session ends, and with it the store's last use. */
    for (i = 0; i < 12000 && !gate_flag(&g, &g.released); i++) pause_5ms();
    CHECK(gate_flag(&g, &g.released), "the store's adapter was released once the wake-up had run");
    CHECK(logged == 0, "nothing was logged before the wake-up (%ld)", logged);
    CHECK(wake_count(&wl.woken) + wake_count(&wl.timed_out) + wake_count(&wl.failed) == logged,
          "the freed client's log callback was not called by the wake-up that ran after every free");
    cotter_token_free(t);
    gate_destroy(&g);
}

/* The subscriber connection killed (CLIENT KILL TYPE pubsub) under a waiting session: its wait fails at once, the
 * session polls once and waits again on a new subscriber connection, and the message then wakes it. */
static void scenario_subscriber_lost(emu *e, redis_proc *r) {
    const char *id = "resubscribed", *channel = "cotter:{resubscribed}:changed";
    wake_log wl = {0, 0, 0, {0, 0, 0, 0}};
    cotter_client *cl = new_logging_client(e->base_url, e->api_key_id, &wl);
    cotter_shared_store *st = new_store_waiting(r->sock, 0, 10000, 10000);
    cotter_token *t = login(e, "resubscribed@example.com");
    cotter_session *s = NULL;
    cotter_call *call = NULL;
    redisContext *admin = redis_admin(r);
    redisReply *p;
    char token[4096];
    long handled0;
    int rc;
    CHECK(cl && st && t && admin, "setup");
    if (!cl || !st || !t || !admin) return;
    s = new_session(cl, st, id, t, NULL);
    CHECK(s != NULL, "session");
    if (!s) return;
    CHECK(advance(e, 3600) == 0, "advance");
    p = redisCommand(admin, "SET cotter:{%s}:lease another-replica PX 600000", id);
    if (p) freeReplyObject(p);
    handled0 = handled_refreshes(e, NULL, NULL);
    CHECK(start_token(&call, s) == COTTER_OK, "start");
    CHECK(wait_numsub(admin, channel, 1), "the session waits on its channel");
    p = redisCommand(admin, "CLIENT KILL TYPE pubsub");
    CHECK(p && p->type == REDIS_REPLY_INTEGER && p->integer >= 1, "the subscriber connection was killed");
    if (p) freeReplyObject(p);
    /* A wait pending then fails; one started after it finds the connection gone: either way the next wait connects
     * and subscribes again (the kill left no subscriber). */
    CHECK(wait_numsub(admin, channel, 1), "the session waits again, on a new subscriber connection");
    CHECK(publish_until(admin, channel, &wl.woken, 1), "a message wakes it on the new connection");
    p = redisCommand(admin, "DEL cotter:{%s}:lease", id);
    if (p) freeReplyObject(p);
    rc = cotter_call_wait(call, NULL);
    CHECK(rc == COTTER_OK && take_token(call, token, sizeof token) == COTTER_OK, "refreshed: %s", cotter_status_name(rc));
    CHECK(handled_refreshes(e, NULL, NULL) - handled0 == 1, "one refresh grant");
    cotter_call_free(call);
    cotter_session_free(s);
    cotter_shared_store_free(st);
    cotter_client_free(cl);
    cotter_token_free(t);
    redisFree(admin);
}

/* Arguments: NULL and bad values are COTTER_EINVAL before anything is contacted. */
static void scenario_arguments(cotter_client *c, cotter_shared_store *st) {
    cotter_session_options o = COTTER_SESSION_OPTIONS_INIT;
    cotter_session *s = NULL;
    cotter_shared_store *none = NULL;
    cotter_shared_store_adapter ad = COTTER_SHARED_STORE_ADAPTER_INIT;
    cotter_shared_store_options so = COTTER_SHARED_STORE_OPTIONS_INIT;
    const char *bad_ids[] = {"", "a{b", "a}b", "a b", NULL};
    int i;
    o.shared_store = st;
    for (i = 0; bad_ids[i]; i++) {
        o.shared_session_id = bad_ids[i];
        CHECK(cotter_session_new(&s, c, &o, NULL, NULL) == COTTER_EINVAL && !s, "id '%s'", bad_ids[i]);
    }
    o.shared_session_id = NULL;
    CHECK(cotter_session_new(&s, c, &o, NULL, NULL) == COTTER_EINVAL, "no id");
    o.shared_session_id = "x";
    o.token_file = "/nonexistent/token.json";
    CHECK(cotter_session_new(&s, c, &o, NULL, NULL) == COTTER_EINVAL, "shared store and token file");
    CHECK(cotter_shared_store_new(&none, &ad, NULL, NULL) == COTTER_EINVAL && !none, "adapter without eval");
    CHECK(cotter_shared_store_new(&none, NULL, NULL, NULL) == COTTER_EINVAL, "NULL adapter");
    CHECK(cotter_shared_store_new_hiredis(NULL, NULL, NULL, NULL) == COTTER_EINVAL, "NULL out");
    ad.eval = gate_eval;
    so.key_prefix = "a{b";
    CHECK(cotter_shared_store_new(&none, &ad, &so, NULL) == COTTER_EINVAL && !none, "prefix with a brace");
    /* Adapter versions: 1 (no wait) and 2 are known, nothing else. */
    CHECK(cotter_shared_store_adapter_init(&ad, 1) == COTTER_OK && ad.version == 1 && !ad.eval, "init version 1");
    CHECK(cotter_shared_store_adapter_init(&ad, COTTER_SHARED_STORE_ADAPTER_VERSION) == COTTER_OK && ad.version == 2 &&
              !ad.wait,
          "init version 2");
    CHECK(cotter_shared_store_adapter_init(&ad, 0) == COTTER_EINVAL, "init version 0");
    CHECK(cotter_shared_store_adapter_init(&ad, COTTER_SHARED_STORE_ADAPTER_VERSION + 1) == COTTER_EINVAL,
          "init a version from the future");
    ad.eval = gate_eval;
    ad.version = COTTER_SHARED_STORE_ADAPTER_VERSION + 1;
    CHECK(cotter_shared_store_new(&none, &ad, NULL, NULL) == COTTER_EINVAL && !none, "an adapter from the future");
    ad.version = 0;
    CHECK(cotter_shared_store_new(&none, &ad, NULL, NULL) == COTTER_EINVAL && !none, "an adapter of version 0");
    cotter_shared_store_free(NULL);
}

int main(int argc, char **argv) {
    emu e;
    redis_proc r;
    cotter_client *c = NULL, *c2 = NULL;
    cotter_shared_store *st = NULL;
    char tmpl[] = "/tmp/cotter-redis-XXXXXX";
    int i;
    if (argc > 1 && strcmp(argv[1], "worker") == 0) return worker_main();
    if (argc > 3 && strcmp(argv[1], "holder") == 0) return holder_main(argv[2], argv[3]);
    signal(SIGPIPE, SIG_IGN); /* "quit" to a holder we killed */
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines reach a log even if the run is killed */
    memset(&r, 0, sizeof r);
    if (!mkdtemp(tmpl)) return 1;
    snprintf(r.dir, sizeof r.dir, "%s", tmpl);
    snprintf(r.sock, sizeof r.sock, "%s/redis.sock", tmpl);
    r.port = free_port();
    if (r.port <= 0 || redis_start(&r) != 0) {
        fprintf(stderr, "cannot start redis-server (is it installed? scripts/install-deps.sh)\n");
        return 1;
    }
    if (emu_start(&e, NULL) != 0) {
        fprintf(stderr, "cannot start the emulator\n");
        redis_kill(&r);
        return 1;
    }
    setenv("T_BASE_URL", e.base_url, 1);
    setenv("T_KEY", e.api_key_id, 1);
    setenv("T_SOCK", r.sock, 1);
    c = new_client(e.base_url, e.api_key_id);
    c2 = new_client(e.base_url, e.api_key_id);
    st = new_store(r.sock, 0, 10000);
    CHECK(c && c2 && st, "client and store");
    if (c && c2 && st) {
        scenario_arguments(c, st);
        /* Seed the fleet: one login per session, stored in Redis by this process. */
        for (i = 0; i < SESSIONS; i++) {
            char ident[64], id[32];
            cotter_token *t;
            cotter_session *s;
            snprintf(ident, sizeof ident, "fleet-%d@example.com", i);
            snprintf(id, sizeof id, "fleet-%d", i);
            t = login(&e, ident);
            s = t ? new_session(c, st, id, t, NULL) : NULL;
            CHECK(s != NULL, "seed %s", id);
            cotter_session_free(s);
            cotter_token_free(t);
        }
        scenario_fleet(&e, &r);
        scenario_round_trips(&e, &r, c, st);
        scenario_killed_holder(&e, &r, c);
        scenario_fencing(&e, &r, c, c2);
        scenario_woken_by_message(&e, &r, c);
        scenario_version1_polls(&e, &r, c);
        scenario_wait_times_out(&e, &r);
        scenario_freed_while_waiting(&e, &r);
        scenario_late_wake_after_frees(&e, &r);
        scenario_subscriber_lost(&e, &r);
        scenario_restart_and_down(&e, &r, c);
    }
    cotter_shared_store_free(st);
    cotter_client_free(c);
    cotter_client_free(c2);
    emu_stop(&e);
    redis_kill(&r);
    {
        char path[400];
        snprintf(path, sizeof path, "%s/redis.log", r.dir);
        unlink(path);
        unlink(r.sock);
        rmdir(r.dir);
    }
    if (failures) {
        fprintf(stderr, "test_shared_session_concurrency: %d failures\n", failures);
        return 1;
    }
    printf("test_shared_session_concurrency: ok\n");
    return 0;
}
