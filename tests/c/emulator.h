/**
 * @file emulator.h
 * @brief C99 test helper (header-only): spawns `node emulator/bin/cotter-emulator.js --port 0 [flags]`, reads its
 * one JSON line, talks to its plain-HTTP dev API over a loopback socket, and stops it with SIGTERM. Also a tiny
 * JSON member extractor for test assertions (not a parser: it is only used on the emulator's own output).
 */
#ifndef COTTER_TEST_EMULATOR_H
#define COTTER_TEST_EMULATOR_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct emu {
    pid_t pid;
    char line[4096];
    char base_url[256], api_key_id[128], api_secret_key[256], worker_url[256], dev_url[256], login_url[256];
    char dev_token[300]; /* the dev API's token, sent as X-Cotter-Dev-Token */
    int port;
} emu;

/* Copies the string member `key` of the flat JSON object `json` into out (empty when absent). */
static inline void emu_json_string(const char *json, const char *key, char *out, size_t cap) {
    char pat[128];
    const char *p;
    size_t n = 0;
    out[0] = '\0';
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    p = strstr(json, pat);
    if (!p) return;
    p += strlen(pat);
    while (*p && *p != '"' && n + 1 < cap) {
        if (*p == '\\' && p[1]) p++;
        out[n++] = *p++;
    }
    out[n] = '\0';
}

/* Returns a malloc'ed copy of the object or array value of member `key` (first occurrence), or NULL. */
static inline char *emu_json_member(const char *json, const char *key) {
    char pat[128];
    const char *p, *start;
    int depth = 0, in_str = 0;
    char *out;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(json, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != '{' && *p != '[') return NULL;
    start = p;
    for (; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1]) p++;
            else if (*p == '"') in_str = 0;
        } else if (*p == '"') {
            in_str = 1;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0) {
                size_t len = (size_t)(p - start) + 1;
                out = (char *)malloc(len + 1);
                if (!out) return NULL;
                memcpy(out, start, len);
                out[len] = '\0';
                return out;
            }
        }
    }
    return NULL;
}

/* An integer member (or -1). */
static inline long emu_json_int(const char *json, const char *key) {
    char pat[128];
    const char *p;
    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(json, pat);
    if (!p) return -1;
    return strtol(p + strlen(pat), NULL, 10);
}

/* Makes libcurl in this process bypass proxies for loopback. */
static inline void emu_no_proxy(void) {
    setenv("NO_PROXY", "127.0.0.1,localhost,::1", 1);
    setenv("no_proxy", "127.0.0.1,localhost,::1", 1);
}

/* Starts the emulator with up to 8 extra flags (NULL-terminated). Returns 0 on success. */
static inline int emu_start(emu *e, const char *const *flags) {
    int fds[2];
    char script[1024];
    const char *src = getenv("COTTER_SOURCE_DIR");
    const char *argv[16];
    int argc = 0, i;
    size_t used = 0;
    time_t deadline;
    memset(e, 0, sizeof *e);
    emu_no_proxy();
#ifdef COTTER_SOURCE_DIR
    if (!src) src = COTTER_SOURCE_DIR;
#endif
    if (!src) src = ".";
    snprintf(script, sizeof script, "%s/emulator/bin/cotter-emulator.js", src);
    argv[argc++] = "node";
    argv[argc++] = script;
    argv[argc++] = "--port";
    argv[argc++] = "0";
    for (i = 0; flags && flags[i] && argc < 15; i++) argv[argc++] = flags[i];
    argv[argc] = NULL;
    if (pipe(fds) != 0) return -1;
    e->pid = fork();
    if (e->pid < 0) return -1;
    if (e->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp("node", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    deadline = time(NULL) + 20;
    while (!strchr(e->line, '\n') && used + 1 < sizeof e->line && time(NULL) < deadline) {
        struct pollfd p;
        ssize_t n;
        p.fd = fds[0];
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 1000) <= 0) continue;
        n = read(fds[0], e->line + used, sizeof e->line - 1 - used);
        if (n <= 0) break;
        used += (size_t)n;
        e->line[used] = '\0';
    }
    close(fds[0]);
    if (!strchr(e->line, '\n')) return -1;
    emu_json_string(e->line, "base_url", e->base_url, sizeof e->base_url);
    emu_json_string(e->line, "api_key_id", e->api_key_id, sizeof e->api_key_id);
    emu_json_string(e->line, "api_secret_key", e->api_secret_key, sizeof e->api_secret_key);
    emu_json_string(e->line, "worker_url", e->worker_url, sizeof e->worker_url);
    emu_json_string(e->line, "dev_url", e->dev_url, sizeof e->dev_url);
    emu_json_string(e->line, "login_url", e->login_url, sizeof e->login_url);
    emu_json_string(e->line, "dev_token", e->dev_token, sizeof e->dev_token);
    {
        const char *colon = strrchr(e->base_url, ':');
        e->port = colon ? atoi(colon + 1) : 0;
    }
    return e->port > 0 ? 0 : -1;
}

static inline void emu_stop(emu *e) {
    int status, i;
    if (e->pid <= 0) return;
    kill(e->pid, SIGTERM);
    for (i = 0; i < 100; i++) {
        if (waitpid(e->pid, &status, WNOHANG) == e->pid) {
            e->pid = 0;
            return;
        }
        struct timespec ts;
        ts.tv_sec = 0;
        ts.tv_nsec = 50000000L;
        nanosleep(&ts, NULL);
    }
    kill(e->pid, SIGKILL);
    waitpid(e->pid, &status, 0);
    e->pid = 0;
}

/*
 * One request to the emulator at `path` ("/api/v0/...", "/dev/..."), HTTP/1.1 over a fresh loopback socket with
 * "Connection: close" and `headers` ("Name: value\r\n" lines, or ""). Returns the status (or -1) and a malloc'ed
 * body in *body_out (may be NULL).
 */
static inline int emu_http(emu *e, const char *method, const char *path, const char *headers, const char *json,
                           char **body_out) {
    struct sockaddr_in addr;
    char head[1024];
    char *resp = NULL, *body;
    size_t len = 0, cap = 0;
    int fd, status = -1, n_head;
    size_t jlen = json ? strlen(json) : 0;
    if (body_out) *body_out = NULL;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)e->port);
    addr.sin_addr.s_addr = htonl(0x7f000001);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    n_head = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
                      "%sContent-Length: %lu\r\n\r\n",
                      method, path, headers, (unsigned long)jlen);
    if (n_head < 0 || (size_t)n_head >= sizeof head) { /* a head that does not fit is a test bug: fail loudly */
        close(fd);
        return -1;
    }
    if (write(fd, head, strlen(head)) < 0 || (jlen && write(fd, json, jlen) < 0)) {
        close(fd);
        return -1;
    }
    for (;;) {
        ssize_t n;
        if (len + 4096 + 1 > cap) {
            char *grown = (char *)realloc(resp, cap = (cap ? cap * 2 : 8192));
            if (!grown) break;
            resp = grown;
        }
        n = read(fd, resp + len, cap - len - 1);
        if (n <= 0) break;
        len += (size_t)n;
    }
    close(fd);
    if (!resp) return -1;
    resp[len] = '\0';
    if (sscanf(resp, "HTTP/1.1 %d", &status) != 1) status = -1;
    body = strstr(resp, "\r\n\r\n");
    if (body_out && body) {
        *body_out = strdup(body + 4);
    }
    free(resp);
    return status;
}

/* One request to the dev API ("/stats", "/login"...): emu_http with the dev token. */
static inline int emu_dev(emu *e, const char *method, const char *path, const char *json, char **body_out) {
    char full[512], headers[400];
    snprintf(full, sizeof full, "/dev%s", path);
    snprintf(headers, sizeof headers, "X-Cotter-Dev-Token: %s\r\n", e->dev_token);
    return emu_http(e, method, full, headers, json, body_out);
}

/* Signs `identifier` in through POST /dev/login: the oauth_token JSON (malloc'd; the caller frees it), or NULL. */
static inline char *emu_login(emu *e, const char *identifier) {
    char body[256], *resp = NULL, *tok;
    snprintf(body, sizeof body, "{\"identifier\":\"%s\"}", identifier);
    if (emu_dev(e, "POST", "/login", body, &resp) != 200) {
        free(resp);
        return NULL;
    }
    tok = emu_json_member(resp, "oauth_token");
    free(resp);
    return tok;
}

/* Requests counted for a normalized route at GET /dev/stats (or -1). */
static inline long emu_route_requests(emu *e, const char *route) {
    char *body = NULL, *requests;
    long n = 0;
    if (emu_dev(e, "GET", "/stats", NULL, &body) != 200 || !body) {
        free(body);
        return -1;
    }
    requests = emu_json_member(body, "requests");
    if (requests) {
        char pat[256];
        const char *p;
        snprintf(pat, sizeof pat, "\"%s\":", route);
        p = strstr(requests, pat);
        n = p ? strtol(p + strlen(pat), NULL, 10) : 0;
    }
    free(requests);
    free(body);
    return n;
}

#endif /* COTTER_TEST_EMULATOR_H */
