/**
 * @file shared_session_bench.c
 * @brief Not a test (bench/, -DCOTTER_BUILD_BENCH=ON): the latency a shared store (Redis, docs/shared-sessions.md)
 * adds to a refresh. Starts redis-server (Unix socket, temp dir) and the emulator, then, ROUNDS times each, moves
 * the dev clock past the access token's exp and times get_access_token():
 *   local      one session in memory (no store): the refresh alone;
 *   shared     one replica with a shared store: acquire + refresh + save;
 *   contended  3 replicas (3 clients, 3 threads) asking for the same shared session at once: each caller's wait;
 *   contended, 20 ms  the same with the refresh held 20 ms by the emulator (closer to a real Cotter round trip).
 *   cached     get_access_token() of the shared session while its access token is valid: no refresh.
 * Prints one JSON line per row for bench/run ({"bench","ops_per_sec","baseline","ratio",...}): p50/p99 in ms, what
 * a refresh adds over the local one (added_p50_ms/added_p99_ms), the Redis round trips per refresh and per
 * get_access_token() call, and the Lua scripts per refresh (see counts()). ops_per_sec is 1000 / p50 (one caller's
 * refreshes per second) and ratio the local p50 / this row's: higher is better, as in every bench. Then, on
 * stderr, how the contended waiters' waits ended (the sessions' debug log): woken by the holder's message, or past
 * their bound (a lost wake-up: the subscription reached Redis after the holder's save). Wall-clock numbers from a
 * shared machine: compare the rows of one run, not runs.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter.h"
#include "emulator.h"

#define ROUNDS 200
#define REPLICAS 3
#define CACHED_CALLS 20000

static int64_t offset = 0;
static int64_t dev_clock(void *payload) {
    (void)payload;
    return (int64_t)time(NULL) + __atomic_load_n(&offset, __ATOMIC_SEQ_CST);
}

static long woken = 0, timed_out = 0;
static void count_waits(int level, const char *message, void *payload) {
    (void)level;
    (void)payload;
    if (strstr(message, "woken by the store's message")) __atomic_add_fetch(&woken, 1, __ATOMIC_SEQ_CST);
    else if (strstr(message, "no message within")) __atomic_add_fetch(&timed_out, 1, __ATOMIC_SEQ_CST);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* What Redis counted since the last CONFIG RESETSTAT. `scripts`: Lua scripts run (EVALSHA, and EVAL after a
 * NOSCRIPT; INFO commandstats). `round_trips`: requests the server read from its clients (INFO stats'
 * total_reads_processed: one per request and reply, a pipelined batch once), less the bench's own INFO/CONFIG
 * (calibrated). Not the commands: those include the scripts' own redis.call()s. */
typedef struct redis_counts {
    long scripts, round_trips;
} redis_counts;

static long admin_reads = 0; /* the reads of reset_counts() + counts() alone */

static long stat_field(redisContext *c, const char *section, const char *field) {
    redisReply *p = redisCommand(c, "INFO %s", section);
    const char *at = p && p->type == REDIS_REPLY_STRING ? strstr(p->str, field) : NULL;
    long n = at ? strtol(at + strlen(field), NULL, 10) : 0;
    if (p && getenv("COTTER_BENCH_VERBOSE")) fprintf(stderr, "%s\n", p->str);
    if (p) freeReplyObject(p);
    return n;
}

static redis_counts counts(redisContext *c) {
    redis_counts n;
    n.scripts = stat_field(c, "commandstats", "cmdstat_evalsha:calls=") +
                stat_field(c, "commandstats", "cmdstat_eval:calls=");
    n.round_trips = stat_field(c, "stats", "total_reads_processed:") - admin_reads;
    return n;
}

static void reset_counts(redisContext *c) { freeReplyObject(redisCommand(c, "CONFIG RESETSTAT")); }

static void calibrate(redisContext *c) {
    reset_counts(c);
    admin_reads = 0;
    admin_reads = counts(c).round_trips;
}

typedef struct row {
    double p50, p99;
} row;

static row percentiles(double *v, int n) {
    row r;
    qsort(v, (size_t)n, sizeof *v, cmp);
    r.p50 = v[n / 2];
    r.p99 = v[(n * 99) / 100];
    return r;
}

/* One JSON line of a refresh row; `local` is the row without a store (the baseline), `calls` the timed
 * get_access_token() calls, `refreshes` the refresh grants among them. */
static void report(const char *bench, row r, row local, int with_added, redis_counts n, int calls, int refreshes) {
    printf("{\"bench\":\"%s\",\"ops_per_sec\":%.1f,\"baseline\":\"shared_session_refresh_local\",\"ratio\":%.3f,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,",
           bench, 1000.0 / r.p50, local.p50 / r.p50, r.p50, r.p99);
    if (with_added) printf("\"added_p50_ms\":%.3f,\"added_p99_ms\":%.3f,", r.p50 - local.p50, r.p99 - local.p99);
    printf("\"scripts_per_refresh\":%.2f,\"redis_round_trips_per_refresh\":%.2f,\"redis_round_trips_per_call\":%.2f,"
           "\"calls\":%d,\"refreshes\":%d,\"unit\":\"ops_per_sec = 1000 / p50_ms\"}\n",
           (double)n.scripts / refreshes, (double)n.round_trips / refreshes, (double)n.round_trips / calls, calls,
           refreshes);
    fflush(stdout);
}

static cotter_session *session(cotter_client *c, cotter_shared_store *st, const char *id, const cotter_token *t) {
    cotter_session_options o = COTTER_SESSION_OPTIONS_INIT;
    cotter_session *s = NULL;
    o.clock = dev_clock;
    o.shared_store = st;
    o.shared_session_id = st ? id : NULL;
    return cotter_session_new(&s, c, &o, t, NULL) == COTTER_OK ? s : NULL;
}

static void advance(emu *e) {
    emu_dev(e, "POST", "/clock", "{\"advance_seconds\":3600}", NULL);
    __atomic_add_fetch(&offset, 3600, __ATOMIC_SEQ_CST);
}

static double timed_get(cotter_session *s) {
    cotter_buf b = COTTER_BUF_INIT;
    const double t0 = now_ms();
    if (cotter_session_get_access_token(&b, s, NULL) != COTTER_OK) {
        fprintf(stderr, "get_access_token failed\n");
        exit(1);
    }
    cotter_buf_dispose(&b);
    return now_ms() - t0;
}

typedef struct racer {
    cotter_session *s;
    pthread_barrier_t *start;
    double ms;
} racer;

static void *race(void *arg) {
    racer *r = arg;
    pthread_barrier_wait(r->start);
    r->ms = timed_get(r->s);
    return NULL;
}

/* ROUNDS contended refreshes of the replicas' shared session (after one unmeasured round: connections, the
 * subscription); `latency_ms` > 0: each refresh held that long. */
static void contended(emu *e, redisContext *admin, cotter_session **rep, int latency_ms, const char *name, row local,
                      double *v) {
    long woken0 = __atomic_load_n(&woken, __ATOMIC_SEQ_CST), timed_out0 = __atomic_load_n(&timed_out, __ATOMIC_SEQ_CST);
    int i, k;
    char fault[160];
    snprintf(fault, sizeof fault, "{\"route\":\"POST /api/v0/token/:api_key_id\",\"latency_ms\":%d}", latency_ms);
    for (k = -1; k < ROUNDS; k++) {
        pthread_barrier_t start;
        pthread_t th[REPLICAS];
        racer r[REPLICAS];
        advance(e);
        if (latency_ms > 0) emu_dev(e, "POST", "/faults", fault, NULL);
        pthread_barrier_init(&start, NULL, REPLICAS);
        for (i = 0; i < REPLICAS; i++) {
            r[i].s = rep[i];
            r[i].start = &start;
            pthread_create(&th[i], NULL, race, &r[i]);
        }
        for (i = 0; i < REPLICAS; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        if (k < 0) {  /* the warm-up round: nothing counted */
            reset_counts(admin);
            woken0 = __atomic_load_n(&woken, __ATOMIC_SEQ_CST);
            timed_out0 = __atomic_load_n(&timed_out, __ATOMIC_SEQ_CST);
            continue;
        }
        for (i = 0; i < REPLICAS; i++) v[k * REPLICAS + i] = r[i].ms;
    }
    /* Each round is one refresh grant and REPLICAS calls; the added latency is of each caller's wait. */
    report(name, percentiles(v, ROUNDS * REPLICAS), local, latency_ms == 0, counts(admin), ROUNDS * REPLICAS,
           ROUNDS);
    fprintf(stderr, "%s: waits %ld woken by the message, %ld past their bound\n", name,
            __atomic_load_n(&woken, __ATOMIC_SEQ_CST) - woken0, __atomic_load_n(&timed_out, __ATOMIC_SEQ_CST) - timed_out0);
}

int main(void) {
    char dir[] = "/tmp/cotter-bench-redis-XXXXXX", sock[300], log[320];
    emu e;
    pid_t redis;
    redisContext *admin = NULL;
    cotter_client *c[REPLICAS];
    cotter_shared_store *st = NULL;
    cotter_hiredis_options ro = COTTER_HIREDIS_OPTIONS_INIT;
    cotter_session *local, *shared, *rep[REPLICAS];
    static double v[ROUNDS * REPLICAS];
    int i, k;
    if (!mkdtemp(dir)) return 1;
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    snprintf(log, sizeof log, "%s/redis.log", dir);
    redis = fork();
    if (redis == 0) {
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--dir", dir, "--save", "",
               "--appendonly", "no", "--logfile", log, (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 200 && !admin; i++) {
        struct timespec ts = {0, 50000000L};
        struct timeval tv = {5, 0};
        nanosleep(&ts, NULL);
        admin = redisConnectUnixWithTimeout(sock, tv);
        if (admin && admin->err) {
            redisFree(admin);
            admin = NULL;
        }
    }
    if (!admin || emu_start(&e, NULL) != 0) return 1;
    calibrate(admin);
    for (i = 0; i < REPLICAS; i++) {
        cotter_client_options o = COTTER_CLIENT_OPTIONS_INIT;
        o.api_key_id = e.api_key_id;
        o.base_url = e.base_url;
        o.log = count_waits;
        if (cotter_client_new(&c[i], &o, NULL) != COTTER_OK) return 1;
    }
    ro.unix_socket = sock;
    if (cotter_shared_store_new_hiredis(&st, &ro, NULL, NULL) != COTTER_OK) return 1;
    {
        char *a = emu_login(&e, "local@example.com"), *b = emu_login(&e, "shared@example.com");
        cotter_token *ta = NULL, *tb = NULL;
        if (!a || !b || cotter_token_from_json(&ta, a, strlen(a), NULL) != COTTER_OK ||
            cotter_token_from_json(&tb, b, strlen(b), NULL) != COTTER_OK)
            return 1;
        local = session(c[0], NULL, NULL, ta);
        shared = session(c[0], st, "bench", tb);
        for (i = 0; i < REPLICAS; i++) rep[i] = session(c[i], st, "bench", NULL);
        free(a);
        free(b);
        cotter_token_free(ta);
        cotter_token_free(tb);
    }
    {
        row local_row, r;
        redis_counts none = {0, 0};
        double t0;
        for (k = 0; k < ROUNDS; k++) advance(&e), v[k] = timed_get(local);
        local_row = percentiles(v, ROUNDS);
        report("shared_session_refresh_local", local_row, local_row, 0, none, ROUNDS, ROUNDS);
        advance(&e), timed_get(shared); /* warm-up: the store's connection and scripts */
        reset_counts(admin);
        for (k = 0; k < ROUNDS; k++) advance(&e), v[k] = timed_get(shared);
        r = percentiles(v, ROUNDS);
        report("shared_session_refresh_shared", r, local_row, 1, counts(admin), ROUNDS, ROUNDS);
        contended(&e, admin, rep, 0, "shared_session_refresh_contended", local_row, v);
        contended(&e, admin, rep, 20, "shared_session_refresh_contended_20ms", local_row, v);
        /* No refresh due: the shared session answers from memory, with no Redis command (issue 17's goal: 0). */
        timed_get(shared); /* the replicas refreshed since: this call adopts their set (one acquire) */
        reset_counts(admin);
        t0 = now_ms();
        for (k = 0; k < CACHED_CALLS; k++) timed_get(shared);
        t0 = now_ms() - t0;
        printf("{\"bench\":\"shared_session_cached_get\",\"ops_per_sec\":%.1f,\"baseline\":null,\"ratio\":null,"
               "\"redis_round_trips_per_call\":%.4f,\"calls\":%d,\"unit\":\"get_access_token() calls per second\"}\n",
               CACHED_CALLS / (t0 / 1000.0), (double)counts(admin).round_trips / CACHED_CALLS, CACHED_CALLS);
    }
    cotter_session_free(local);
    cotter_session_free(shared);
    for (i = 0; i < REPLICAS; i++) cotter_session_free(rep[i]), cotter_client_free(c[i]);
    cotter_shared_store_free(st);
    redisFree(admin);
    emu_stop(&e);
    kill(redis, SIGKILL);
    waitpid(redis, NULL, 0);
    unlink(sock);
    unlink(log);
    rmdir(dir);
    return 0;
}
