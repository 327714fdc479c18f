/**
 * @file test_jwks_url.c
 * @brief C99 program: cotter_jwks_url, the one place a JWKS URL is derived from a base URL (the bindings ask it
 * instead of appending "/token/jwks" themselves): the given base URL, else $COTTER_BASE_URL, else
 * COTTER_DEFAULT_BASE_URL; trailing slashes dropped; a base URL a client would refuse is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cotter.h"

static int failures = 0;

static void expect_url(const char *base, const char *want) {
    cotter_buf out = {0};
    cotter_error *err = NULL;
    int rc = cotter_jwks_url(&out, base, &err);
    if (rc != COTTER_OK || !out.ptr || strcmp(out.ptr, want) != 0) {
        fprintf(stderr, "FAIL jwks_url(%s) = %d \"%s\" (%s), want \"%s\"\n", base ? base : "NULL", rc,
                out.ptr ? out.ptr : "", err ? cotter_error_message(err) : "", want);
        failures++;
    }
    cotter_error_free(err);
    cotter_buf_dispose(&out);
}

int main(void) {
    unsetenv("COTTER_BASE_URL");
    expect_url(NULL, COTTER_DEFAULT_BASE_URL "/token/jwks");
    expect_url("", COTTER_DEFAULT_BASE_URL "/token/jwks");
    expect_url("http://127.0.0.1:8080/api/v0//", "http://127.0.0.1:8080/api/v0/token/jwks");
    setenv("COTTER_BASE_URL", "https://cotter.example/api/", 1);
    expect_url(NULL, "https://cotter.example/api/token/jwks");
    expect_url("https://other.example", "https://other.example/token/jwks");
    unsetenv("COTTER_BASE_URL");

    /* The client's own rule, with its message: https, or http to a loopback host. */
    {
        cotter_buf out = {0};
        cotter_error *err = NULL;
        int rc = cotter_jwks_url(&out, "http://cotter.example/api", &err);
        if (rc != COTTER_EINVAL || !err || strcmp(cotter_error_message(err), "base_url must be https (or http to a loopback host)") != 0 ||
            out.ptr) {
            fprintf(stderr, "FAIL plain http: %d %s\n", rc, err ? cotter_error_message(err) : "");
            failures++;
        }
        cotter_error_free(err);
        rc = cotter_jwks_url(NULL, NULL, &err);
        if (rc != COTTER_EINVAL || !err || strcmp(cotter_error_message(err), "out must not be NULL") != 0) {
            fprintf(stderr, "FAIL out NULL: %d\n", rc);
            failures++;
        }
        cotter_error_free(err);
    }

    /* A client's jwks URL is the one derived from its effective base URL. */
    {
        cotter_client_options o;
        cotter_client *c = NULL;
        if (cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) != COTTER_OK) failures++;
        o.api_key_id = "key";
        o.base_url = "http://localhost:9/api/v0/";
        if (cotter_client_new(&c, &o, NULL) != COTTER_OK) {
            failures++;
        } else {
            expect_url(cotter_client_base_url(c), "http://localhost:9/api/v0/token/jwks");
        }
        cotter_client_free(c);
    }

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("jwks url: ok\n");
    return 0;
}
