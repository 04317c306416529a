#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bundle/bundle.hpp"
#include "keydir/layout.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"
#include "keydir/remote.hpp"

namespace kf::keydir {

struct Plan;

struct GenerationFile {
  std::string name;
  mode_t mode = 0600;
  std::span<const std::uint8_t> data;
};

// One generation as it is written: manifest.json (0644) and the files it lists. Views into an
// opened bundle, which must outlive it.
struct GenerationContent {
  std::uint64_t number = 0;
  std::span<const std::uint8_t> manifest_bytes;
  std::string manifest_sha256;
  std::vector<ManifestDirectory> directories;  // sorted: each before anything in it
  std::vector<GenerationFile> files;

  static GenerationContent of(const bundle::OpenedBundle& bundle);
  // Whether `generation` (its files read) holds exactly this: the same manifest, every directory
  // with its mode, and every file with its name, size, mode and SHA-256, nothing else.
  [[nodiscard]] bool matches(const GenerationState& generation) const;
};

struct Owner {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

struct InstallOptions {
  // The generation directory and its files are chowned to it; HOME and the generations directory
  // (DEST and DEST/generations, or DEST.generations), when this install creates them, get its
  // group and mode 0710 so that it can reach the generation the link names.
  std::optional<Owner> owner;
  int lock_wait = 10;  // seconds the switch waits for DEST/.lock when no `lock` is held
};

// Creates HOME and the generations directory when missing (0700, or 0710 with the owner's
// group): DEST and DEST/generations, or DEST.generations.
NodeResult<void> ensure_layout(Remote& remote, const KeyDir& dir, const InstallOptions& options,
                               const std::string& step);

// Writes `content` into GENERATIONS/.tmp-<random> and fsyncs every file and the directory.
// Files and directories that match the node's runtime files (KeyDir::runtime) are not written:
// they are the service's. Returns the temporary entry's name; on failure nothing is left behind.
//
// Nested names never lead a write out of the temporary directory: it is created fresh (0700,
// keyfleet's), every name is checked again here (pki/keyset_path.hpp: no "..", no absolute
// path), each directory is created before anything in it (mkdir never follows a symlink in last
// position) and checked to be a directory, and files are created exclusively (O_EXCL). What is
// left is a process of the same user (or root) swapping a directory for a symlink between two
// SFTP calls; anyone who can do that can write DEST itself.
NodeResult<std::string> write_temp_generation(Remote& remote, const KeyDir& dir,
                                              const GenerationContent& content,
                                              const InstallOptions& options,
                                              const std::string& step);

struct InstallResult {
  // generations/NNNNNN was already there holding exactly this content (an install interrupted
  // after writing it, or a rollback's): it was made current instead of written again.
  bool reused = false;
  // Temporaries that could not be removed afterwards: leftovers for the next run.
  std::vector<std::string> warnings;
  // With Plan::adopt: where what was at DEST went (HOME/adopted-<time>), kept.
  std::string adopted;
};

// Carries out a plan (keydir/plan.hpp) whose action is install, repair or reactivate: writes G
// under a temporary name and renames it into place as `current` switches (keydir/switch.hpp),
// or only switches when generations/G already holds exactly it. A damaged or different
// generations/G is replaced atomically; when `current` points at it, in two switches (to a
// complete temporary copy, then to the new G), so that `current` names a complete generation at
// every instant. A file or directory where DEST/current belongs is moved aside by the switch and
// removed after it; with Plan::adopt, what is at DEST is moved to HOME/adopted-<time> by the
// switch (DEST is absent between those two renames) and kept. The link must still be what
// `state` says. On a failure before the switch, the link is as it was found and no temporary
// directory stays.
NodeResult<InstallResult> apply_plan(Remote& remote, DestLock* lock, const KeyDir& dir,
                                     NodeState& state, const Plan& plan,
                                     const GenerationContent& content,
                                     const InstallOptions& options, const std::string& step);

}  // namespace kf::keydir
