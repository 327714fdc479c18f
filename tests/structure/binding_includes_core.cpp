// Compiled like a binding (linking cotter_static only) by ctest's structure/binding_cannot_include_core, which
// passes only when this fails to compile because the core's header is not on the include path.
#include "common/error.hpp"

int main() { return 0; }
