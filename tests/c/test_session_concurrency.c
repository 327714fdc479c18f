/**
 * @file test_session_concurrency.c
 * @brief C99 + pthreads over the C ABI: 100 threads call cotter_session_get_access_token() on an expired
 * session at once; the emulator must see exactly one refresh request. Runs under TSan (label "concurrency").
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter.h"
#include "emulator.h"

#define THREADS 100

static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open = 0;
static cotter_session *session;
static char tokens[THREADS][4096];
static int statuses[THREADS];

static void *worker(void *arg) {
    const int i = (int)(size_t)arg;
    cotter_buf at = COTTER_BUF_INIT;
    pthread_mutex_lock(&gate_mutex);
    while (!gate_open) pthread_cond_wait(&gate_cond, &gate_mutex);
    pthread_mutex_unlock(&gate_mutex);
    statuses[i] = cotter_session_get_access_token(&at, session, NULL);
    if (statuses[i] == COTTER_OK && at.len < sizeof tokens[i]) memcpy(tokens[i], at.ptr, at.len + 1);
    cotter_buf_dispose(&at);
    return NULL;
}

int main(void) {
    emu e;
    cotter_client_options o;
    cotter_client *client = NULL;
    cotter_token *t = NULL;
    char *resp = NULL, *json;
    pthread_t th[THREADS];
    int i, failures = 0;
    long refreshes;
    if (emu_start(&e, NULL) != 0) {
        fprintf(stderr, "cannot start the emulator\n");
        return 1;
    }
    /* The next token response carries an already expired access token. */
    if (emu_dev(&e, "POST", "/expire_tokens", "{\"next_access_ttl\":-5,\"count\":1}", NULL) != 200 ||
        emu_dev(&e, "POST", "/login", "{\"identifier\":\"c-flight@example.com\"}", &resp) != 200) {
        fprintf(stderr, "dev API failed\n");
        emu_stop(&e);
        return 1;
    }
    json = emu_json_member(resp, "oauth_token");
    if (cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) != COTTER_OK) return 1;
    o.api_key_id = e.api_key_id;
    o.base_url = e.base_url;
    if (!json || cotter_client_new(&client, &o, NULL) != COTTER_OK ||
        cotter_token_from_json(&t, json, strlen(json), NULL) != COTTER_OK ||
        cotter_session_new(&session, client, NULL, t, NULL) != COTTER_OK) {
        fprintf(stderr, "setup failed\n");
        emu_stop(&e);
        return 1;
    }
    emu_dev(&e, "POST", "/stats/reset", "{}", NULL);
    for (i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, worker, (void *)(size_t)i);
    pthread_mutex_lock(&gate_mutex);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_mutex);
    for (i = 0; i < THREADS; i++) pthread_join(th[i], NULL);

    for (i = 0; i < THREADS; i++) {
        if (statuses[i] != COTTER_OK || strcmp(tokens[i], tokens[0]) != 0) failures++;
    }
    if (strcmp(tokens[0], cotter_token_access_token(t)) == 0) failures++;
    refreshes = emu_route_requests(&e, "POST /api/v0/token/:api_key_id");
    if (refreshes != 1) {
        fprintf(stderr, "expected exactly 1 refresh request, the emulator saw %ld\n", refreshes);
        failures++;
    }
    cotter_session_free(session);
    cotter_token_free(t);
    cotter_client_free(client);
    free(json);
    free(resp);
    emu_stop(&e);
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
