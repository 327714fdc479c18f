/**
 * @file verifier.cpp
 * @brief verify(): the whole policy in one pass, in the order docs/verifier.md lists it. The hot path allocates
 * nothing unless claims are requested or cached: segments are decoded into per-thread padded buffers and parsed
 * with the thread's simdjson parser.
 */
#include "jwt/verifier.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <vector>

#include "common/base64.hpp"
#include "common/environment.hpp"
#include "json/reader.hpp"
#include "jwt/es256.hpp"
#include "jwt/remote_jwks.hpp"
#include "jwt/token_cache.hpp"

namespace cotter::core::jwt {
namespace {

using simdjson::dom::element;

constexpr size_t k_max_payload_bytes = base64::url_decoded_size(k_max_token_bytes);

// Per-thread decode buffers with simdjson's padding, so parsing needs no copy.
struct scratch {
    std::vector<char> header = std::vector<char>(k_max_header_bytes + simdjson::SIMDJSON_PADDING);
    std::vector<char> payload = std::vector<char>(k_max_payload_bytes + simdjson::SIMDJSON_PADDING);
    std::vector<uint8_t> signature = std::vector<uint8_t>(k_max_payload_bytes);
};

scratch &thread_scratch() {
    thread_local scratch s;
    return s;
}

int reject(error_info *err, int code, const char *message) {
    if (err) {
        err->code = code;
        err->message = message;
    }
    return code;
}

int json_failure(error_info *err, json::parse_status st, const char *what) {
    if (st == json::parse_status::no_memory) throw std::bad_alloc();
    std::string msg = std::string("token ") + what +
                      (st == json::parse_status::too_deep ? " is nested too deeply" : " is not valid JSON");
    return set_error(err, COTTER_EJWT_MALFORMED, std::move(msg));
}

bool has_control_char(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

// Header members that carry or locate keys, or change what is signed; honouring any of them lets the token choose
// its own key or format (CVE-2018-0114, GHSA-993g-76c3-p5m4). We reject rather than ignore, so that a token meant
// for a verifier that would honour them fails loudly here too.
bool is_forbidden_header(std::string_view name) {
    return name == "jwk" || name == "jku" || name == "x5u" || name == "x5c" || name == "x5t" || name == "x5t#S256" ||
           name == "b64" || name == "zip" || name == "enc" || name == "cty";
}

int64_t saturating_add(int64_t a, int64_t b) {
    if (b > 0 && a > std::numeric_limits<int64_t>::max() - b) return std::numeric_limits<int64_t>::max();
    return a + b;
}

void copy_string(element v, optional_string &out) {
    if (v.is_string()) {
        out.value.assign(v.get_string().value_unsafe());
        out.present = true;
    }
}

}  // namespace

verifier::verifier(verifier_config config) : config_(std::move(config)) {
    core::options::check(core::options::jwt_verifier::from_environment_range, config_.from_environment);
    if (config_.from_environment) {
        fill_from_env(config_.audience, "COTTER_API_KEY_ID");
        fill_from_env(config_.ca_file, "COTTER_CA_FILE");
    }
    if (config_.audience.empty())
        fail(COTTER_EINVAL, config_.from_environment ? std::string(k_audience_required) + ": pass it or set COTTER_API_KEY_ID"
                                                     : std::string(k_audience_required));
    if (config_.issuer.empty()) fail(COTTER_EINVAL, "issuer must not be empty");
    namespace opt = core::options::jwt_verifier;
    core::options::check(opt::leeway_seconds_range, config_.leeway_seconds);
    if (config_.jwks_json.empty() == config_.jwks_url.empty())
        fail(COTTER_EINVAL, k_one_key_source);
    core::options::check(opt::jwks_max_age_ms_range, config_.jwks_max_age_ms);
    core::options::check(opt::jwks_cooldown_ms_range, config_.jwks_cooldown_ms);
    core::options::check(opt::jwks_timeout_ms_range, config_.jwks_timeout_ms);
    core::options::check(opt::jwks_max_bytes_range, config_.jwks_max_bytes);
    core::options::check(opt::token_cache_size_range, config_.token_cache_size);

    if (!config_.jwks_json.empty()) {
        error_info err;
        if (parse_jwks(config_.jwks_json, nullptr, static_keys_, &err) != COTTER_OK) throw error(err);
    } else {
        remote_jwks_options o;
        o.url = config_.jwks_url;
        o.ca_file = config_.ca_file;
        o.max_age_ms = config_.jwks_max_age_ms;
        o.cooldown_ms = config_.jwks_cooldown_ms;
        o.timeout_ms = config_.jwks_timeout_ms;
        o.max_bytes = config_.jwks_max_bytes;
        o.log = config_.log;
        remote_ = std::make_unique<remote_jwks>(std::move(o));
    }
    if (config_.token_cache_size > 0) cache_ = std::make_unique<token_cache>(config_.token_cache_size);
}

verifier::~verifier() = default;

int64_t verifier::now_seconds() const {
    if (config_.clock) return config_.clock();
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int64_t verifier::now_ms() const {
    // Fetch bookkeeping uses the injected clock when there is one (tests drive cooldowns with it), else a
    // monotonic clock that wall-clock jumps cannot disturb.
    if (config_.clock) return std::clamp<int64_t>(config_.clock(), 0, INT64_MAX / 1000) * 1000;
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::shared_ptr<const key_set> verifier::keys() const { return remote_ ? remote_->snapshot() : static_keys_; }

uint64_t verifier::fetch_count() const noexcept { return remote_ ? remote_->fetch_count() : 0; }

size_t verifier::cached_tokens() const { return cache_ ? cache_->size() : 0; }

int verifier::refresh(error_info *err) { return remote_ ? remote_->refresh(now_ms(), err) : COTTER_OK; }

const http::transport *verifier::io() const noexcept { return remote_ ? &remote_->transport() : nullptr; }

uint64_t verifier::refresh_async(std::function<void(const error_info *)> done, int64_t timeout_ms) {
    if (!remote_) {
        done(nullptr);
        return 0;
    }
    return remote_->refresh_async(now_ms(), std::move(done), timeout_ms);
}

void verifier::cancel_refresh(uint64_t id) {
    if (remote_) remote_->cancel_wait(id);
}

int verifier::verify(std::string_view token, std::shared_ptr<const claims> *out, error_info *err) {
    if (out) out->reset();
    if (token.empty()) return reject(err, COTTER_EJWT_MALFORMED, "empty token");
    if (token.size() > k_max_token_bytes) return reject(err, COTTER_EJWT_MALFORMED, "token larger than 16 KiB");
    const int64_t now = now_seconds();

    // 0. The verified-token cache: a hit is the same token bytes, verified before with a key still in the set.
    if (cache_) {
        // For a remote set this is the same (lock-free when fresh) path as below, so a max-age refresh still
        // happens under cached traffic and evicts entries whose key left the set.
        // Nothing can be cached before the first keys arrive, so a remote set without keys is not fetched here
        // (a malformed token must never cause a fetch).
        // A static set is read in place: no reference count is touched on the hit path.
        std::shared_ptr<const key_set> holder;
        const key_set *current = static_keys_.get();
        if (remote_) {
            error_info ignored;
            holder = remote_->snapshot();
            if (holder && remote_->current(now_ms(), holder, &ignored) != COTTER_OK) holder.reset();
            current = holder.get();
        }
        if (current && cache_->find(token, now, *current, out)) return COTTER_OK;
    }

    // 1. Structure: exactly three segments. Counting stops at the third dot, so a run of dots costs nothing.
    const size_t dot1 = token.find('.');
    if (dot1 == std::string_view::npos) return reject(err, COTTER_EJWT_MALFORMED, "token has 1 segment, expected 3");
    const size_t dot2 = token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos) return reject(err, COTTER_EJWT_MALFORMED, "token has 2 segments, expected 3");
    if (token.find('.', dot2 + 1) != std::string_view::npos)
        return reject(err, COTTER_EJWT_MALFORMED, "token has more than 3 segments (JWE and nested tokens are not accepted)");
    const std::string_view header_b64 = token.substr(0, dot1);
    const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string_view signature_b64 = token.substr(dot2 + 1);
    if (header_b64.empty()) return reject(err, COTTER_EJWT_MALFORMED, "empty header segment");
    if (payload_b64.empty()) return reject(err, COTTER_EJWT_MALFORMED, "empty payload segment");

    scratch &buf = thread_scratch();

    // 2. Header: strict base64url, JSON object, no duplicate names, then the policy.
    if (base64::url_decoded_size(header_b64.size()) > k_max_header_bytes)
        return reject(err, COTTER_EJWT_MALFORMED, "header larger than 4 KiB");
    size_t header_len = 0;
    if (!base64::url_decode(header_b64, reinterpret_cast<uint8_t *>(buf.header.data()), k_max_header_bytes, &header_len))
        return reject(err, COTTER_EJWT_MALFORMED, "header is not strict base64url");
    auto &parser = json::thread_parser();
    element header;
    if (auto st = json::parse_padded(parser, buf.header.data(), header_len, header); st != json::parse_status::ok)
        return json_failure(err, st, "header");
    if (!header.is_object()) return reject(err, COTTER_EJWT_MALFORMED, "token header is not a JSON object");
    if (json::has_duplicate_member(header)) return reject(err, COTTER_EJWT_DUPLICATE, "duplicate member in token header");

    element alg, kid_el, typ, crit;
    bool has_alg = false, has_kid = false, has_typ = false, has_crit = false, forbidden = false;
    for (auto field : simdjson::dom::object(header.get_object().value_unsafe())) {
        const std::string_view name = field.key;
        if (name == "alg") has_alg = true, alg = field.value;
        else if (name == "kid") has_kid = true, kid_el = field.value;
        else if (name == "typ") has_typ = true, typ = field.value;
        else if (name == "crit") has_crit = true, crit = field.value;
        else if (is_forbidden_header(name)) forbidden = true;
    }
    // The algorithm is pinned by configuration: the header may only confirm it.
    if (!has_alg) return reject(err, COTTER_EJWT_ALG, "token header has no alg");
    if (!alg.is_string()) return reject(err, COTTER_EJWT_ALG, "token alg is not a string");
    if (alg.get_string().value_unsafe() != "ES256") return reject(err, COTTER_EJWT_ALG, "token alg is not ES256");
    if (has_crit) return reject(err, COTTER_EJWT_CRIT, "token header has crit; no extensions are supported");
    if (forbidden)
        return reject(err, COTTER_EJWT_HEADER, "token header has a forbidden member (jwk, jku, x5u, x5c, x5t, b64, zip, enc, cty)");
    if (has_typ && !typ.is_string()) return reject(err, COTTER_EJWT_HEADER, "token typ is not a string");
    std::array<char, k_max_kid_bytes> kid_buf{};
    size_t kid_len = 0;
    if (has_kid) {
        if (!kid_el.is_string()) return reject(err, COTTER_EJWT_HEADER, "token kid is not a string");
        const std::string_view kid = kid_el.get_string().value_unsafe();
        if (kid.size() > k_max_kid_bytes) return reject(err, COTTER_EJWT_HEADER, "token kid longer than 256 bytes");
        if (has_control_char(kid)) return reject(err, COTTER_EJWT_HEADER, "token kid has control characters");
        // Copied out: the parser's strings are overwritten when the payload (or a fetched key set) is parsed.
        std::memcpy(kid_buf.data(), kid.data(), kid.size());
        kid_len = kid.size();
    }
    const std::string_view kid(kid_buf.data(), kid_len);

    // 3. Payload and signature encodings (cheap; the signature needs decoding before any key work).
    size_t payload_len = 0;
    if (!base64::url_decode(payload_b64, reinterpret_cast<uint8_t *>(buf.payload.data()), k_max_payload_bytes,
                            &payload_len))
        return reject(err, COTTER_EJWT_MALFORMED, "payload is not strict base64url");
    size_t sig_len = 0;
    if (!base64::url_decode(signature_b64, buf.signature.data(), buf.signature.size(), &sig_len))
        return reject(err, COTTER_EJWT_MALFORMED, "signature is not strict base64url");
    if (sig_len != es256::k_signature_bytes)
        return set_error(err, COTTER_EJWT_SIGNATURE,
                         "signature is " + std::to_string(sig_len) + " bytes; ES256 needs exactly 64 (raw r||s)");

    // 4. Key selection: by kid; a kid-less token only against a single-key set. An unknown kid may refetch.
    std::shared_ptr<const key_set> ks;
    if (remote_) {
        if (int rc = remote_->current(now_ms(), ks, err); rc != COTTER_OK) return rc;
    } else {
        ks = static_keys_;
    }
    const std::shared_ptr<const jwk> *selected = ks->select(kid, has_kid);
    if (!selected && remote_) {
        auto newer = remote_->on_kid_miss(ks.get(), now_ms());
        if (newer && newer != ks) {
            ks = std::move(newer);
            selected = ks->select(kid, has_kid);
        }
    }
    if (!selected)
        return reject(err, COTTER_EJWT_KEY_NOT_FOUND,
                      has_kid ? "no key in the key set has the token's kid" : "token has no kid and the key set has several keys");
    const std::shared_ptr<const jwk> key = *selected;
    if (!key->usable()) return set_error(err, COTTER_EJWT_KEY_MISMATCH, "the selected key cannot verify ES256: " + key->unusable_reason);

    // 5. The signature, before anything in the payload is looked at.
    if (!es256::scalars_in_range(buf.signature.data()))
        return reject(err, COTTER_EJWT_SIGNATURE, "signature r or s is outside [1, n-1]");
    const int v = es256::verify(key->pkey.get(), token.data(), dot2, buf.signature.data());
    if (v < 0) throw std::bad_alloc();  // OpenSSL only fails here when it cannot allocate
    if (v == 0) return reject(err, COTTER_EJWT_SIGNATURE, "signature does not verify");

    // 6. Claims.
    int64_t deadline = 0;
    const bool want_claims = out != nullptr || cache_ != nullptr;
    std::shared_ptr<const claims> verified;
    if (int rc = check_claims(std::string_view(buf.payload.data(), payload_len), buf.payload.data(), payload_len, now,
                              key, want_claims ? &verified : nullptr, err, &deadline);
        rc != COTTER_OK)
        return rc;
    if (cache_) cache_->insert(token, verified, key, deadline);
    if (out) *out = std::move(verified);
    return COTTER_OK;
}

int verifier::check_claims(std::string_view payload_text, const char *payload, size_t payload_len, int64_t now,
                           const std::shared_ptr<const jwk> &key, std::shared_ptr<const claims> *out,
                           error_info *err, int64_t *deadline) {
    auto &parser = json::thread_parser();
    element root;
    if (auto st = json::parse_padded(parser, payload, payload_len, root); st != json::parse_status::ok) {
        if (st == json::parse_status::number_range)
            return reject(err, COTTER_EJWT_CLAIM_TYPE, "token payload has a number outside the representable range");
        return json_failure(err, st, "payload");
    }
    if (!root.is_object()) return reject(err, COTTER_EJWT_MALFORMED, "token payload is not a JSON object");
    if (json::has_duplicate_member(root)) return reject(err, COTTER_EJWT_DUPLICATE, "duplicate member in token payload");

    element iss, aud, sub, jti;
    bool has_sub = false, has_jti = false;  // a default element has no document: never call is_*() on it
    bool has_iss = false, has_aud = false, has_exp = false, has_nbf = false, has_iat = false;
    json::numeric_date exp, nbf, iat;
    for (auto field : simdjson::dom::object(root.get_object().value_unsafe())) {
        const std::string_view name = field.key;
        const element v = field.value;
        if (name == "iss") {
            if (!v.is_string()) return reject(err, COTTER_EJWT_CLAIM_TYPE, "iss is not a string");
            has_iss = true, iss = v;
        } else if (name == "aud") {
            if (v.is_array()) {
                for (element a : simdjson::dom::array(v.get_array().value_unsafe()))
                    if (!a.is_string()) return reject(err, COTTER_EJWT_CLAIM_TYPE, "aud holds a non-string");
            } else if (!v.is_string()) {
                return reject(err, COTTER_EJWT_CLAIM_TYPE, "aud is neither a string nor an array of strings");
            }
            has_aud = true, aud = v;
        } else if (name == "sub") {
            if (!v.is_string()) return reject(err, COTTER_EJWT_CLAIM_TYPE, "sub is not a string");
            sub = v, has_sub = true;
        } else if (name == "jti") {
            if (!v.is_string()) return reject(err, COTTER_EJWT_CLAIM_TYPE, "jti is not a string");
            jti = v, has_jti = true;
        } else if (name == "exp" || name == "nbf" || name == "iat") {
            // A number from 0 to 2^63, integer or not (RFC 7519 §2); everything else is refused, never coerced
            // (CVE-2026-25537). A fraction is compared as a number: see json::numeric_date.
            json::numeric_date t;
            if (!json::get_numeric_date(v, t))
                return set_error(err, COTTER_EJWT_CLAIM_TYPE, std::string(name) + " is not a NumericDate (a number from 0 to 2^63)");
            if (name == "exp") has_exp = true, exp = t;
            else if (name == "nbf") has_nbf = true, nbf = t;
            else has_iat = true, iat = t;
        }
    }
    if (!has_exp) return reject(err, COTTER_EJWT_MISSING_CLAIM, "exp is required");
    if (!has_iss) return reject(err, COTTER_EJWT_MISSING_CLAIM, "iss is required");
    if (!has_aud) return reject(err, COTTER_EJWT_MISSING_CLAIM, "aud is required");

    if (iss.get_string().value_unsafe() != config_.issuer) return reject(err, COTTER_EJWT_ISSUER, "iss is not the expected issuer");
    bool aud_ok = false;
    if (aud.is_string()) {
        aud_ok = aud.get_string().value_unsafe() == config_.audience;
    } else {
        for (element a : simdjson::dom::array(aud.get_array().value_unsafe()))
            if (a.get_string().value_unsafe() == config_.audience) aud_ok = true;
    }
    if (!aud_ok) return reject(err, COTTER_EJWT_AUDIENCE, "aud does not contain the expected audience");

    // Expired when now >= exp + leeway (so with leeway 0 a token whose exp is now is already expired).
    const int64_t leeway = config_.leeway_seconds;
    *deadline = saturating_add(exp.ceil, leeway);
    if (now >= *deadline) return reject(err, COTTER_EJWT_EXPIRED, "token expired");
    if (has_nbf && nbf.ceil > saturating_add(now, leeway)) return reject(err, COTTER_EJWT_NOT_YET_VALID, "nbf is in the future");
    if (has_iat && iat.ceil > saturating_add(now, leeway)) return reject(err, COTTER_EJWT_NOT_YET_VALID, "iat is in the future");

    if (out) {
        auto c = std::make_shared<claims>();
        c->payload_json.assign(payload_text);
        c->exp = exp.floor;
        c->nbf = has_nbf ? nbf.floor : 0;
        c->iat = has_iat ? iat.floor : 0;
        copy_string(iss, c->iss);
        if (has_sub) copy_string(sub, c->sub);
        if (has_jti) copy_string(jti, c->jti);
        if (aud.is_string()) {
            c->audiences.emplace_back(aud.get_string().value_unsafe());
        } else {
            for (element a : simdjson::dom::array(aud.get_array().value_unsafe())) c->audiences.emplace_back(a.get_string().value_unsafe());
        }
        for (auto field : simdjson::dom::object(root.get_object().value_unsafe())) {
            const std::string_view name = field.key;
            if (name == "identifier") copy_string(field.value, c->identifier);
            else if (name == "authentication_method") copy_string(field.value, c->authentication_method);
            else if (name == "scope") copy_string(field.value, c->scope);
            else if (name == "type") copy_string(field.value, c->type);
            else if (name == "client_user_id") copy_string(field.value, c->client_user_id);
            else if (name == "auth_time") {
                // Cotter sends a string; an integer is rendered in decimal.
                int64_t t = 0;
                if (field.value.is_string()) copy_string(field.value, c->auth_time);
                else if (json::get_int64_strict(field.value, t)) c->auth_time = {std::to_string(t), true};
            }
        }
        if (key->has_kid) c->kid = {key->kid, true};
        *out = std::move(c);
    }
    return COTTER_OK;
}

}  // namespace cotter::core::jwt
