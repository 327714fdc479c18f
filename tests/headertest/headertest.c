/* Compiles cotter.h on its own as strict C99 (-pedantic -Werror): it must need nothing else. */
#include "cotter.h"

int cotter_headertest_c(void);
int cotter_headertest_c(void) {
    cotter_jwt_verifier_options v = COTTER_JWT_VERIFIER_OPTIONS_INIT;
    cotter_client_options c = COTTER_CLIENT_OPTIONS_INIT;
    cotter_session_options s = COTTER_SESSION_OPTIONS_INIT;
    cotter_login_url_options l = COTTER_LOGIN_URL_OPTIONS_INIT;
    cotter_buf b = COTTER_BUF_INIT;
    (void)b;
    return (int)(v.version + c.version + s.version + l.version);
}
