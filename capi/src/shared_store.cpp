/**
 * @file shared_store.cpp
 * @brief C ABI: cotter_shared_store (sessions shared by a fleet through Redis, docs/shared-sessions.md) over a
 * caller's adapter struct. The hiredis adapter that ships in the library is in redis_hiredis.cpp.
 */
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client_objects.hpp"

namespace tk = cotter::core::token;
using cotter::capi::report;

namespace {

/// Text from an adapter (a Redis error): capped and stripped of control characters before it reaches a message.
std::string clean_message(const char *m) {
    std::string out;
    if (!m) return "the Redis adapter reported an error";
    for (size_t i = 0; m[i] && out.size() < 512; ++i) out += (static_cast<unsigned char>(m[i]) < 0x20) ? ' ' : m[i];
    return out;
}

/// The caller's adapter struct as the core's redis_adapter. `release` runs when the core store is destroyed, which
/// happens once the handle and every session using it are gone.
class c_adapter final : public tk::redis_adapter {
public:
    explicit c_adapter(const cotter_shared_store_adapter &a) : a_(a) {}
    ~c_adapter() override {
        if (a_.release) a_.release(a_.payload);
    }

    void eval(const tk::redis_script &script, const std::vector<std::string> &keys,
              const std::vector<cotter::core::secret_string> &args, std::function<void(tk::redis_reply &&)> done) override {
        std::vector<const char *> k, v;
        for (const auto &key : keys) k.push_back(key.c_str());
        for (const auto &arg : args) v.push_back(arg.c_str());
        auto *ctx = new std::function<void(tk::redis_reply &&)>(std::move(done));
        const int rc = a_.eval(a_.payload, script.source, script.sha1.c_str(), k.data(), k.size(), v.data(), v.size(),
                               &c_adapter::on_done, ctx);
        if (rc != 0) {  // not started: `done` will not be called by the adapter
            std::unique_ptr<std::function<void(tk::redis_reply &&)>> fn(ctx);
            tk::redis_reply r;
            r.code = COTTER_ESHARED_UNAVAILABLE;
            r.message = "the Redis adapter could not start the command";
            (*fn)(std::move(r));
        }
    }

    bool can_wait() const noexcept override { return a_.wait != nullptr; }

    void wait(const std::string &channel, int64_t timeout_ms, std::function<void(int)> done) override {
        auto *ctx = new std::function<void(int)>(std::move(done));
        if (a_.wait(a_.payload, channel.c_str(), timeout_ms, &c_adapter::on_wait_done, ctx) != 0) {
            // Not started: `done` will not be called by the adapter; the waiter polls instead.
            std::unique_ptr<std::function<void(int)>> fn(ctx);
            (*fn)(COTTER_ESHARED_UNAVAILABLE);
        }
    }

private:
    static void on_wait_done(void *ctx, int status) noexcept {
        std::unique_ptr<std::function<void(int)>> fn(static_cast<std::function<void(int)> *>(ctx));
        if (!fn) return;
        // Only "a message" and "timed out" mean what they say; anything else the adapter reports is a failed wait.
        if (status != COTTER_OK && status != COTTER_ETIMEOUT) status = COTTER_ESHARED_UNAVAILABLE;
        try {
            (*fn)(status);
        } catch (...) {
            // The continuation posts to the I/O thread and catches its own errors: nothing else to do here.
        }
    }

    static void on_done(void *ctx, int status, const char **items, const size_t *lens, size_t count,
                        const char *message) noexcept {
        std::unique_ptr<std::function<void(tk::redis_reply &&)>> fn(static_cast<std::function<void(tk::redis_reply &&)> *>(ctx));
        if (!fn) return;
        try {
            tk::redis_reply r;
            if (status == COTTER_OK && (count == 0 || (items && lens))) {
                r.items.reserve(count);
                for (size_t i = 0; i < count; ++i)
                    r.items.emplace_back(items[i] ? std::string(items[i], lens[i]) : std::string());
            } else {
                // Whatever the adapter says went wrong, Redis was not usable for this step.
                r.code = COTTER_ESHARED_UNAVAILABLE;
                r.message = status == COTTER_OK ? "the Redis adapter returned a reply without items" : clean_message(message);
            }
            (*fn)(std::move(r));
        } catch (...) {
            // The continuation catches its own errors; only an allocation here could land: nothing else to do.
        }
    }

    cotter_shared_store_adapter a_;
};

}  // namespace

extern "C" {

COTTER_API int cotter_shared_store_options_init(cotter_shared_store_options *opts, unsigned int version) noexcept {
    if (!opts || version != COTTER_SHARED_STORE_OPTIONS_VERSION) return COTTER_EINVAL;
    *opts = cotter_shared_store_options COTTER_SHARED_STORE_OPTIONS_INIT;
    return COTTER_OK;
}

COTTER_API int cotter_shared_store_adapter_init(cotter_shared_store_adapter *adapter, unsigned int version) noexcept {
    if (!adapter || version < 1 || version > COTTER_SHARED_STORE_ADAPTER_VERSION) return COTTER_EINVAL;
    const cotter_shared_store_adapter defaults = COTTER_SHARED_STORE_ADAPTER_INIT;
    // A version-1 caller's struct ends before `wait`: fill only what it has.
    std::memcpy(adapter, &defaults, version >= 2 ? sizeof defaults : offsetof(cotter_shared_store_adapter, wait));
    adapter->version = version;
    return COTTER_OK;
}

COTTER_API int cotter_shared_store_new(cotter_shared_store **out, const cotter_shared_store_adapter *adapter,
                                       const cotter_shared_store_options *opts, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(adapter != nullptr, "adapter must not be NULL", out_error);
    COTTER_CHECK_ARG(adapter->version >= 1 && adapter->version <= COTTER_SHARED_STORE_ADAPTER_VERSION,
                     "shared store adapter: unknown version (initialise it with cotter_shared_store_adapter_init)",
                     out_error);
    COTTER_CHECK_ARG(adapter->eval != nullptr, "shared store adapter: eval is required", out_error);
    COTTER_CHECK_ARG(opts == nullptr || opts->version == COTTER_SHARED_STORE_OPTIONS_VERSION,
                     "shared store options: unknown version (initialise them with cotter_shared_store_options_init)",
                     out_error);
    COTTER_API_BEGIN
    // Version 1 ends before `wait` (its adapters poll): read no further than the caller's struct goes.
    cotter_shared_store_adapter a = COTTER_SHARED_STORE_ADAPTER_INIT;
    std::memcpy(&a, adapter, adapter->version >= 2 ? sizeof a : offsetof(cotter_shared_store_adapter, wait));
    const cotter_shared_store_options defaults = COTTER_SHARED_STORE_OPTIONS_INIT;
    const cotter_shared_store_options &o = opts ? *opts : defaults;
    tk::shared_store_options so;
    if (o.key_prefix) so.key_prefix = o.key_prefix;
    so.lease_ttl_ms = o.lease_ttl_ms;
    so.wait_ms = o.wait_ms;
    // Checked before the adapter is owned: a failure here must not call `release` (the caller still owns it).
    tk::shared_store probe_options_only(
        std::make_unique<c_adapter>(cotter_shared_store_adapter{a.version, a.eval, nullptr, nullptr, nullptr}), so);
    auto handle = std::make_unique<cotter_shared_store>();
    auto owned = std::make_unique<c_adapter>(a);
    handle->s = std::make_shared<tk::shared_store>(std::move(owned), std::move(so));
    *out = handle.release();
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API void cotter_shared_store_free(cotter_shared_store *store) noexcept { delete store; }

}  // extern "C"
