/**
 * @file worker.c
 * @brief The C worker of the fleet test (tests/fleet/fleet.py, contract in docs/shared-sessions.md "The fleet
 * test"): CONCURRENCY threads share N sessions through the hiredis store (standalone Redis only: hiredis 0.14 has
 * no Cluster), each calling cotter_session_get_access_token on a random session, pausing between calls; prints
 * `ready`, then one JSON summary line on exit (end of time or SIGTERM).
 *
 *   fleet_worker          the worker (environment: COTTER_FLEET_*)
 *   fleet_worker seed     the seeding tool: reads lines `<session id> <oauth_token JSON>` on stdin and stores each
 *                         as that shared session's first token set (version 1); prints `seeded <n>`
 *
 * Built by the driver: cc -O2 -pthread -Icapi/include tests/fleet/worker.c -Lbuild/release/capi -lcotter.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cotter.h"

#define MAX_CODES 128 /* status codes are 0..-127: counted by -code */

static volatile sig_atomic_t stop_requested = 0;
static void on_sigterm(int sig) {
    (void)sig;
    stop_requested = 1;
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "fleet worker: %s is not set\n", name);
        exit(2);
    }
    return v;
}

static long env_long(const char *name, long min, long max) {
    char *end = NULL;
    const long v = strtol(env(name), &end, 10);
    if (*end || v < min || v > max) {
        fprintf(stderr, "fleet worker: %s must be an integer in %ld..%ld\n", name, min, max);
        exit(2);
    }
    return v;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Setup: client and hiredis store from the environment -------------------------------------------------------- */

static cotter_client *new_client(void) {
    cotter_client_options o = COTTER_CLIENT_OPTIONS_INIT;
    cotter_client *c = NULL;
    cotter_error *err = NULL;
    o.api_key_id = env("COTTER_FLEET_API_KEY_ID");
    o.api_secret_key = env("COTTER_FLEET_API_SECRET_KEY");
    o.base_url = env("COTTER_FLEET_BASE_URL");
    if (cotter_client_new(&c, &o, &err) != COTTER_OK) {
        fprintf(stderr, "fleet worker: client: %s\n", err ? cotter_error_message(err) : "?");
        cotter_error_free(err);
        exit(2);
    }
    return c;
}

static cotter_shared_store *new_store(void) {
    const char *url = env("COTTER_FLEET_REDIS");
    static char host[256];
    const char *hp, *colon;
    cotter_hiredis_options ro = COTTER_HIREDIS_OPTIONS_INIT;
    cotter_shared_store_options so = COTTER_SHARED_STORE_OPTIONS_INIT;
    cotter_shared_store *st = NULL;
    cotter_error *err = NULL;
    if (strncmp(url, "redis://", 8) != 0) {
        fprintf(stderr, "fleet worker: COTTER_FLEET_REDIS: only redis://HOST:PORT (hiredis 0.14 has no Cluster)\n");
        exit(2);
    }
    hp = url + 8;
    colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof host || colon == hp) {
        fprintf(stderr, "fleet worker: COTTER_FLEET_REDIS: want redis://HOST:PORT\n");
        exit(2);
    }
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    ro.host = host;
    ro.port = atoi(colon + 1);
    ro.connect_timeout_ms = 10000; /* a loaded machine is not an outage */
    ro.command_timeout_ms = 10000;
    so.key_prefix = env("COTTER_FLEET_PREFIX");
    so.lease_ttl_ms = env_long("COTTER_FLEET_LEASE_MS", 100, 600000);
    if (cotter_shared_store_new_hiredis(&st, &ro, &so, &err) != COTTER_OK) {
        fprintf(stderr, "fleet worker: store: %s\n", err ? cotter_error_message(err) : "?");
        cotter_error_free(err);
        exit(2);
    }
    return st;
}

static cotter_session *new_session(cotter_client *c, cotter_shared_store *st, const char *id, int64_t margin,
                                   const cotter_token *initial) {
    cotter_session_options o = COTTER_SESSION_OPTIONS_INIT;
    cotter_session *s = NULL;
    cotter_error *err = NULL;
    o.shared_store = st;
    o.shared_session_id = id;
    o.refresh_margin_seconds = margin;
    if (cotter_session_new(&s, c, &o, initial, &err) != COTTER_OK) {
        fprintf(stderr, "fleet worker: session %s: %s\n", id, err ? cotter_error_message(err) : "?");
        cotter_error_free(err);
        exit(2);
    }
    return s;
}

/* ---- seed: one stored login per line ---------------------------------------------------------------------------- */

static int seed_main(void) {
    cotter_client *c = new_client();
    cotter_shared_store *st = new_store();
    size_t cap = 0;
    char *line = NULL;
    ssize_t n;
    long seeded = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        char *space = strchr(line, ' ');
        cotter_token *t = NULL;
        cotter_error *err = NULL;
        if (line[n - 1] == '\n') line[--n] = '\0';
        if (n == 0) continue;
        if (!space) {
            fprintf(stderr, "fleet worker seed: want `<session id> <oauth_token JSON>`\n");
            return 2;
        }
        *space = '\0';
        if (cotter_token_from_json(&t, space + 1, strlen(space + 1), &err) != COTTER_OK) {
            fprintf(stderr, "fleet worker seed: %s: %s\n", line, err ? cotter_error_message(err) : "?");
            return 2;
        }
        cotter_session_free(new_session(c, st, line, 1, t)); /* stores it: version 1 */
        cotter_token_free(t);
        seeded++;
    }
    free(line);
    cotter_shared_store_free(st);
    cotter_client_free(c);
    printf("seeded %ld\n", seeded);
    return 0;
}

/* ---- The worker ------------------------------------------------------------------------------------------------- */

static cotter_session **sessions;
static long session_count, pause_ms;
static double deadline;
static pthread_mutex_t counts_mutex = PTHREAD_MUTEX_INITIALIZER;
static long long calls, oks, errors[MAX_CODES];

static int is_jwt(const char *s, size_t len) {
    size_t i, dots = 0;
    for (i = 0; i < len; i++) dots += s[i] == '.';
    return len > 0 && dots == 2;
}

static void *lane(void *arg) {
    unsigned int seed = (unsigned int)(size_t)arg ^ (unsigned int)getpid() ^ (unsigned int)time(NULL);
    while (!stop_requested && now_s() < deadline) {
        cotter_buf at = COTTER_BUF_INIT;
        cotter_error *err = NULL;
        const long k = (long)(rand_r(&seed) % (unsigned int)session_count);
        const int rc = cotter_session_get_access_token(&at, sessions[k], &err);
        const int ok = rc == COTTER_OK && is_jwt(at.ptr, at.len);
        pthread_mutex_lock(&counts_mutex);
        calls++;
        if (ok) oks++;
        else {
            const int code = rc == COTTER_OK ? COTTER_EPROTOCOL : rc; /* OK without a JWT: counted as a protocol error */
            const int slot = -code >= 0 && -code < MAX_CODES ? -code : MAX_CODES - 1;
            if (errors[slot]++ == 0) /* the first message of each kind; a message never holds a token */
                fprintf(stderr, "fleet worker %d: fleet-%ld: %s %s\n", (int)getpid(), k, cotter_status_name(code),
                        rc == COTTER_OK ? "(not a JWT)" : err ? cotter_error_message(err) : "");
        }
        pthread_mutex_unlock(&counts_mutex);
        cotter_buf_dispose(&at);
        cotter_error_free(err);
        if (pause_ms > 0) {
            struct timespec ts = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void print_summary(void) {
    int i, first = 1;
    printf("{\"lang\": \"c\", \"pid\": %d, \"calls\": %lld, \"ok\": %lld, \"errors\": {", (int)getpid(), calls, oks);
    for (i = 0; i < MAX_CODES; i++) {
        if (!errors[i]) continue;
        printf("%s\"%s\": %lld", first ? "" : ", ", cotter_status_name(-i), errors[i]);
        first = 0;
    }
    printf("}}\n");
    fflush(stdout);
}

static int worker_main(void) {
    const long concurrency = env_long("COTTER_FLEET_CONCURRENCY", 1, 256);
    const long margin = env_long("COTTER_FLEET_MARGIN", 0, 86400);
    const double seconds = atof(env("COTTER_FLEET_SECONDS"));
    cotter_client *c;
    cotter_shared_store *st;
    pthread_t *threads;
    long i;
    session_count = env_long("COTTER_FLEET_SESSIONS", 1, 100000);
    pause_ms = env_long("COTTER_FLEET_PAUSE_MS", 0, 60000);
    c = new_client();
    st = new_store();
    sessions = calloc((size_t)session_count, sizeof *sessions);
    threads = calloc((size_t)concurrency, sizeof *threads);
    if (!sessions || !threads) return 2;
    for (i = 0; i < session_count; i++) {
        char id[32];
        snprintf(id, sizeof id, "fleet-%ld", i);
        sessions[i] = new_session(c, st, id, margin, NULL); /* no token: it loads from the store */
    }
    cotter_shared_store_free(st); /* the sessions keep it */
    printf("ready\n");
    fflush(stdout);
    deadline = now_s() + seconds;
    for (i = 0; i < concurrency; i++) {
        if (pthread_create(&threads[i], NULL, lane, (void *)(size_t)i) != 0) {
            fprintf(stderr, "fleet worker: pthread_create: %s\n", strerror(errno));
            return 2;
        }
    }
    for (i = 0; i < concurrency; i++) pthread_join(threads[i], NULL);
    print_summary();
    for (i = 0; i < session_count; i++) cotter_session_free(sessions[i]);
    cotter_client_free(c);
    free(sessions);
    free(threads);
    return 0;
}

int main(int argc, char **argv) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigterm; /* no SA_RESTART: a lane's pause ends early */
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && strcmp(argv[1], "seed") == 0) return seed_main();
    if (argc > 1) {
        fprintf(stderr, "usage: fleet_worker [seed]\n");
        return 2;
    }
    return worker_main();
}
