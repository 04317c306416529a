#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/files.hpp"
#include "pki/manifest.hpp"

// The output directory of create-keys: what it holds, its lock, and the archive of earlier sets.
//   DIR/manifest.json, ca.crt, ...   the current key set
//   DIR/archive/NNNNNN/              earlier sets, by generation, never deleted
namespace kf::keyset_dir {

inline constexpr std::string_view archive_dir = "archive";

// The seven files of a key set besides manifest.json, in the order create-keys writes them.
std::span<const std::string_view> file_names();

fs::path archive_path(const fs::path& dir, std::uint64_t generation);

// A key directory that group or others can write lets them replace the key set -- the CA key a
// later create-keys --keep-ca signs with, the manifest bundle trusts -- between our runs:
// refused (exit 2), naming the directory, its mode and the fix (chmod 700 DIR). create-keys
// checks through Lock::acquire; bundle checks before it reads the set. A path that does not
// exist or is not a directory is refused too (exit 2).
Result<void> check_private(const fs::path& dir);

// An exclusive flock(2) on the directory itself (no lock file to leave behind): a second
// create-keys on the same directory is refused (exit 4) rather than interleaved. The directory
// must pass check_private (checked on the opened directory, so it is the one locked).
class Lock {
 public:
  static Result<Lock> acquire(const fs::path& dir);

 private:
  explicit Lock(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

struct State {
  bool has_manifest = false;
  std::vector<std::string> present;  // key set files (of file_names()) in the directory
  Result<Manifest> manifest = fail(ExitCode::refused, "no manifest");  // when has_manifest
  std::uint64_t highest_archived = 0;  // the largest generation under archive/, 0 for none

  [[nodiscard]] bool empty() const { return !has_manifest && present.empty(); }
  // Only ca.crt and/or ca.key: a CA put there to be used with --keep-ca.
  [[nodiscard]] bool only_ca() const;
};

Result<State> inspect(const fs::path& dir);

// Moves the set described by `manifest` (the top-level entries of its listed files and
// directories, the standard names, and manifest.json last) into archive/NNNNNN/ with rename(2),
// never replacing anything there, then fsyncs both directories. manifest.json goes last so that an
// interrupted run leaves it behind in DIR, and running again resumes the same move.
Result<fs::path> archive(const fs::path& dir, const Manifest& manifest);

// Undoes archive() of `generation` after a write of the next set that was interrupted before its
// manifest.json (DIR holds no manifest.json, DIR/archive/NNNNNN the set whole, its manifest.json
// included): the new set's partial files in DIR are wiped (they may hold key material) and the
// archived set moved back, manifest.json last, so that the next set can be made again from it.
// Running it again after an interruption goes on. Anything else is refused (exit 4).
Result<void> restore_archived(const fs::path& dir, std::uint64_t generation);

// Wipes temporary files an interrupted write left (".<name>.tmp-<hex>" of a key set file): they
// may hold private key bytes.
Result<void> wipe_stale_temporaries(const fs::path& dir);

}  // namespace kf::keyset_dir
