// age v1 with the scrypt (passphrase) recipient: the stanza, the header MAC and the top level.
#include "bundle/age.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>

#include <openssl/crypto.h>

#include "bundle/age_format.hpp"

namespace kf::age {
namespace {

constexpr std::string_view kScryptType = "scrypt";
constexpr std::string_view kScryptLabel = "age-encryption.org/v1/scrypt";
constexpr std::size_t kSaltSize = 16;
constexpr std::size_t kWrappedKeySize = kFileKeySize + kTagSize;

struct ScryptStanza {
  std::vector<std::uint8_t> salt;
  int work_factor = 0;
  std::span<const std::uint8_t> body;
};

Result<void> check_file_size(std::span<const std::uint8_t> file) {
  if (file.size() > kMaxFileSize)
    return fail(ExitCode::integrity, "the age file is {} bytes, above the limit of {} bytes",
                file.size(), kMaxFileSize);
  return {};
}

std::vector<std::uint8_t> salted_label(std::span<const std::uint8_t> salt) {
  std::vector<std::uint8_t> out(kScryptLabel.size() + salt.size());
  std::memcpy(out.data(), kScryptLabel.data(), kScryptLabel.size());
  if (!salt.empty()) std::memcpy(out.data() + kScryptLabel.size(), salt.data(), salt.size());
  return out;
}

// After is_decimal: numbers too long to be sane are refused, so the value always fits.
std::optional<int> small_decimal(std::string_view digits) {
  if (digits.size() > 2) return std::nullopt;
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  return value;
}

// The spec's syntax for the work factor: ^[1-9][0-9]*$.
bool is_decimal(std::string_view text) {
  return !text.empty() && text[0] >= '1' && text[0] <= '9' &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A passphrase-encrypted file has exactly one stanza, a well-formed scrypt one. Everything here
// is checked before scrypt runs.
Result<ScryptStanza> scrypt_stanza(const Header& header) {
  auto is_scrypt = [](const Stanza& s) { return s.args[0] == kScryptType; };
  if (std::none_of(header.stanzas.begin(), header.stanzas.end(), is_scrypt)) {
    std::string types;
    for (const Stanza& s : header.stanzas)
      types += fmt::format("{}\"{}\"", types.empty() ? "" : ", ", s.args[0].substr(0, 32));
    return fail(ExitCode::integrity,
                "the file is not encrypted with a passphrase (it has no scrypt stanza, only {})",
                types);
  }
  if (header.stanzas.size() != 1)
    return fail(ExitCode::integrity,
                "invalid age header: an scrypt stanza must be the only stanza, but there are {}",
                header.stanzas.size());
  const Stanza& stanza = header.stanzas.front();
  if (stanza.args.size() != 3)
    return fail(ExitCode::integrity,
                "invalid age header: the scrypt stanza needs 2 arguments (salt and work factor), "
                "not {}",
                stanza.args.size() - 1);
  ScryptStanza out;
  auto salt = decode_base64(stanza.args[1]);
  if (!salt || salt->size() != kSaltSize)
    return fail(ExitCode::integrity,
                "invalid age header: the scrypt salt is not the canonical base64 of 16 bytes");
  out.salt = std::move(*salt);
  const std::string& work_factor = stanza.args[2];
  if (!is_decimal(work_factor))
    return fail(ExitCode::integrity,
                "invalid age header: the scrypt work factor is not a decimal number without "
                "leading zeros");
  auto value = small_decimal(work_factor);
  if (!value)
    return fail(ExitCode::integrity, "scrypt work factor {} is out of range",
                work_factor.substr(0, 32));
  out.work_factor = *value;
  // Checked before decryption so a partitioning oracle cannot probe with odd-sized bodies.
  if (stanza.body.size() != kWrappedKeySize)
    return fail(ExitCode::integrity,
                "invalid age header: the scrypt stanza body is {} bytes instead of {}",
                stanza.body.size(), kWrappedKeySize);
  out.body = stanza.body;
  return out;
}

Result<SecretBytes> unwrap_file_key(const ScryptStanza& stanza, std::string_view passphrase) {
  KF_TRY_ASSIGN(SecretBytes wrap_key,
                scrypt_key(passphrase, salted_label(stanza.salt), stanza.work_factor));
  KF_TRY_ASSIGN(ChaChaPoly aead, ChaChaPoly::create(wrap_key, false));
  SecretBytes file_key(kFileKeySize);
  if (!aead.open(AeadNonce{}, stanza.body, file_key.data()))
    return fail(ExitCode::integrity, "wrong passphrase or corrupted header");
  return file_key;
}

Result<Mac> header_mac(std::span<const std::uint8_t> file_key,
                       std::span<const std::uint8_t> header_text) {
  KF_TRY_ASSIGN(SecretBytes mac_key, hkdf_sha256(file_key, {}, "header"));
  return hmac_sha256(mac_key, header_text);
}

Result<void> check_file_key_size(std::span<const std::uint8_t> file_key) {
  if (file_key.size() != kFileKeySize)
    return fail(ExitCode::failure, "an age file key is 16 bytes, not {}", file_key.size());
  return {};
}

}  // namespace

Result<Stanza> make_scrypt_stanza(std::span<const std::uint8_t> file_key,
                                  std::string_view passphrase, int work_factor) {
  KF_CHECK(check_file_key_size(file_key));
  if (work_factor < 1 || work_factor > kMaxWorkFactor)
    return fail(ExitCode::usage, "scrypt work factor {} is out of range: use 1 to {}", work_factor,
                kMaxWorkFactor);
  std::array<std::uint8_t, kSaltSize> salt;
  KF_CHECK(random_bytes(salt));
  KF_TRY_ASSIGN(SecretBytes wrap_key, scrypt_key(passphrase, salted_label(salt), work_factor));
  KF_TRY_ASSIGN(ChaChaPoly aead, ChaChaPoly::create(wrap_key, true));
  Stanza stanza{{std::string(kScryptType), encode_base64(salt), std::to_string(work_factor)},
                std::vector<std::uint8_t>(kWrappedKeySize)};
  KF_CHECK(aead.seal(AeadNonce{}, file_key, stanza.body.data()));
  return stanza;
}

Result<std::vector<std::uint8_t>> seal_file(std::span<const Stanza> stanzas,
                                            std::span<const std::uint8_t> file_key,
                                            std::span<const std::uint8_t> plaintext) {
  KF_CHECK(check_file_key_size(file_key));
  std::string header = format_header_until_mac(stanzas);
  KF_TRY_ASSIGN(Mac mac, header_mac(file_key, as_bytes(header)));
  header += ' ';
  header += encode_base64(mac);
  header += '\n';
  std::vector<std::uint8_t> out;
  out.reserve(header.size() + sealed_payload_size(plaintext.size()));
  out.assign(header.begin(), header.end());
  KF_CHECK(seal_payload(file_key, plaintext, out));
  return out;
}

Result<SecretBytes> open_with_file_key(std::span<const std::uint8_t> file, const Header& header,
                                       std::span<const std::uint8_t> file_key) {
  KF_CHECK(check_file_key_size(file_key));
  KF_TRY_ASSIGN(Mac mac, header_mac(file_key, file.first(header.mac_input_size)));
  if (CRYPTO_memcmp(mac.data(), header.mac.data(), mac.size()) != 0)
    return fail(ExitCode::integrity, "the header MAC does not match (the header was modified)");
  return open_payload(file_key, file.subspan(header.size));
}

Result<SecretBytes> open_with_file_key(std::span<const std::uint8_t> file,
                                       std::span<const std::uint8_t> file_key) {
  KF_CHECK(check_file_size(file));
  KF_TRY_ASSIGN(Header header, parse_header(file));
  return open_with_file_key(file, header, file_key);
}

Result<HeaderInfo> inspect_header(std::span<const std::uint8_t> file) {
  KF_CHECK(check_file_size(file));
  KF_TRY_ASSIGN(Header header, parse_header(file));
  HeaderInfo info;
  auto is_scrypt = [](const Stanza& s) { return s.args[0] == kScryptType; };
  if (std::any_of(header.stanzas.begin(), header.stanzas.end(), is_scrypt)) {
    KF_TRY_ASSIGN(ScryptStanza stanza, scrypt_stanza(header));
    info.work_factor = stanza.work_factor;
  } else {
    info.kind = RecipientKind::x25519;
    for (const Stanza& stanza : header.stanzas) {
      if (stanza.args[0] != kX25519Type) {
        ++info.other_stanzas;
        continue;
      }
      KF_CHECK(check_x25519_stanza(stanza));
      ++info.x25519_stanzas;
    }
    // Only stanzas of unknown types (ML-KEM, plugins): no key keyfleet can hold opens it.
    if (info.x25519_stanzas == 0)
      return fail(ExitCode::integrity,
                  "no identity matched: the file has neither a passphrase (scrypt) stanza nor an "
                  "X25519 one, only {} of types keyfleet does not support",
                  info.other_stanzas);
  }
  KF_CHECK(check_payload_layout(file.size() - header.size));
  info.header_size = header.size;
  info.payload_size = file.size() - header.size;
  return info;
}

Result<std::vector<std::uint8_t>> encrypt_scrypt(std::span<const std::uint8_t> plaintext,
                                                 std::string_view passphrase, int work_factor) {
  if (passphrase.empty()) return fail(ExitCode::usage, "the passphrase is empty");
  SecretBytes file_key(kFileKeySize);
  KF_CHECK(random_bytes(file_key));
  KF_TRY_ASSIGN(Stanza stanza, make_scrypt_stanza(file_key, passphrase, work_factor));
  KF_TRY_ASSIGN(auto file, seal_file(std::span(&stanza, 1), file_key, plaintext));
  // Never write what every reader, this one included, would refuse to open.
  if (file.size() > kMaxFileSize)
    return fail(ExitCode::failure,
                "the encrypted file would be {} bytes, above the limit of {} bytes", file.size(),
                kMaxFileSize);
  return file;
}

Result<SecretBytes> decrypt_scrypt(std::span<const std::uint8_t> file, std::string_view passphrase,
                                   int max_work_factor) {
  KF_CHECK(check_file_size(file));
  KF_TRY_ASSIGN(Header header, parse_header(file));
  KF_TRY_ASSIGN(ScryptStanza stanza, scrypt_stanza(header));
  if (stanza.work_factor > max_work_factor)
    return fail(ExitCode::integrity, "scrypt work factor {} is above the limit of {}",
                stanza.work_factor, max_work_factor);
  KF_CHECK(check_payload_layout(file.size() - header.size));
  KF_TRY_ASSIGN(SecretBytes file_key, unwrap_file_key(stanza, passphrase));
  return open_with_file_key(file, header, file_key);
}

}  // namespace kf::age
