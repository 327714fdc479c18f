/**
 * @file client_fixture.hpp
 * @brief Shared helpers for the token client and session tests: a core client bound to an emulator, and a
 * helper that runs a call expected to fail and returns its error.
 */
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "support/emulator.hpp"
#include "token/client.hpp"

namespace cotter::test {

/// Client options for `emu`: its base and worker URLs, key and secret, fast retries.
inline core::token::client_options client_options_for(const emulator &emu, bool with_secret = true) {
    core::token::client_options o;
    o.api_key_id = emu.info().api_key_id;
    if (with_secret) o.api_secret_key = core::secret_string(emu.info().api_secret_key);
    o.base_url = emu.info().base_url;
    o.worker_url = emu.info().worker_url;
    o.http.ca_file = emu.info().ca_file;
    o.http.retry_base_ms = 10;
    o.http.retry_max_ms = 50;
    o.http.timeout_ms = 5000;
    return o;
}

/// Runs `f`, which must throw cotter::core::error; returns its details (code 0 when nothing was thrown).
inline core::error_info error_of(const std::function<void()> &f) {
    try {
        f();
    } catch (const core::error &e) {
        return e.info();
    }
    core::error_info none;
    none.code = 0;
    return none;
}

}  // namespace cotter::test
