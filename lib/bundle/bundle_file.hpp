#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "bundle/bundle.hpp"
#include "core/error.hpp"
#include "core/passphrase.hpp"

// Opening a bundle file the way every command does: header first, passphrase second, so a file
// that is not a bundle fails before anyone is asked to type a passphrase.
namespace kf::bundle {

// A bundle file read whole whose age header has been checked; nothing decrypted yet.
struct CheckedBundleFile {
  boost::filesystem::path path;
  std::vector<std::uint8_t> bytes;  // the age file exactly as read (what push uploads)
  BundleInfo info;
};

// Reads `path` (read_bundle_file's errors as they are) and checks its header; a bad header is
// ExitCode::integrity, "<path>: <why>". Never reads a passphrase.
Result<CheckedBundleFile> check_bundle_file(const boost::filesystem::path& path);

// Reads the passphrase from `source` (prompting on the terminal when it names none) and opens
// the bundle. A wrong passphrase or a tampered bundle is ExitCode::integrity, "<path>: <why>".
Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file,
                                         const PassphraseSource& source);
// The same with the passphrase already read (push decrypts on another thread).
Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file,
                                         std::string_view passphrase);

struct OpenedBundleFile {
  std::vector<std::uint8_t> bytes;  // the age file exactly as read
  OpenedBundle bundle;              // its manifest, files and sha256
};

// check_bundle_file, then open_checked_bundle.
Result<OpenedBundleFile> open_bundle_file(const boost::filesystem::path& path,
                                          const PassphraseSource& source);

}  // namespace kf::bundle
