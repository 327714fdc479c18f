/**
 * @file environment.hpp
 * @brief The one reader of the environment variables the core honours, and the list of them (docs/c-api.md,
 * "Environment"). Read always: COTTER_BASE_URL and COTTER_WORKER_URL (an empty URL option), SSL_CERT_FILE (an
 * empty CA file). Read only on the caller's explicit opt-in (`from_environment` of the options structs), because
 * they decide who is trusted or where a user is sent: COTTER_API_KEY_ID and COTTER_API_SECRET_KEY (client),
 * COTTER_API_KEY_ID and COTTER_CA_FILE (verifier), COTTER_LOGIN_URL (login URL).
 */
#pragma once

#include <cstdlib>
#include <string>

namespace cotter::core {

/// The variable's value, or `fallback` when it is unset or empty.
inline std::string env_or(const char *name, const char *fallback) {
    const char *v = std::getenv(name);
    return v && *v ? std::string(v) : std::string(fallback);
}

/// Fills an empty `value` from the variable (when the variable is set and not empty).
inline void fill_from_env(std::string &value, const char *name) {
    if (value.empty()) value = env_or(name, "");
}

}  // namespace cotter::core
