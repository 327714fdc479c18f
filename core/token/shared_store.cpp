/**
 * @file shared_store.cpp
 * @brief The shared-session protocol (see shared_store.hpp and docs/shared-sessions.md): its Lua scripts, in this
 * one place, and the parsing of their replies. Every reply is a flat array of strings whose first item names the
 * outcome, so that an adapter only flattens a Redis array.
 */
#include "token/shared_store.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace cotter::core::token {
namespace {

// KEYS[1] = tokens hash. The state as every script reports it: missing / out v / tokens v json.
constexpr const char *k_read = R"lua(
local t = redis.call('HMGET', KEYS[1], 'v', 'json')
if not t[1] then return {'missing'} end
if not t[2] then return {'out', t[1]} end
return {'tokens', t[1], t[2]}
)lua";

// KEYS[1] = tokens, KEYS[2] = lease; ARGV = owner, ttl_ms, known version, fresh_after (Unix s), force (0/1).
// A newer fresh set is handed over without a lease; otherwise the lease is taken (NX) with the set re-read in the
// same step, or its holder's remaining TTL is returned.
constexpr const char *k_acquire = R"lua(
local t = redis.call('HMGET', KEYS[1], 'v', 'json', 'exp')
if not t[1] then return {'missing'} end
if not t[2] then return {'out', t[1]} end
if ARGV[5] == '0' and t[1] ~= ARGV[3] then
  local exp = tonumber(t[3] or '0') or 0
  if exp == 0 or exp > tonumber(ARGV[4]) then return {'fresh', t[1], t[2]} end
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'lease', t[1], t[2]} end
return {'busy', tostring(redis.call('PTTL', KEYS[2])), t[1]}
)lua";

// KEYS[1] = tokens, KEYS[2] = lease; ARGV = owner, expected version, json, exp, channel.
// The fencing check: only the version read under the lease may be replaced. The lease is released if still ours.
constexpr const char *k_save = R"lua(
local v = redis.call('HGET', KEYS[1], 'v')
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
if v ~= ARGV[2] then
  local t = redis.call('HMGET', KEYS[1], 'v', 'json')
  if not t[1] then return {'fenced', 'missing'} end
  if not t[2] then return {'fenced', 'out', t[1]} end
  return {'fenced', 'tokens', t[1], t[2]}
end
local nv = tostring(tonumber(v) + 1)
redis.call('HSET', KEYS[1], 'v', nv, 'json', ARGV[3], 'exp', ARGV[4])
redis.call('PUBLISH', ARGV[5], nv)
return {'saved', nv}
)lua";

// KEYS[1] = lease; ARGV[1] = owner.
constexpr const char *k_release = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {'released'}
end
return {'gone'}
)lua";

// KEYS[1] = tokens; ARGV = json, exp, channel. A new login: no lease, no compare (a refresh in flight is fenced).
constexpr const char *k_set = R"lua(
local nv = tostring(tonumber(redis.call('HGET', KEYS[1], 'v') or '0') + 1)
redis.call('HSET', KEYS[1], 'v', nv, 'json', ARGV[1], 'exp', ARGV[2])
redis.call('PUBLISH', ARGV[3], nv)
return {'saved', nv}
)lua";

// KEYS[1] = tokens; ARGV[1] = channel. Leaves the version as a tombstone: "logged out", not "missing".
constexpr const char *k_logout = R"lua(
local nv = tostring(tonumber(redis.call('HGET', KEYS[1], 'v') or '0') + 1)
redis.call('HDEL', KEYS[1], 'json', 'exp')
redis.call('HSET', KEYS[1], 'v', nv)
redis.call('PUBLISH', ARGV[1], nv)
return {'out', nv}
)lua";

std::string sha1_hex(const char *text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(text, std::char_traits<char>::length(text), md, &len, EVP_sha1(), nullptr) != 1)
        fail(COTTER_EINTERNAL, "SHA1 failed");
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

const redis_script &script(int which) {
    static const redis_script scripts[] = {
        {"read", k_read, sha1_hex(k_read)},          {"acquire", k_acquire, sha1_hex(k_acquire)},
        {"save", k_save, sha1_hex(k_save)},          {"release", k_release, sha1_hex(k_release)},
        {"set", k_set, sha1_hex(k_set)},             {"logout", k_logout, sha1_hex(k_logout)},
    };
    return scripts[which];
}
enum { s_read, s_acquire, s_save, s_release, s_set, s_logout };

std::string random_owner() {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) fail(COTTER_EINTERNAL, "RAND_bytes failed");
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : b) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

[[noreturn]] void bad_reply(const char *script_name) {
    fail(COTTER_ESHARED_UNAVAILABLE, std::string("the shared store answered the '") + script_name +
                                         "' script with an unexpected reply (another program writes these keys?)");
}

/// Reads "missing" | "out v" | "tokens v json" at items[at...].
shared_state parse_state(const std::vector<secret_string> &items, size_t at, const char *script_name) {
    shared_state s;
    if (items.size() <= at) bad_reply(script_name);
    const std::string &kind = items[at].str();
    if (kind == "missing") return s;
    if (items.size() <= at + 1) bad_reply(script_name);
    s.version = items[at + 1].str();
    if (kind == "out") {
        s.kind = shared_state::logged_out;
        return s;
    }
    if (kind != "tokens" || items.size() <= at + 2) bad_reply(script_name);
    s.kind = shared_state::tokens;
    s.set = std::make_shared<const token_set>(token_set::from_json(items[at + 2].str(), "the shared store's token set"));
    return s;
}

/// Reads "<word> v json": fresh and lease replies carry the state in the tokens form.
shared_state parse_tokens_at(const std::vector<secret_string> &items, const char *script_name) {
    if (items.size() < 3) bad_reply(script_name);
    shared_state s;
    s.kind = shared_state::tokens;
    s.version = items[1].str();
    s.set = std::make_shared<const token_set>(token_set::from_json(items[2].str(), "the shared store's token set"));
    return s;
}

bool printable_ascii_without_braces(const std::string &s) {
    for (unsigned char c : s)
        if (c < 0x21 || c > 0x7e || c == '{' || c == '}') return false;
    return true;
}

template <class T>
void deliver(const shared_store::done_fn<T> &done, T &&value) {
    done(COTTER_OK, error_info{}, std::move(value));
}

}  // namespace

const std::vector<const redis_script *> &shared_store_scripts() {
    static const std::vector<const redis_script *> all = {&script(s_read),    &script(s_acquire), &script(s_save),
                                                          &script(s_release), &script(s_set),     &script(s_logout)};
    return all;
}

shared_store::shared_store(std::unique_ptr<redis_adapter> adapter, shared_store_options options)
    : adapter_(std::move(adapter)), options_(std::move(options)) {
    if (!adapter_) fail(COTTER_EINVAL, "a shared store needs an adapter");
    if (options_.key_prefix.empty() || options_.key_prefix.size() > 64 ||
        !printable_ascii_without_braces(options_.key_prefix))
        fail(COTTER_EINVAL, "shared store options: key_prefix must be 1..64 printable ASCII characters without { }");
    core::options::check(core::options::shared_store::lease_ttl_ms_range, options_.lease_ttl_ms);
    core::options::check(core::options::shared_store::wait_ms_range, options_.wait_ms);
}

void shared_store::check_session_id(const std::string &id) {
    if (id.empty() || id.size() > 200 || !printable_ascii_without_braces(id))
        fail(COTTER_EINVAL, "shared_session_id must be 1..200 printable ASCII characters without { } (it is the "
                            "Redis hash tag of the session's keys)");
}

std::string shared_store::tokens_key(const std::string &id) const { return options_.key_prefix + ":{" + id + "}:tokens"; }
std::string shared_store::lease_key(const std::string &id) const { return options_.key_prefix + ":{" + id + "}:lease"; }
std::string shared_store::channel(const std::string &id) const { return options_.key_prefix + ":{" + id + "}:changed"; }

void shared_store::run(const redis_script &s, std::vector<std::string> keys, std::vector<secret_string> args,
                       std::function<void(redis_reply &&)> on_ok, std::function<void(int, error_info &&)> on_error) {
    // Keeps the store (and so its adapter) alive until the adapter completed.
    auto self = shared_from_this();
    auto done = [self, on_ok = std::move(on_ok), on_error, name = s.name](redis_reply &&r) {
        if (r.code != COTTER_OK) {
            error_info e;
            e.code = r.code;
            e.message = "shared store (" + std::string(name) + "): " + r.message;
            on_error(r.code, std::move(e));
            return;
        }
        try {
            on_ok(std::move(r));
        } catch (const error &e) {
            error_info info = e.info();
            on_error(info.code, std::move(info));
        } catch (const std::bad_alloc &) {
            error_info info;
            info.code = COTTER_ENOMEM;
            info.message = "out of memory";
            on_error(COTTER_ENOMEM, std::move(info));
        }
    };
    adapter_->eval(s, keys, args, std::move(done));
}

void shared_store::wait_changed(const std::string &id, int64_t timeout_ms, std::function<void(int status)> done) {
    // Keeps the store (and so its adapter) alive until the adapter completed: `release` never races a wait.
    adapter_->wait(channel(id), std::max<int64_t>(timeout_ms, 1),
                   [self = shared_from_this(), done = std::move(done)](int status) { done(status); });
}

void shared_store::read(const std::string &id, done_fn<shared_state> done) {
    run(script(s_read), {tokens_key(id)}, {},
        [done](redis_reply &&r) { deliver(done, parse_state(r.items, 0, "read")); },
        [done](int code, error_info &&e) { done(code, std::move(e), shared_state{}); });
}

void shared_store::acquire(const std::string &id, const std::string &known_version, int64_t fresh_after, bool force,
                           done_fn<lease_outcome> done) {
    std::string owner = random_owner();
    std::vector<secret_string> args;
    args.emplace_back(owner);
    args.emplace_back(std::to_string(options_.lease_ttl_ms));
    args.emplace_back(known_version);
    args.emplace_back(std::to_string(fresh_after));
    args.emplace_back(force ? "1" : "0");
    run(script(s_acquire), {tokens_key(id), lease_key(id)}, std::move(args),
        [done, owner](redis_reply &&r) {
            lease_outcome out;
            if (r.items.empty()) bad_reply("acquire");
            const std::string &kind = r.items[0].str();
            if (kind == "missing" || kind == "out") {
                out.state = parse_state(r.items, 0, "acquire");
                out.kind = kind == "missing" ? lease_outcome::missing : lease_outcome::logged_out;
            } else if (kind == "fresh" || kind == "lease") {
                out.state = parse_tokens_at(r.items, "acquire");
                out.kind = kind == "fresh" ? lease_outcome::fresh : lease_outcome::leased;
                if (out.kind == lease_outcome::leased) out.owner = owner;
            } else if (kind == "busy" && r.items.size() >= 3) {
                out.kind = lease_outcome::busy;
                out.lease_pttl_ms = std::strtoll(r.items[1].c_str(), nullptr, 10);
                out.state.kind = shared_state::tokens;
                out.state.version = r.items[2].str();
            } else {
                bad_reply("acquire");
            }
            deliver(done, std::move(out));
        },
        [done](int code, error_info &&e) { done(code, std::move(e), lease_outcome{}); });
}

void shared_store::save(const std::string &id, const std::string &owner, const std::string &expected_version,
                        const token_set &t, done_fn<save_outcome> done) {
    std::vector<secret_string> args;
    args.emplace_back(owner);
    args.emplace_back(expected_version);
    args.emplace_back(t.to_json());
    args.emplace_back(std::to_string(t.access_expires_at));
    args.emplace_back(channel(id));
    auto written = std::make_shared<const token_set>(t);
    run(script(s_save), {tokens_key(id), lease_key(id)}, std::move(args),
        [done, written](redis_reply &&r) {
            save_outcome out;
            if (r.items.size() >= 2 && r.items[0].str() == "saved") {
                out.saved = true;
                out.state.kind = shared_state::tokens;
                out.state.version = r.items[1].str();
                out.state.set = written;
            } else if (!r.items.empty() && r.items[0].str() == "fenced") {
                out.state = parse_state(r.items, 1, "save");
            } else {
                bad_reply("save");
            }
            deliver(done, std::move(out));
        },
        [done](int code, error_info &&e) { done(code, std::move(e), save_outcome{}); });
}

void shared_store::release(const std::string &id, const std::string &owner, done_fn<bool> done) {
    std::vector<secret_string> args;
    args.emplace_back(owner);
    run(script(s_release), {lease_key(id)}, std::move(args),
        [done](redis_reply &&r) { deliver(done, !r.items.empty() && r.items[0].str() == "released"); },
        [done](int code, error_info &&e) { done(code, std::move(e), false); });
}

void shared_store::set(const std::string &id, const token_set &t, done_fn<shared_state> done) {
    std::vector<secret_string> args;
    args.emplace_back(t.to_json());
    args.emplace_back(std::to_string(t.access_expires_at));
    args.emplace_back(channel(id));
    auto written = std::make_shared<const token_set>(t);
    run(script(s_set), {tokens_key(id)}, std::move(args),
        [done, written](redis_reply &&r) {
            if (r.items.size() < 2 || r.items[0].str() != "saved") bad_reply("set");
            shared_state s;
            s.kind = shared_state::tokens;
            s.version = r.items[1].str();
            s.set = written;
            deliver(done, std::move(s));
        },
        [done](int code, error_info &&e) { done(code, std::move(e), shared_state{}); });
}

void shared_store::logout(const std::string &id, done_fn<shared_state> done) {
    std::vector<secret_string> args;
    args.emplace_back(channel(id));
    run(script(s_logout), {tokens_key(id)}, std::move(args),
        [done](redis_reply &&r) { deliver(done, parse_state(r.items, 0, "logout")); },
        [done](int code, error_info &&e) { done(code, std::move(e), shared_state{}); });
}

}  // namespace cotter::core::token
