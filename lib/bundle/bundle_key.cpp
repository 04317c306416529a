#include "bundle/bundle_key.hpp"

#include <utility>

namespace kf::bundle {

SealKey SealKey::with_passphrase(std::string_view passphrase, int work_factor) {
  return SealKey{ScryptSeal{SecretString(passphrase), work_factor}};
}

SealKey SealKey::to_recipients(std::vector<age::X25519Recipient> recipients) {
  return SealKey{RecipientSeal{std::move(recipients)}};
}

age::RecipientKind SealKey::kind() const {
  return std::holds_alternative<ScryptSeal>(key) ? age::RecipientKind::scrypt
                                                 : age::RecipientKind::x25519;
}

OpenKey OpenKey::with_passphrase(std::string_view passphrase) {
  return OpenKey{SecretString(passphrase)};
}

OpenKey OpenKey::with_passphrase(SecretString passphrase) {
  return OpenKey{std::move(passphrase)};
}

OpenKey OpenKey::with_identities(std::vector<age::X25519Identity> identities) {
  return OpenKey{std::move(identities)};
}

age::RecipientKind OpenKey::kind() const {
  return std::holds_alternative<SecretString>(key) ? age::RecipientKind::scrypt
                                                   : age::RecipientKind::x25519;
}

std::string_view describe(age::RecipientKind kind) {
  return kind == age::RecipientKind::scrypt ? "a passphrase" : "age identities";
}

Result<std::vector<std::uint8_t>> seal(std::span<const std::uint8_t> plaintext,
                                       const SealKey& key) {
  if (const auto* scrypt = std::get_if<ScryptSeal>(&key.key))
    return age::encrypt_scrypt(plaintext, scrypt->passphrase.view(), scrypt->work_factor);
  return age::encrypt_x25519(plaintext, std::get<RecipientSeal>(key.key).recipients);
}

Result<SecretBytes> unseal(std::span<const std::uint8_t> file, const OpenKey& key) {
  if (const auto* passphrase = std::get_if<SecretString>(&key.key))
    return age::decrypt_scrypt(file, passphrase->view());
  return age::decrypt_x25519(file, std::get<std::vector<age::X25519Identity>>(key.key));
}

}  // namespace kf::bundle
