#include "bundle/bech32.hpp"

#include <algorithm>
#include <array>

namespace kf::bech32 {
namespace {

constexpr std::string_view kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr std::size_t kChecksumSize = 6;

constexpr std::array<std::int8_t, 128> make_reverse() {
  std::array<std::int8_t, 128> table{};
  table.fill(-1);
  for (std::size_t i = 0; i < kCharset.size(); ++i)
    table[static_cast<unsigned char>(kCharset[i])] = static_cast<std::int8_t>(i);
  return table;
}
constexpr auto kReverse = make_reverse();

std::uint32_t polymod(std::span<const std::uint8_t> values, std::uint32_t chk = 1) {
  static constexpr std::array<std::uint32_t, 5> kGenerator = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
                                                              0x3d4233dd, 0x2a1462b3};
  for (std::uint8_t v : values) {
    std::uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (std::size_t i = 0; i < kGenerator.size(); ++i)
      if (((top >> i) & 1) != 0) chk ^= kGenerator[i];
  }
  return chk;
}

// The human-readable part expanded for the checksum: high bits, a zero, low bits.
SecretBytes expand_hrp(std::string_view lower_hrp) {
  SecretBytes out;
  out.reserve(lower_hrp.size() * 2 + 1);
  for (char c : lower_hrp) out.push_back(static_cast<std::uint8_t>(c) >> 5);
  out.push_back(0);
  for (char c : lower_hrp) out.push_back(static_cast<std::uint8_t>(c) & 31);
  return out;
}

char to_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
char to_upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}
bool has_lower(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}
bool has_upper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

Result<void> check_hrp(std::string_view hrp) {
  if (hrp.empty()) return fail(ExitCode::usage, "bech32: the human-readable part is empty");
  for (char c : hrp)
    if (c < 33 || c > 126)
      return fail(ExitCode::usage,
                  "bech32: the human-readable part holds a character outside "
                  "printable ASCII");
  return {};
}

}  // namespace

Result<Decoded> decode(std::string_view text) {
  if (has_lower(text) && has_upper(text))
    return fail(ExitCode::usage, "bech32: mixes upper and lower case");
  std::size_t separator = text.rfind('1');
  if (separator == std::string_view::npos) return fail(ExitCode::usage, "bech32: no separator '1'");
  if (text.size() - separator - 1 < kChecksumSize)
    return fail(ExitCode::usage, "bech32: fewer than 6 characters after the separator '1'");
  Decoded out;
  std::string_view hrp = text.substr(0, separator);
  KF_CHECK(check_hrp(hrp));
  out.hrp.assign(hrp);
  SecretString lower_hrp(hrp.size(), '\0');
  std::transform(hrp.begin(), hrp.end(), lower_hrp.begin(), to_lower);
  SecretBytes values;
  values.reserve(text.size());
  for (char c : text.substr(separator + 1)) {
    auto u = static_cast<unsigned char>(to_lower(c));
    if (u >= kReverse.size() || kReverse[u] < 0)
      return fail(ExitCode::usage, "bech32: a data character is not in the bech32 alphabet");
    values.push_back(static_cast<std::uint8_t>(kReverse[u]));
  }
  if (polymod(values, polymod(expand_hrp(lower_hrp.view()))) != 1)
    return fail(ExitCode::usage, "bech32: the checksum does not match (a typo, or a cut string)");
  values.resize(values.size() - kChecksumSize);
  out.values = std::move(values);
  return out;
}

Result<SecretString> encode(std::string_view hrp, std::span<const std::uint8_t> values) {
  KF_CHECK(check_hrp(hrp));
  if (has_lower(hrp) && has_upper(hrp))
    return fail(ExitCode::usage, "bech32: the human-readable part mixes upper and lower case");
  for (std::uint8_t v : values)
    if (v > 31) return fail(ExitCode::failure, "bech32: a data value does not fit in 5 bits");
  bool upper = has_upper(hrp);
  SecretString lower_hrp(hrp.size(), '\0');
  std::transform(hrp.begin(), hrp.end(), lower_hrp.begin(), to_lower);

  SecretBytes checked = expand_hrp(lower_hrp.view());
  checked.insert(checked.end(), values.begin(), values.end());
  checked.insert(checked.end(), kChecksumSize, 0);
  std::uint32_t mod = polymod(checked) ^ 1;

  SecretString out;
  out.reserve(hrp.size() + 1 + values.size() + kChecksumSize);
  out.append(lower_hrp.view());
  out.push_back('1');
  for (std::uint8_t v : values) out.push_back(kCharset[v]);
  for (std::size_t i = 0; i < kChecksumSize; ++i)
    out.push_back(kCharset[(mod >> (5 * (kChecksumSize - 1 - i))) & 31]);
  if (upper) std::transform(out.begin(), out.end(), out.begin(), to_upper);
  return out;
}

SecretBytes to_values(std::span<const std::uint8_t> bytes) {
  SecretBytes out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : bytes) {
    acc = ((acc << 8) | b) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 31));
    }
  }
  if (bits > 0) out.push_back(static_cast<std::uint8_t>((acc << (5 - bits)) & 31));
  return out;
}

std::optional<SecretBytes> to_bytes(std::span<const std::uint8_t> values) {
  SecretBytes out;
  out.reserve(values.size() * 5 / 8);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t v : values) {
    if (v > 31) return std::nullopt;
    acc = ((acc << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  // Only a short, zero padding is canonical: anything else would give one key two spellings.
  if (bits >= 5 || ((acc << (8 - bits)) & 0xff) != 0) return std::nullopt;
  return out;
}

}  // namespace kf::bech32
