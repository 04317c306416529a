#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "bundle/age.hpp"
#include "bundle/bundle_key.hpp"
#include "core/error.hpp"
#include "core/secret.hpp"
#include "pki/manifest.hpp"

// A keyfleet bundle: age v1 (one scrypt stanza, or X25519 stanzas) around a POSIX pax tar whose
// first entry is manifest.json, followed by the key set's files. See docs/bundle-format.md.
namespace kf::bundle {

inline constexpr std::size_t kMaxEntries = 1024;
inline constexpr std::size_t kMaxEntrySize = 16u << 20;
inline constexpr int kMinWorkFactor = 10;

struct KeySetFile {
  std::string name;
  mode_t mode = 0600;
  SecretBytes data;
};

// A key set as it goes into a bundle: its manifest (listing exactly `files`) and the files' bytes,
// each checked against the manifest's size and SHA-256.
struct KeySet {
  Manifest manifest;
  std::vector<KeySetFile> files;  // in manifest order
};

// Reads DIR/manifest.json and every file it lists (never through a symlink), refusing a file whose
// size or digest differs from the manifest's (ExitCode::integrity: the key set was changed after
// create-keys). ca.key is dropped, and the manifest rewritten without it, unless `include_ca_key`.
Result<KeySet> load_keyset(const boost::filesystem::path& dir, bool include_ca_key);

// The bundle's plaintext: a pax tar of manifest.json then the files (see tar_writer.hpp), with
// mtime = the manifest's `created`. The same key set always gives the same bytes.
Result<SecretBytes> keyset_tar(const KeySet& keyset);

struct BundleOptions {
  bool include_ca_key = false;
  int work_factor = age::kDefaultWorkFactor;  // kMinWorkFactor..age::kMaxWorkFactor
};

struct MadeBundle {
  Manifest manifest;                // the one inside the bundle
  std::vector<std::uint8_t> bytes;  // the age file
  std::string sha256;               // of `bytes`, lowercase hex
};

// A work factor outside kMinWorkFactor..age::kMaxWorkFactor is a usage error.
Result<void> check_work_factor(int work_factor);

// Seals the key set's tar with `key` (a passphrase work factor is checked first).
Result<MadeBundle> make_bundle(const KeySet& keyset, const SealKey& key);
Result<MadeBundle> make_bundle(const KeySet& keyset, std::string_view passphrase, int work_factor);
Result<MadeBundle> make_bundle(const boost::filesystem::path& keyset_dir,
                               std::string_view passphrase, const BundleOptions& options);

// Creates `path` 0600 (never replacing anything: an existing file is ExitCode::refused), writes and
// fsyncs it and its directory. A failed write leaves no partial file behind.
Result<void> write_bundle_file(const boost::filesystem::path& path,
                               std::span<const std::uint8_t> bytes);

// A bundle file read whole, refusing more than age::kMaxFileSize. A missing file is a usage error.
Result<std::vector<std::uint8_t>> read_bundle_file(const boost::filesystem::path& path);

// What can be known without a key: the header parses, with exactly one scrypt stanza or one or more
// X25519 stanzas (age::inspect_header).
struct BundleInfo {
  std::string sha256;
  std::uint64_t size = 0;
  age::HeaderInfo header;
};
Result<BundleInfo> inspect_bundle(std::span<const std::uint8_t> bundle_bytes);

// A bundle that has been decrypted, authenticated and validated entry by entry against its
// manifest. Nothing in it has touched the disk.
struct OpenedBundle {
  Manifest manifest;
  SecretBytes manifest_bytes;     // manifest.json exactly as in the tar
  std::vector<KeySetFile> files;  // in manifest order
  std::string sha256;             // of the bundle file (the ciphertext), lowercase hex
  std::uint64_t size = 0;         // of the bundle file
  int work_factor = 0;            // scrypt only
  age::RecipientKind kind = age::RecipientKind::scrypt;
};

// Decrypts, authenticates and validates (every rule of docs/bundle-format.md). Any failure is
// ExitCode::integrity with the reason.
Result<OpenedBundle> open_bundle(std::span<const std::uint8_t> bundle_bytes, const OpenKey& key);
Result<OpenedBundle> open_bundle(std::span<const std::uint8_t> bundle_bytes,
                                 std::string_view passphrase);
Result<OpenedBundle> load_bundle(const boost::filesystem::path& path, const OpenKey& key);
Result<OpenedBundle> load_bundle(const boost::filesystem::path& path, std::string_view passphrase);

// A key set sealed as make_bundle seals it, and beside the file's bytes the bundle as open_bundle
// would give it back -- built from the plaintext tar that was sealed, validated by the same rules
// (validate_tar) -- so that a caller that pushes what it has just sealed (rotate) never decrypts
// it: no second scrypt, no second prompt.
struct SealedKeySet {
  MadeBundle made;
  OpenedBundle opened;
};
Result<SealedKeySet> seal_keyset(const KeySet& keyset, const SealKey& key);

// Checks decrypted tar bytes against the rules (the part of open_bundle after decryption).
Result<OpenedBundle> validate_tar(std::span<const std::uint8_t> tar);

}  // namespace kf::bundle
