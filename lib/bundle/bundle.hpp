#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "core/secret.hpp"
#include "pki/manifest.hpp"

// A keyfleet bundle: age v1 (one scrypt stanza) around a POSIX pax tar whose first entry is
// manifest.json, followed by the key set's files. See docs/bundle-format.md.
namespace kf::bundle {

inline constexpr std::size_t kMaxEntries = 1024;
inline constexpr std::size_t kMaxEntrySize = 16u << 20;

struct KeySetFile {
  std::string name;
  mode_t mode = 0600;
  SecretBytes data;
};

// A bundle that has been decrypted, authenticated and validated entry by entry against its
// manifest. Nothing in it has touched the disk.
struct OpenedBundle {
  Manifest manifest;
  SecretBytes manifest_bytes;      // manifest.json exactly as in the tar
  std::vector<KeySetFile> files;   // in manifest order
  std::string sha256;              // of the bundle file (the ciphertext), lowercase hex
  std::uint64_t size = 0;          // of the bundle file
};

// Decrypts, authenticates and validates (every rule of docs/bundle-format.md). Any failure is
// ExitCode::integrity with the reason.
Result<OpenedBundle> open_bundle(std::span<const std::uint8_t> bundle_bytes,
                                 std::string_view passphrase);
Result<OpenedBundle> load_bundle(const boost::filesystem::path& path, std::string_view passphrase);

}  // namespace kf::bundle
