/**
 * @file tests/package/c_app/main.c
 * @brief A new C program built against an installed cotter through pkg-config (scripts/test-package.sh):
 *        prints the library version, verifies a token against a JWKS URL and prints its subject.
 *        Usage: main JWKS_URL AUDIENCE TOKEN
 */
#include <cotter.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s JWKS_URL AUDIENCE TOKEN\n", argv[0]);
        return 2;
    }
    printf("cotter %s\n", cotter_version_string());
    cotter_jwt_verifier_options opts = COTTER_JWT_VERIFIER_OPTIONS_INIT;
    opts.jwks_url = argv[1];
    opts.audience = argv[2];
    cotter_jwt_verifier *verifier = NULL;
    cotter_claims *claims = NULL;
    cotter_error *err = NULL;
    int rc = cotter_jwt_verifier_new(&verifier, &opts, &err);
    if (rc == COTTER_OK) rc = cotter_jwt_verify(&claims, verifier, argv[3], strlen(argv[3]), &err);
    if (rc != COTTER_OK) {
        fprintf(stderr, "error: %s: %s\n", cotter_status_name(rc), err ? cotter_error_message(err) : "");
    } else {
        printf("sub %s\n", cotter_claims_sub(claims));
    }
    cotter_claims_free(claims);
    cotter_jwt_verifier_free(verifier);
    cotter_error_free(err);
    return rc == COTTER_OK ? 0 : 1;
}
