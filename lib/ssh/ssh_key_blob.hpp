#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// SSH public keys as text and wire blobs (RFC 4253 6.6, OpenSSH PROTOCOL.certkeys), read the way
// OpenSSH's sshkey_read reads them, without a crypto library: enough to compare two keys.
namespace kf::ssh_key {

using Bytes = std::vector<std::uint8_t>;

// Standard base64 with padding, as in known_hosts and .pub files.
std::string encode_base64(std::span<const std::uint8_t> bytes);
// Strict, as OpenSSH's __b64_pton: padding where due, nothing after it, no stray bits.
std::optional<Bytes> decode_base64(std::string_view text);

struct PublicKey {
  std::string type;  // the plain key type: "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", ...
  Bytes blob;        // the plain key's blob; for a certificate, the key it certifies
  bool certificate = false;
};

// "ssh-ed25519-cert-v01@openssh.com" -> "ssh-ed25519"; nullopt for anything else.
std::optional<std::string> certified_type(std::string_view name);

// A blob whose text calls it `name`: nullopt for an unknown type, a different type inside the
// blob, a wrong number or size of fields, or trailing bytes after a plain key.
std::optional<PublicKey> read_blob(std::string_view name, std::span<const std::uint8_t> blob);

}  // namespace kf::ssh_key
