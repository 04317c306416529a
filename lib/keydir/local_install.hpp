#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "bundle/bundle.hpp"
#include "core/error.hpp"
#include "keydir/install.hpp"
#include "keydir/prune.hpp"

// `unpack`: installs an opened bundle into a key directory on this machine, through the same
// key directory code push uses over SSH (LocalRemote): a crash at any point leaves DEST/current
// on a complete generation, the old one or the new one.
namespace kf::keydir {

// "USER:GROUP" (names or numeric ids) resolved on this machine; anything else is a usage error.
Result<Owner> parse_owner(std::string_view spec);

struct LocalInstallOptions {
  std::size_t keep = kDefaultKeep;
  bool allow_downgrade = false;
  bool replace_keyset = false;
  std::optional<Owner> owner;
  DestLayout layout = DestLayout::generations;  // keydir/layout.hpp
  std::vector<PathPattern> runtime_files;       // never installed nor compared
  bool adopt = false;  // layout "link": move what is at DEST to DEST.generations/adopted-*
};

struct InstallReport {
  boost::filesystem::path dest;
  std::uint64_t generation = 0;
  // What was done, decided as push decides (keydir/plan.hpp): "installed", "unchanged" (verified
  // identical), "repaired" or "reactivated"; `detail` says what was found.
  std::string action;
  std::string detail;
  std::optional<std::uint64_t> previous;       // what `current` pointed at before
  std::vector<std::string> files;              // installed, manifest.json first
  std::vector<std::uint64_t> pruned;           // old generations removed
  std::vector<std::uint64_t> removed_foreign;  // another key set's (--replace-keyset)
  std::size_t leftovers_removed = 0;           // temporaries of an interrupted install
  bool reused = false;                         // see InstallResult::reused
  std::vector<std::string> warnings;           // e.g. an old generation that could not be pruned
  std::string link;                            // the link switched: DEST/current, or DEST
  std::string link_target;                     // what it now says: "generations/000002", ...
  std::string adopted;  // --adopt: where what was at DEST went (kept); empty otherwise
};

// Takes the key directory's lock without waiting (held: ExitCode::refused), removes leftovers of
// interrupted installs, decides as push does (keydir/plan.hpp: a conflict, a downgrade or, with
// layout "link", a DEST keyfleet does not manage without `adopt` is ExitCode::refused, an
// identical install is `unchanged`), installs (keydir/install.hpp), and prunes old generations
// beyond `keep` (keydir/prune.hpp).
Result<InstallReport> install_bundle(const bundle::OpenedBundle& bundle,
                                     const boost::filesystem::path& dest,
                                     const LocalInstallOptions& options);

}  // namespace kf::keydir
