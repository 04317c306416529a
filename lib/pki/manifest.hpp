#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace kf {

// Version 1: flat names ([A-Za-z0-9_][A-Za-z0-9._-]*), modes 0600 and 0644. Version 2: relative
// paths and dotfiles (pki/keyset_path.hpp), explicit directories, the modes an import keeps. A
// manifest is written as version 1 whenever it fits in it, so older keyfleet reads it.
inline constexpr std::string_view kManifestFormat = "keyfleet-keyset/1";
inline constexpr std::string_view kManifestFormatV2 = "keyfleet-keyset/2";
inline constexpr std::string_view kManifestName = "manifest.json";

// The key set's file names. Every file of a key set but manifest.json is listed in the manifest.
namespace keyset_files {
inline constexpr std::string_view ca_crt = "ca.crt";
inline constexpr std::string_view ca_key = "ca.key";
inline constexpr std::string_view agent_crt = "agent.crt";
inline constexpr std::string_view agent_key = "agent.key";
inline constexpr std::string_view keystore = "keystore.p12";
inline constexpr std::string_view truststore = "truststore.p12";
inline constexpr std::string_view storepass = "storepass";
}  // namespace keyset_files

// How the key set was made: create-keys' own TLS set, or files taken from elsewhere (create-keys
// --import, pull), which carry no certificate fields.
inline constexpr std::string_view kKindGenerated = "generated";
inline constexpr std::string_view kKindImported = "imported";

// A CA rotation (`keyfleet rotate --new-ca`) in three generations: trust (the old and the new CA
// trusted, the agent's files unchanged), leaf (a new agent certificate from the new CA, both still
// trusted), retire (the new CA alone). Each generation's manifest says which it is.
enum class CaPhase { trust, leaf, retire };

std::string_view to_string(CaPhase phase);
// "trust", "leaf", "retire"; anything else: nullopt.
std::optional<CaPhase> parse_ca_phase(std::string_view text);

struct ManifestFile {
  std::string name;  // a flat name (version 1) or a relative path (version 2)
  std::uint64_t size = 0;
  mode_t mode = 0600;  // 0600 or 0644; version 2 also 0640 and the like; written as "0640"
  std::string sha256;  // lowercase hex
  bool operator==(const ManifestFile&) const = default;
};

// A directory of a version 2 key set; every file's parent directories are listed.
struct ManifestDirectory {
  std::string name;  // a relative path
  mode_t mode = 0700;
  bool operator==(const ManifestDirectory&) const = default;
};

struct Manifest {
  // The key set's identity: 32 lowercase hex digits (128 random bits) made by the first
  // create-keys in a directory and kept by every later generation there (--force, --keep-ca), so
  // that generations of one lineage share it and a fresh directory gets a new one. Empty in a
  // manifest written before keyfleet had it.
  std::string keyset;
  std::uint64_t generation = 1;
  std::string created;  // RFC 3339 UTC
  std::string key_type;
  std::vector<std::string> hosts;
  std::string not_after;            // RFC 3339 UTC, the agent certificate's
  std::string ca_fingerprint;       // "sha256:<hex of the DER certificate>"
  std::string agent_fingerprint;    // likewise
  std::vector<ManifestFile> files;  // sorted by name
  std::string kind{kKindGenerated};
  std::vector<ManifestDirectory> directories;  // sorted by name; version 2 only
  std::vector<std::string> exclude;            // the --exclude-path patterns of an import
  std::vector<std::string> secrets;            // files create-keys --secret made (listed files)
  // Set in the generations of a CA rotation only (written as "ca_phase").
  std::optional<CaPhase> ca_phase;
  // The fingerprints of every CA certificate ca.crt (and truststore.p12) holds, in ca.crt's order,
  // when that is more than the one CA: ca_fingerprint is among them. Empty otherwise. Written as
  // "trusted_cas" when not empty.
  std::vector<std::string> trusted_cas;

  [[nodiscard]] const ManifestFile* find(std::string_view name) const;
  [[nodiscard]] const ManifestDirectory* find_directory(std::string_view name) const;
  [[nodiscard]] bool imported() const { return kind == kKindImported; }
  bool operator==(const Manifest&) const = default;
};

// A simple entry name: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. No slashes, no "..", no leading dot.
bool is_safe_entry_name(std::string_view name);

// 1 when every name is a flat safe name, every mode 0600 or 0644 and there is no directory;
// else 2.
int manifest_version(const Manifest& manifest);

nlohmann::json to_json(const Manifest& manifest);
// A new key set id: 128 bits from the OS CSPRNG as 32 lowercase hex digits.
std::string new_keyset_id();
bool is_keyset_id(std::string_view text);

// Pretty JSON with a trailing newline; the same manifest always gives the same bytes.
std::string serialize(const Manifest& manifest);

// Strict: unknown format, missing or mistyped fields, unsafe or duplicate names, bad modes or
// digests are errors with `code` (integrity for a manifest inside a bundle, usage for a file an
// operator named), the message prefixed with `origin`.
Result<Manifest> parse_manifest(std::string_view text, std::string_view origin,
                                ExitCode code = ExitCode::integrity);

// SHA-256 of bytes, lowercase hex.
std::string sha256_hex(std::span<const std::uint8_t> data);

}  // namespace kf
