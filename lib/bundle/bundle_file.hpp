#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "bundle/bundle.hpp"
#include "bundle/bundle_key.hpp"
#include "core/error.hpp"
#include "core/passphrase.hpp"

// Opening a bundle file the way every command does: header first, key second, so a file that is
// not a bundle fails before anyone is asked to type a passphrase, and the header says which key
// the bundle needs (a passphrase or age identities) before any is read.
namespace kf::bundle {

// A bundle file read whole whose age header has been checked; nothing decrypted yet.
struct CheckedBundleFile {
  boost::filesystem::path path;
  std::vector<std::uint8_t> bytes;  // the age file exactly as read (what push uploads)
  BundleInfo info;
};

// Where the key that opens a bundle comes from: a passphrase (file, fd, else the terminal) or
// age identity files (--identity). Never argv, never the environment.
struct KeySource {
  KeySource() = default;
  // Implicit: a passphrase source alone is a KeySource; passphrase-only callers stay unchanged.
  KeySource(PassphraseSource source) : passphrase(std::move(source)) {}

  PassphraseSource passphrase;
  std::vector<boost::filesystem::path> identity_files;
};

// True when the source names a key (a passphrase file or fd, or an identity file), so that
// commands like `inspect` can open the bundle without ever prompting.
bool has_key(const KeySource& source);

// Reads `path` (read_bundle_file's errors as they are) and checks its header; a bad header is
// ExitCode::integrity, "<path>: <why>". Never reads a key.
Result<CheckedBundleFile> check_bundle_file(const boost::filesystem::path& path);

// Reads the key the bundle's header asks for: its passphrase from `source` (prompting on the
// terminal when it names none), or the identities in `source.identity_files`. A passphrase and
// identities together, identities for a passphrase bundle, or a passphrase (or nothing) for a
// bundle sealed to recipients is ExitCode::usage; no prompt is shown then.
Result<OpenKey> read_open_key(const CheckedBundleFile& file, const KeySource& source);

// read_open_key, then opens the bundle. A wrong key or a tampered bundle is ExitCode::integrity,
// "<path>: <why>".
Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file, const KeySource& source);
// The same with the key already read (push decrypts on another thread).
Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file, const OpenKey& key);
Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file,
                                         std::string_view passphrase);

struct OpenedBundleFile {
  std::vector<std::uint8_t> bytes;  // the age file exactly as read
  OpenedBundle bundle;              // its manifest, files and sha256
};

// check_bundle_file, then open_checked_bundle.
Result<OpenedBundleFile> open_bundle_file(const boost::filesystem::path& path,
                                          const KeySource& source);

}  // namespace kf::bundle
