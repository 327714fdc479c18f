/**
 * @file test_hpp_login_url.cpp
 * @brief cotter.hpp's login URL wrappers (login_url_options, login_url) over the C ABI: the defaults the macro
 * gives (version 2, from_environment 0), from_environment reading $COTTER_LOGIN_URL only when asked, a version-1
 * struct ending before that field, and errors as cotter::Error. Only cotter.hpp is included: its COTTER_* codes are
 * the C ABI's (the core's enumerators share their names, see test_client_capi.cpp).
 */
#include <doctest/doctest.h>

#include <stdlib.h>  // setenv, unsetenv

#include <string>

#include "cotter.hpp"

namespace {

/// Sets (or, with nullptr, unsets) $COTTER_LOGIN_URL for one test case and puts back what was there.
class LoginUrlEnv {
  public:
    explicit LoginUrlEnv(const char *value) {
        if (const char *old = getenv("COTTER_LOGIN_URL")) old_ = old, had_ = true;
        if (value) setenv("COTTER_LOGIN_URL", value, 1);
        else unsetenv("COTTER_LOGIN_URL");
    }
    ~LoginUrlEnv() {
        if (had_) setenv("COTTER_LOGIN_URL", old_.c_str(), 1);
        else unsetenv("COTTER_LOGIN_URL");
    }

  private:
    std::string old_;
    bool had_ = false;
};

cotter_login_url_options required() {
    cotter_login_url_options o = cotter::login_url_options();
    o.api_key_id = "k";
    o.redirect_url = "cotter://auth";
    o.state = "s";
    o.code_challenge = "c";
    return o;
}

const char *const kQuery = "?api_key=k&redirect_url=cotter%3A%2F%2Fauth&type=EMAIL&state=s&code_challenge=c";

int code_of(const cotter_login_url_options &o) {
    try {
        cotter::login_url(o);
    } catch (const cotter::Error &e) {
        return e.code();
    }
    return COTTER_OK;
}

}  // namespace

TEST_CASE("cotter.hpp login_url_options(): the current version, every string NULL, from_environment 0") {
    const cotter_login_url_options o = cotter::login_url_options();
    CHECK(o.version == COTTER_LOGIN_URL_OPTIONS_VERSION);
    CHECK(o.version == 2);
    CHECK(o.login_url == nullptr);
    CHECK(o.api_key_id == nullptr);
    CHECK(o.redirect_url == nullptr);
    CHECK(o.state == nullptr);
    CHECK(o.code_challenge == nullptr);
    CHECK(o.identifier_type == nullptr);
    CHECK(o.auth_method == nullptr);
    CHECK(o.input == nullptr);
    CHECK(o.cotter_user_id == nullptr);
    CHECK(o.from_environment == 0);
}

TEST_CASE("cotter.hpp login_url: $COTTER_LOGIN_URL is read only with from_environment 1, and an explicit URL wins") {
    LoginUrlEnv env("http://127.0.0.1:9/from-env");
    cotter_login_url_options o = required();
    CHECK(cotter::login_url(o).str() == std::string(COTTER_DEFAULT_LOGIN_URL) + kQuery);
    o.from_environment = 1;
    CHECK(cotter::login_url(o).str() == std::string("http://127.0.0.1:9/from-env") + kQuery);
    o.login_url = "http://127.0.0.1:8/given";
    CHECK(cotter::login_url(o).str() == std::string("http://127.0.0.1:8/given") + kQuery);
    o.login_url = "";  // empty counts as left out
    CHECK(cotter::login_url(o).str() == std::string("http://127.0.0.1:9/from-env") + kQuery);
}

TEST_CASE("cotter.hpp login_url: from_environment 1 without the variable is the default page") {
    LoginUrlEnv env(nullptr);
    cotter_login_url_options o = required();
    o.from_environment = 1;
    CHECK(cotter::login_url(o).str() == std::string(COTTER_DEFAULT_LOGIN_URL) + kQuery);
}

TEST_CASE("cotter.hpp login_url: a version-1 struct ends before from_environment (whatever that memory holds)") {
    LoginUrlEnv env("http://127.0.0.1:9/from-env");
    cotter_login_url_options o = required();
    o.version = 1;
    o.from_environment = 1;  // past the end of a version-1 struct: never read
    CHECK(cotter::login_url(o).str() == std::string(COTTER_DEFAULT_LOGIN_URL) + kQuery);
}

TEST_CASE("cotter.hpp login_url: bad options throw cotter::Error COTTER_EINVAL") {
    LoginUrlEnv env(nullptr);
    cotter_login_url_options o = required();
    o.from_environment = 2;  // range 0..1
    CHECK(code_of(o) == COTTER_EINVAL);
    o = required();
    o.version = 3;  // a version this library does not know
    CHECK(code_of(o) == COTTER_EINVAL);
    o = required();
    o.state = nullptr;
    CHECK(code_of(o) == COTTER_EINVAL);
    o = required();
    o.login_url = "ftp://127.0.0.1/app";
    CHECK(code_of(o) == COTTER_EINVAL);
}
