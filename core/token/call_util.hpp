/**
 * @file call_util.hpp
 * @brief Internal to the client's files (client.cpp, grants.cpp, users.cpp, social.cpp): limits and the
 * server-text hygiene every call shares.
 */
#pragma once

#include <string>
#include <vector>

#include "common/secure.hpp"

namespace cotter::core::token::detail {

constexpr size_t k_max_error_text = 1024;   // server text kept in an error
constexpr size_t k_max_list_items = 100000;

/// Caps server text at k_max_error_text bytes (on a UTF-8 boundary) and replaces control characters.
std::string cap_text(std::string s);

/// Removes every occurrence of the secrets we sent from server text before it reaches an error message.
void redact(std::string &text, const std::vector<secret_string> &secrets);

}  // namespace cotter::core::token::detail
