/**
 * @file key_set.cpp
 * @brief JWKS parsing and key selection (policy in docs/verifier.md, "Key sets").
 */
#include "jwt/key_set.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <algorithm>

#include "common/base64.hpp"
#include "json/reader.hpp"

namespace cotter::core::jwt {
namespace {

using simdjson::dom::element;

struct pkey_ctx_deleter {
    void operator()(EVP_PKEY_CTX *p) const noexcept { EVP_PKEY_CTX_free(p); }
};

int invalid(error_info *err, const std::string &why) { return set_error(err, COTTER_EJWKS_INVALID, "invalid JWKS: " + why); }

// Builds an EVP_PKEY from affine coordinates. EVP_PKEY_fromdata decodes the point (rejecting points off the
// curve); EVP_PKEY_public_check re-checks it explicitly, as the policy promises.
pkey_ptr make_p256_key(const std::string &x, const std::string &y) {
    unsigned char point[65];
    point[0] = 0x04;  // uncompressed
    std::copy(x.begin(), x.end(), point + 1);
    std::copy(y.begin(), y.end(), point + 33);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char *>("prime256v1"), 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
        OSSL_PARAM_construct_end(),
    };
    std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_deleter> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) return nullptr;
    EVP_PKEY *raw = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) <= 0) return nullptr;
    pkey_ptr key(raw);
    std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_deleter> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
    return key;
}

bool get_string(element v, std::string_view &out) {
    if (!v.is_string()) return false;
    out = v.get_string().value_unsafe();
    return true;
}

// Parses one JWK object. Returns COTTER_OK with `out` set, or COTTER_EJWKS_INVALID.
int parse_key(element obj, size_t index, const key_set *previous, std::shared_ptr<const jwk> &out, error_info *err) {
    const std::string where = "key " + std::to_string(index);
    if (!obj.is_object()) return invalid(err, where + " is not an object");
    auto k = std::make_shared<jwk>();
    std::string_view kty, crv, x_b64, y_b64, use, alg, kid;
    bool has_kty = false, has_crv = false, has_x = false, has_y = false, has_use = false, has_alg = false;
    bool has_key_ops = false, ops_verify = false;
    for (auto field : simdjson::dom::object(obj.get_object().value_unsafe())) {
        const std::string_view name = field.key;
        element v = field.value;
        if (name == "kty") {
            if (!(has_kty = get_string(v, kty))) return invalid(err, where + ": kty is not a string");
        } else if (name == "crv") {
            if (!(has_crv = get_string(v, crv))) return invalid(err, where + ": crv is not a string");
        } else if (name == "x") {
            if (!(has_x = get_string(v, x_b64))) return invalid(err, where + ": x is not a string");
        } else if (name == "y") {
            if (!(has_y = get_string(v, y_b64))) return invalid(err, where + ": y is not a string");
        } else if (name == "use") {
            if (!(has_use = get_string(v, use))) return invalid(err, where + ": use is not a string");
        } else if (name == "alg") {
            if (!(has_alg = get_string(v, alg))) return invalid(err, where + ": alg is not a string");
        } else if (name == "kid") {
            if (!(k->has_kid = get_string(v, kid))) return invalid(err, where + ": kid is not a string");
            if (kid.size() > k_max_kid_bytes) return invalid(err, where + ": kid longer than 256 bytes");
        } else if (name == "key_ops") {
            if (!v.is_array()) return invalid(err, where + ": key_ops is not an array");
            has_key_ops = true;
            for (element op : simdjson::dom::array(v.get_array().value_unsafe())) {
                std::string_view s;
                if (!get_string(op, s)) return invalid(err, where + ": key_ops holds a non-string");
                if (s == "verify") ops_verify = true;
            }
        }
        // Everything else is ignored; a private "d" in particular is never read.
    }
    if (!has_kty) return invalid(err, where + ": kty missing");
    k->kid.assign(kid);

    // Keys we will not use for ES256 are kept (by kid) only so that selecting them reports KEY_MISMATCH.
    if (kty != "EC") {
        k->unusable_reason = "key type " + std::string(kty.substr(0, 16)) + " cannot verify ES256";
    } else {
        if (!has_crv) return invalid(err, where + ": crv missing");
        if (!has_x || !has_y) return invalid(err, where + ": x or y missing");
        if (crv != "P-256") {
            k->unusable_reason = "curve " + std::string(crv.substr(0, 16)) + " cannot verify ES256";
        } else {
            if (!base64::url_decode(x_b64, k->x) || k->x.size() != 32)
                return invalid(err, where + ": x is not 32 bytes of base64url");
            if (!base64::url_decode(y_b64, k->y) || k->y.size() != 32)
                return invalid(err, where + ": y is not 32 bytes of base64url");
            if (has_use && use != "sig") k->unusable_reason = "key use is not sig";
            else if (has_key_ops && !ops_verify) k->unusable_reason = "key_ops lacks verify";
            else if (has_alg && alg != "ES256") k->unusable_reason = "key alg is not ES256";
        }
    }
    if (k->unusable_reason.empty()) {
        // Reuse an identical key of the previous snapshot (same kid and point): parsing is skipped and cached
        // verifications made with it stay valid across a refetch.
        if (previous) {
            for (const auto &old : previous->keys) {
                if (old->usable() && old->has_kid == k->has_kid && old->kid == k->kid && old->x == k->x &&
                    old->y == k->y) {
                    out = old;
                    return COTTER_OK;
                }
            }
        }
        k->pkey = make_p256_key(k->x, k->y);
        if (!k->pkey) ERR_clear_error();
        if (!k->pkey) return invalid(err, where + ": the point is not on P-256");
    }
    out = std::move(k);
    return COTTER_OK;
}

}  // namespace

const std::shared_ptr<const jwk> *key_set::select(std::string_view kid, bool has_kid) const noexcept {
    if (!has_kid) {
        // Cotter's early tokens carry no kid. Unambiguous only when one key could verify ES256 (keys of other
        // types are skipped), or when the set has a single key at all (which then reports KEY_MISMATCH if unusable).
        const std::shared_ptr<const jwk> *only = nullptr;
        for (const auto &k : keys) {
            if (!k->usable()) continue;
            if (only) return nullptr;
            only = &k;
        }
        if (only) return only;
        return keys.size() == 1 ? &keys.front() : nullptr;
    }
    for (const auto &k : keys)
        if (k->has_kid && k->kid == kid) return &k;
    return nullptr;
}

int parse_jwks(std::string_view json_text, const key_set *previous, std::shared_ptr<const key_set> &out,
               error_info *err) {
    // A parser of its own: a fetch can run in the middle of a verification that holds the thread's parser.
    simdjson::dom::parser parser;
    if (parser.allocate(std::max<size_t>(json_text.size(), 4096), json::k_max_depth) != simdjson::SUCCESS)
        throw std::bad_alloc();
    element root;
    switch (json::parse(parser, json_text, root)) {
        case json::parse_status::ok: break;
        case json::parse_status::no_memory: throw std::bad_alloc();
        case json::parse_status::too_deep: return invalid(err, "nested too deeply");
        default: return invalid(err, "not JSON");
    }
    if (!root.is_object()) return invalid(err, "not a JSON object");
    if (json::has_duplicate_member(root)) return invalid(err, "duplicate member name");
    element keys;
    if (root["keys"].get(keys) != simdjson::SUCCESS) return invalid(err, "keys missing");
    if (!keys.is_array()) return invalid(err, "keys is not an array");
    auto arr = keys.get_array().value_unsafe();
    if (arr.size() == 0) return invalid(err, "no keys");
    if (arr.size() > k_max_keys) return invalid(err, "more than 64 keys");
    auto set = std::make_shared<key_set>();
    size_t i = 0;
    for (element k : arr) {
        std::shared_ptr<const jwk> parsed;
        if (int rc = parse_key(k, i++, previous, parsed, err); rc != COTTER_OK) return rc;
        if (parsed->has_kid)
            for (const auto &other : set->keys)
                if (other->has_kid && other->kid == parsed->kid) return invalid(err, "duplicate kid");
        set->keys.push_back(std::move(parsed));
    }
    out = std::move(set);
    return COTTER_OK;
}

}  // namespace cotter::core::jwt
