// doctest's implementation and main(), compiled once for every tests/cpp program (they include the declarations
// only): the implementation is the costliest part of each test file's compile, three builds over.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
