/**
 * @file global.cpp
 * @brief Reference-counted curl_global_init. libcurl >= 7.84 makes global init thread-safe, but we still
 * serialise it so older libcurls and the ref-count stay correct.
 */
#include "common/global.hpp"

#include <curl/curl.h>

#include <mutex>

#include "common/status.hpp"

namespace cotter::core {
namespace {
std::mutex g_mutex;
long g_refs = 0;
bool g_lazy_taken = false;
}  // namespace

int global_acquire() noexcept {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_refs == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return COTTER_EINTERNAL;
    ++g_refs;
    return COTTER_OK;
}

void global_release() noexcept {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_refs == 0) return;
    if (--g_refs == 0) curl_global_cleanup();
}

int global_ensure() noexcept {
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        if (g_lazy_taken) return COTTER_OK;
        g_lazy_taken = true;
    }
    // The lazy reference is never released: objects may outlive any explicit shutdown.
    return global_acquire();
}

}  // namespace cotter::core
