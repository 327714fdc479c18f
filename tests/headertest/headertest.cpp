// Compiles cotter.h on its own as C++ (-pedantic -Werror), and checks the noexcept declarations.
#include "cotter.h"

static_assert(noexcept(cotter_status_name(0)), "C ABI functions are noexcept under C++");
static_assert(COTTER_OK == 0, "COTTER_OK is pinned to 0");

int cotter_headertest_cxx() {
    cotter_jwt_verifier_options v = COTTER_JWT_VERIFIER_OPTIONS_INIT;
    cotter_client_options c = COTTER_CLIENT_OPTIONS_INIT;
    return static_cast<int>(v.version + c.version);
}
