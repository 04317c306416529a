#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "bundle/bundle.hpp"
#include "core/error.hpp"

// Installs an opened bundle into a node's key directory (layout.hpp), atomically: a crash at any
// point leaves DEST/current on a complete generation, the old one or the new one.
namespace kf::bundle {

inline constexpr std::size_t kDefaultKeep = 5;
inline constexpr std::size_t kMinKeep = 2;  // current and the one before it, for rollback

struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// "USER:GROUP" (names or numeric ids) resolved on this machine; anything else is a usage error.
Result<Owner> parse_owner(std::string_view spec);

struct InstallOptions {
  std::size_t keep = kDefaultKeep;
  bool allow_downgrade = false;
  // The generation directory and its files are chowned to it; DEST and DEST/generations, when this
  // install creates them, get its group and mode 0710 so the owner can reach DEST/current/...
  std::optional<Owner> owner;
};

struct InstallReport {
  boost::filesystem::path dest;
  std::uint64_t generation = 0;
  std::optional<std::uint64_t> previous;  // what `current` pointed at before
  std::vector<std::string> files;         // installed, manifest.json first
  std::vector<std::uint64_t> pruned;      // old generations removed
  std::size_t leftovers_removed = 0;      // temporaries of an interrupted install
  // The generation directory was already there, complete and identical to the bundle (left by an
  // install interrupted after it was written): it was made current instead of written again.
  bool reused = false;
  std::vector<std::string> warnings;  // e.g. an old generation that could not be pruned
};

// Takes DEST/.lock (held: ExitCode::refused), removes leftovers of interrupted installs, refuses a
// generation that is current, or older than current without `allow_downgrade` (ExitCode::refused),
// writes the generation under a temporary name, renames it into place, switches `current` with a
// rename, and prunes old generations beyond `keep` (never current or the one before it).
Result<InstallReport> install_bundle(const OpenedBundle& bundle,
                                     const boost::filesystem::path& dest,
                                     const InstallOptions& options);

// The generation DEST/current points at; nullopt when there is no `current` yet. A `current` that
// is not a symlink of the form generations/NNNNNN is ExitCode::refused.
Result<std::optional<std::uint64_t>> read_current(const boost::filesystem::path& dest);

// The generations to delete from `present`: all but the newest `keep`, never `current` or
// `previous`. Sorted ascending.
std::vector<std::uint64_t> generations_to_prune(std::vector<std::uint64_t> present,
                                                std::uint64_t current,
                                                std::optional<std::uint64_t> previous,
                                                std::size_t keep);

// Test hook: when the environment variable KEYFLEET_TEST_CRASH_AT names one of these steps, the
// install raises SIGKILL right after it, so tests can check that a crash there leaves `current` on
// a complete generation. Only install_bundle reads that variable; it carries no data.
inline constexpr std::string_view kCrashAtVariable = "KEYFLEET_TEST_CRASH_AT";
inline constexpr std::array<std::string_view, 10> kInstallSteps = {
    "locked",              // DEST/.lock taken
    "leftovers-removed",   // temporaries of an earlier crash removed
    "temp-created",        // generations/.tmp-XXXX created, empty
    "file-written",        // the first file written into it
    "files-synced",        // every file and the directory fsynced
    "generation-renamed",  // renamed to generations/NNNNNN
    "link-created",        // current.tmp-XXXX -> generations/NNNNNN made
    "current-switched",    // renamed over current
    "pruning",             // one old generation renamed away for deletion
    "done",                // everything finished
};

}  // namespace kf::bundle
