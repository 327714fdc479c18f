/**
 * @file global.hpp
 * @brief Process-wide initialisation (libcurl), reference-counted and thread-safe.
 */
#pragma once

namespace cotter::core {

/// Takes one reference; the first one runs curl_global_init. Returns a cotter_status.
int global_acquire() noexcept;
/// Drops one reference; the last one runs curl_global_cleanup.
void global_release() noexcept;
/// Makes sure libcurl is initialised for the rest of the process (used lazily by objects that need it).
int global_ensure() noexcept;

}  // namespace cotter::core
