#pragma once

#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keydir/layout.hpp"
#include "keydir/pending.hpp"
#include "keydir/remote.hpp"
#include "pki/manifest.hpp"

namespace kf::keydir {

// One regular file of a generation, as read back from the node.
struct InstalledFile {
  std::string name;
  std::uint64_t size = 0;
  mode_t mode = 0;
  std::string sha256;
  auto operator<=>(const InstalledFile&) const = default;
};

// What a generation directory holds. A name under DEST/generations is a claim; this is the truth.
struct GenerationState {
  std::uint64_t number = 0;
  std::string path;
  // manifest.json parsed; nullopt with `problem` saying why not (absent, unreadable, invalid).
  std::optional<Manifest> manifest;
  std::string manifest_sha256;  // of manifest.json's bytes, when it could be read
  std::string problem;
  // Read only when asked (read_files), down to kMaxPathDepth levels: every regular file but
  // manifest.json and every directory, by relative path ("a/b") sorted, and the entries that are
  // neither (or lie deeper).
  bool files_read = false;
  std::vector<InstalledFile> files;
  std::vector<ManifestDirectory> directories;
  std::vector<std::string> irregular;

  // Whether the directory holds exactly what its own manifest lists (names, sizes, modes,
  // SHA-256), nothing else; needs files_read. An empty or partial generation is not complete.
  [[nodiscard]] bool complete() const;
  // The files that differ from `want`, one phrase each ("agent.key (missing)"), and the
  // directories that differ from this generation's own manifest's.
  [[nodiscard]] std::vector<std::string> differences(const std::vector<ManifestFile>& want) const;
  [[nodiscard]] std::vector<std::string> directory_differences(
      const std::vector<ManifestDirectory>& want) const;
};

// What DEST/current is.
enum class CurrentKind {
  absent,       // no DEST/current
  generation,   // a symlink to generations/NNNNNN, a real directory
  dangling,     // a symlink to nothing
  not_symlink,  // a file or directory where the link should be
  foreign,      // a symlink anywhere but generations/NNNNNN (a symlinked directory included)
};

// A node's key directory read in one pass. Leftovers are what an interrupted keyfleet run left;
// `unexpected` is anything else keyfleet did not make, named.
struct NodeState {
  bool dest_exists = false;
  CurrentKind current_kind = CurrentKind::absent;
  std::string current_text;                  // the link's text, when `current` is a symlink
  std::optional<std::uint64_t> current;      // set only for CurrentKind::generation
  std::vector<GenerationState> generations;  // every generations/NNNNNN directory, ascending
  std::vector<std::string> leftovers;        // paths: generations/.tmp-*, current.tmp-*
  std::vector<std::string> unexpected;       // paths of entries keyfleet does not make
  // DEST/.pending: hooks owed since the last switch. `pending_unreadable`: the file is there but
  // says nothing usable (a partly written one), so which hooks are owed is unknown.
  std::optional<PendingHooks> pending;
  bool pending_unreadable = false;

  [[nodiscard]] const GenerationState* generation(std::uint64_t number) const;
  [[nodiscard]] GenerationState* generation(std::uint64_t number);
  [[nodiscard]] const GenerationState* current_generation() const;
  // "generations/000003", "dangling link to 'x'", ... for messages.
  [[nodiscard]] std::string describe_current() const;
};

struct ReadOptions {
  bool current_files = true;  // read and hash the files of the generation `current` names
};

// Reads DEST (absent is a state, not an error): `current`, every generation's manifest, the
// leftovers and anything unexpected; with `current_files`, the current generation's files too.
// Transport errors keep their status, relabelled to `step`.
NodeResult<NodeState> read_node_state(Remote& remote, const KeyDir& dir, const ReadOptions& options,
                                      const std::string& step);

// Reads and hashes the files of `generation`, descending into its directories without following
// a symlink (key material: wiped from memory once hashed).
NodeResult<void> read_files(Remote& remote, GenerationState& generation);

}  // namespace kf::keydir
