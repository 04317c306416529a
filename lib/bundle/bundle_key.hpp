#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "bundle/age.hpp"
#include "core/error.hpp"
#include "core/secret.hpp"

// The two ways a bundle is sealed and opened, as age allows them: a passphrase (one scrypt stanza)
// or X25519 recipients (a stanza each), opened with the matching identities. age never mixes them
// in one file, and neither does keyfleet.
namespace kf::bundle {

struct ScryptSeal {
  SecretString passphrase;
  int work_factor = age::kDefaultWorkFactor;
};
struct RecipientSeal {
  std::vector<age::X25519Recipient> recipients;  // at least one
};

// What `bundle` seals with.
struct SealKey {
  std::variant<ScryptSeal, RecipientSeal> key;

  static SealKey with_passphrase(std::string_view passphrase, int work_factor);
  static SealKey to_recipients(std::vector<age::X25519Recipient> recipients);
  [[nodiscard]] age::RecipientKind kind() const;
};

// What a bundle is opened with.
struct OpenKey {
  std::variant<SecretString, std::vector<age::X25519Identity>> key;

  static OpenKey with_passphrase(std::string_view passphrase);
  static OpenKey with_passphrase(SecretString passphrase);
  static OpenKey with_identities(std::vector<age::X25519Identity> identities);
  [[nodiscard]] age::RecipientKind kind() const;
};

// "a passphrase" / "age identities": for messages.
std::string_view describe(age::RecipientKind kind);

// age::encrypt_scrypt or age::encrypt_x25519.
Result<std::vector<std::uint8_t>> seal(std::span<const std::uint8_t> plaintext, const SealKey& key);
// age::decrypt_scrypt or age::decrypt_x25519: the whole file authenticated before a byte returns.
Result<SecretBytes> unseal(std::span<const std::uint8_t> file, const OpenKey& key);

}  // namespace kf::bundle
