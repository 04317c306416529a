#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "core/path_pattern.hpp"
#include "core/secret.hpp"
#include "pki/manifest.hpp"

// Existing key material taken as a key set (create-keys --import, pull): the rules every entry of
// a source tree must pass, and the reading of a local one.
namespace kf {

// What a bundle carries: at most 1024 entries (manifest.json, directories and files), 16 MiB
// each (bundle/bundle.hpp says the same).
inline constexpr std::size_t kMaxImportEntries = 1023;
inline constexpr std::size_t kMaxImportFileSize = std::size_t{16} << 20;

enum class SourceType { regular, directory, symlink, device, fifo, socket, other };

// One entry of a source tree as listed (lstat: a symlink is a symlink).
struct SourceEntry {
  std::string path;  // relative to the tree's top
  SourceType type = SourceType::other;
  mode_t mode = 0;  // permission bits
};

// Whether `entry` may be imported: a name that passes relative_path_problem, a regular file or
// directory (symlinks, devices, FIFOs and sockets refused), a mode allowed by
// is_allowed_file_mode / is_allowed_directory_mode, and not a name the key directory keeps for
// itself at its top (manifest.json, archive, temporaries). ExitCode::usage naming `origin` and
// the path, saying what to do (chmod, or --exclude-path).
Result<void> check_source_entry(const SourceEntry& entry, std::string_view origin);

struct ImportedFile {
  std::string path;
  mode_t mode = 0600;  // the source's
  SecretBytes data;
};

// A source tree read whole, excluded paths left out. Directories and files sorted by path, each
// directory listed before anything in it.
struct ImportedTree {
  std::vector<ManifestDirectory> directories;
  std::vector<ImportedFile> files;
  std::vector<std::string> exclude;   // the patterns, as given
  std::vector<std::string> excluded;  // the topmost paths they left out
};

// Counts and sizes against the limits above (ExitCode::usage naming `origin`).
Result<void> check_tree_limits(const ImportedTree& tree, std::string_view origin);

// Reads the local directory `dir` (itself not a symlink) for create-keys --import: every entry
// checked with check_source_entry, files opened with O_NOFOLLOW and refused when they changed
// between the listing and the end of the read (ExitCode::integrity), hard-link duplicates
// (one inode under two names in the tree) refused naming both.
Result<ImportedTree> read_import_dir(const boost::filesystem::path& dir,
                                     std::span<const PathPattern> exclude);

}  // namespace kf
