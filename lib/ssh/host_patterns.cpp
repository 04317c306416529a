#include "ssh/host_patterns.hpp"

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <span>

#include "core/error.hpp"
#include "ssh/ssh_key_blob.hpp"

namespace kf::host_patterns {

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Greedy with one backtrack point, as glob matchers are: a pattern full of stars costs
// length x length, never exponential time.
bool match_pattern(std::string_view s, std::string_view pattern) {
  std::size_t i = 0;
  std::size_t p = 0;
  std::size_t star = std::string_view::npos;  // the last `*` seen, and where its run started in s
  std::size_t star_from = 0;
  while (i < s.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == s[i])) {
      ++i;
      ++p;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_from = i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++star_from;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Match match_list(std::string_view name, std::string_view list) {
  // match_pattern_list copies each pattern into 1024 bytes and gives up on a longer one.
  constexpr std::size_t kMaxPattern = 1022;
  bool positive = false;
  while (!list.empty()) {
    bool negated = list.front() == '!';
    if (negated) list.remove_prefix(1);
    std::size_t comma = list.find(',');
    std::string_view pattern = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (pattern.size() > kMaxPattern) return Match::no;
    if (match_pattern(name, lowercase(pattern))) {
      if (negated) return Match::negated;
      positive = true;
    }
  }
  return positive ? Match::yes : Match::no;
}

constexpr std::size_t kSha1Size = 20;

std::optional<bool> match_hashed(std::string_view name, std::string_view field,
                                 std::string& hmac_error) {
  constexpr std::string_view magic = "|1|";
  if (!field.starts_with(magic)) return std::nullopt;
  std::string_view rest = field.substr(magic.size());
  std::size_t bar = rest.find('|');
  if (bar == std::string_view::npos || bar == 0 || bar > 1024) return std::nullopt;
  auto salt = ssh_key::decode_base64(rest.substr(0, bar));
  if (!salt || salt->size() != kSha1Size) return std::nullopt;
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> mac{};
  std::size_t mac_size = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA1", nullptr, salt->data(), salt->size(),
                reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac.data(),
                mac.size(), &mac_size) == nullptr ||
      mac_size != kSha1Size) {
    hmac_error = openssl_error();
    return std::nullopt;
  }
  // OpenSSH compares the encoded text: the hash must be written exactly as it writes it.
  return rest.substr(bar + 1) == ssh_key::encode_base64(std::span(mac.data(), mac_size));
}

}  // namespace kf::host_patterns
