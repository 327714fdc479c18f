/**
 * @file legacy.cpp
 * @brief Ed25519 Identity/Event tokens via OpenSSL (EVP_PKEY_ED25519 raw public key, one-shot DigestVerify).
 */
#include "jwt/legacy.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <memory>

#include "common/base64.hpp"
#include "json/reader.hpp"

namespace cotter::core::jwt::legacy {
namespace {

using simdjson::dom::element;

struct md_ctx_deleter {
    void operator()(EVP_MD_CTX *p) const noexcept { EVP_MD_CTX_free(p); }
};
struct pkey_deleter {
    void operator()(EVP_PKEY *p) const noexcept { EVP_PKEY_free(p); }
};

int protocol(error_info *err, std::string msg) { return set_error(err, COTTER_EPROTOCOL, std::move(msg)); }

// A member as text: strings as they are, integers in decimal (Cotter sends timestamps as strings, but a
// re-serialised object may carry numbers).
bool get_text(element obj, const char *name, std::string &out) {
    element v;
    if (obj[name].get(v) != simdjson::SUCCESS) return false;
    if (v.is_string()) {
        out.assign(v.get_string().value_unsafe());
        return true;
    }
    int64_t n = 0;
    if (json::get_int64_strict(v, n)) {
        out = std::to_string(n);
        return true;
    }
    return false;
}

bool get_string(element obj, const char *name, std::string &out) {
    element v;
    if (obj[name].get(v) != simdjson::SUCCESS || !v.is_string()) return false;
    out.assign(v.get_string().value_unsafe());
    return true;
}

bool get_bool(element obj, const char *name, bool &out) {
    element v;
    if (obj[name].get(v) != simdjson::SUCCESS || !v.is_bool()) return false;
    out = v.get_bool().value_unsafe();
    return true;
}

int parse_object(simdjson::dom::parser &parser, std::string_view json_text, element &root, error_info *err) {
    switch (json::parse(parser, json_text, root)) {
        case json::parse_status::ok: break;
        case json::parse_status::no_memory: throw std::bad_alloc();
        default: return protocol(err, "token is not valid JSON");
    }
    if (!root.is_object()) return protocol(err, "token is not a JSON object");
    if (json::has_duplicate_member(root)) return protocol(err, "token has a duplicate member");
    return COTTER_OK;
}

simdjson::dom::parser make_parser() {
    simdjson::dom::parser p;
    if (p.allocate(4096, json::k_max_depth) != simdjson::SUCCESS) throw std::bad_alloc();
    return p;
}

}  // namespace

std::string identity_message(std::string_view identifier, std::string_view identifier_type, std::string_view receiver,
                             std::string_view expire_at) {
    std::string m;
    m.reserve(identifier.size() + identifier_type.size() + receiver.size() + expire_at.size());
    m.append(identifier).append(identifier_type).append(receiver).append(expire_at);
    return m;
}

std::string event_message(std::string_view client_user_id, std::string_view issuer, std::string_view event,
                          std::string_view timestamp, std::string_view method, bool is_new, bool approved) {
    std::string m;
    m.append(client_user_id).append(issuer).append(event).append(timestamp).append(method);
    m.append(is_new ? "true" : "false").append(approved ? "true" : "false");
    return m;
}

int verify_ed25519(std::string_view public_key_b64, std::string_view message, std::string_view signature_b64,
                   error_info *err) {
    std::string key_raw, sig_raw;
    if (!base64::std_decode(public_key_b64, key_raw) || key_raw.size() != 32)
        return set_error(err, COTTER_EINVAL, "public key is not 32 bytes of standard base64");
    if (!base64::std_decode(signature_b64, sig_raw) || sig_raw.size() != 64)
        return set_error(err, COTTER_ELEGACY_SIGNATURE, "signature is not 64 bytes of standard base64");
    std::unique_ptr<EVP_PKEY, pkey_deleter> key(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char *>(key_raw.data()), key_raw.size()));
    if (!key) {
        ERR_clear_error();
        return set_error(err, COTTER_EINVAL, "public key is not a valid Ed25519 key");
    }
    std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx(EVP_MD_CTX_new());
    if (!ctx) throw std::bad_alloc();
    // Ed25519 is "pure": no digest is named, and the whole message goes in one DigestVerify call.
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
        ERR_clear_error();
        return set_error(err, COTTER_EINTERNAL, "Ed25519 verification could not start");
    }
    const int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char *>(sig_raw.data()), sig_raw.size(),
                                    reinterpret_cast<const unsigned char *>(message.data()), message.size());
    if (rc != 1) {
        ERR_clear_error();
        return set_error(err, COTTER_ELEGACY_SIGNATURE, "Ed25519 signature does not verify");
    }
    return COTTER_OK;
}

int verify_identity_token(std::string_view json_text, std::string_view api_key_id, std::string_view public_key_b64,
                          int64_t now, error_info *err) {
    auto parser = make_parser();
    element root;
    if (int rc = parse_object(parser, json_text, root, err); rc != COTTER_OK) return rc;
    std::string identifier, identifier_type, receiver, expire_at, signature;
    if (!get_string(root, "identifier", identifier) || !get_string(root, "identifier_type", identifier_type) ||
        !get_string(root, "receiver", receiver) || !get_text(root, "expire_at", expire_at) ||
        !get_string(root, "signature", signature))
        return protocol(err, "identity token lacks identifier, identifier_type, receiver, expire_at or signature");
    // The signed message has no separators: without a fixed identifier_type, bytes could move between the
    // identifier and the type under the same signature ("alice@example.co" + "mEMAIL"). Cotter has only two types.
    if (identifier_type != "EMAIL" && identifier_type != "PHONE")
        return protocol(err, "identity token identifier_type is neither EMAIL nor PHONE");
    if (int rc = verify_ed25519(public_key_b64, identity_message(identifier, identifier_type, receiver, expire_at),
                                signature, err);
        rc != COTTER_OK)
        return rc;
    if (receiver != api_key_id) return set_error(err, COTTER_ELEGACY_CLAIM, "identity token is for another API key");
    // expire_at must be a plain decimal number of seconds.
    int64_t exp = 0;
    if (expire_at.empty() || expire_at.size() > 18) return protocol(err, "identity token expire_at is not a number");
    for (char c : expire_at) {
        if (c < '0' || c > '9') return protocol(err, "identity token expire_at is not a number");
        exp = exp * 10 + (c - '0');
    }
    if (exp <= now) return set_error(err, COTTER_ELEGACY_CLAIM, "identity token expired");
    return COTTER_OK;
}

int verify_event_token(std::string_view json_text, std::string_view api_key_id, std::string_view public_key_b64,
                       error_info *err) {
    auto parser = make_parser();
    element root;
    if (int rc = parse_object(parser, json_text, root, err); rc != COTTER_OK) return rc;
    std::string client_user_id, issuer, event, timestamp, method, signature;
    bool is_new = false, approved = false;
    if (!get_text(root, "client_user_id", client_user_id) || !get_string(root, "issuer", issuer) ||
        !get_string(root, "event", event) || !get_text(root, "timestamp", timestamp) ||
        !get_string(root, "method", method) || !get_bool(root, "new", is_new) || !get_bool(root, "approved", approved) ||
        !get_string(root, "signature", signature))
        return protocol(err, "event token lacks client_user_id, issuer, event, timestamp, method, new, approved or signature");
    if (int rc = verify_ed25519(public_key_b64,
                                event_message(client_user_id, issuer, event, timestamp, method, is_new, approved),
                                signature, err);
        rc != COTTER_OK)
        return rc;
    if (issuer != api_key_id) return set_error(err, COTTER_ELEGACY_CLAIM, "event token is for another API key");
    if (!approved) return set_error(err, COTTER_ELEGACY_CLAIM, "event was not approved");
    return COTTER_OK;
}

}  // namespace cotter::core::jwt::legacy
