#pragma once

#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "keydir/layout.hpp"
#include "keydir/lock.hpp"
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
// Also what an unmanaged directory holds (read_unmanaged): no number, no manifest.
struct GenerationState {
  std::uint64_t number = 0;
  std::string path;
  // false: a directory keyfleet did not make (read_unmanaged), whose manifest.json, if any, is one
  // of its files like the others.
  bool managed = true;
  // Paths never read nor compared: the node's runtime_files, and the exclude patterns of this
  // generation's own manifest (files an import left out on purpose, which a service may keep).
  std::vector<PathPattern> ignored;
  // manifest.json parsed; nullopt with `problem` saying why not (absent, unreadable, invalid), or
  // with no problem when it was not read (ReadOptions::manifests).
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
  // Ignored paths count on neither side.
  [[nodiscard]] bool complete() const;
  [[nodiscard]] bool ignores(std::string_view name, bool is_directory) const;
  // The files that differ from `want`, one phrase each ("agent.key (missing)"), and the
  // directories that differ from this generation's own manifest's.
  [[nodiscard]] std::vector<std::string> differences(const std::vector<ManifestFile>& want) const;
  [[nodiscard]] std::vector<std::string> directory_differences(
      const std::vector<ManifestDirectory>& want) const;
};

// What the link (DEST/current, or DEST with layout "link") is.
enum class CurrentKind {
  absent,       // no link
  generation,   // a symlink to generations/NNNNNN, a real directory
  dangling,     // a symlink to nothing
  not_symlink,  // a file or directory where the link should be
  foreign,      // a symlink anywhere but generations/NNNNNN (a symlinked directory included)
  // Layout "link" only: DEST is not keyfleet's -- a real directory or file (the service's own
  // key material, before keyfleet), or a symlink to somewhere outside DEST.generations. Never
  // replaced without `push --adopt`.
  unmanaged,
};

// A node's key directory read in one pass. Leftovers are what an interrupted keyfleet run left;
// `unexpected` is anything else keyfleet did not make, named.
struct NodeState {
  bool dest_exists = false;  // keyfleet's directory: DEST, or DEST.generations (KeyDir::home)
  // How messages name the link: "current", or DEST itself with layout "link".
  std::string link_name{kCurrentLink};
  CurrentKind current_kind = CurrentKind::absent;
  FileType current_type = FileType::other;   // what is at the link's path, when anything is
  std::string current_text;                  // the link's text, when `current` is a symlink
  std::optional<std::uint64_t> current;      // set only for CurrentKind::generation
  std::vector<GenerationState> generations;  // every generations/NNNNNN directory, ascending
  std::vector<std::string> leftovers;        // paths: generations/.tmp-*, current.tmp-*
  std::vector<std::string> unexpected;       // paths of entries keyfleet does not make
  std::vector<std::string> adopted;          // HOME/adopted-*: what `push --adopt` moved aside
  // DEST/.pending: hooks owed since the last switch. `pending_unreadable`: the file is there but
  // says nothing usable (a partly written one), so which hooks are owed is unknown.
  std::optional<PendingHooks> pending;
  bool pending_unreadable = false;

  [[nodiscard]] const GenerationState* generation(std::uint64_t number) const;
  [[nodiscard]] GenerationState* generation(std::uint64_t number);
  [[nodiscard]] const GenerationState* current_generation() const;
  // "generations/000003", "current is a dangling link to 'x'", ... for messages (node text:
  // escape it).
  [[nodiscard]] std::string describe_current() const;
};

// Whose manifest.json is read: every generation's, only the one `current` names (what verify
// compares), or none (pruning goes by numbers; each manifest is an SFTP open, read and close).
enum class Manifests { all, current, none };

struct ReadOptions {
  bool current_files = true;  // read and hash the files of the generation `current` names
  // The node's lock holder, when the caller has one: it hashes the files there (read_files).
  DestLock* holder = nullptr;
  Manifests manifests = Manifests::all;
};

// Reads DEST (absent is a state, not an error): `current`, the generations' manifests (as
// `manifests` says), the leftovers and anything unexpected; with `current_files`, the current
// generation's files too.
// Transport errors keep their status, relabelled to `step`.
NodeResult<NodeState> read_node_state(Remote& remote, const KeyDir& dir, const ReadOptions& options,
                                      const std::string& step);

// Reads the manifest.json of a generation whose manifest was not read yet (ReadOptions::manifests
// left it out): for a caller that needs a few of them only once it knows which. Sets `manifest`,
// `manifest_sha256` and `problem` as read_node_state does; a read one is left as it is.
NodeResult<void> read_manifest_of(Remote& remote, GenerationState& generation,
                                  const std::string& step);

// Lists the files of `generation`, descending into its directories without following a symlink,
// leaving out what it ignores, and hashes them. With a `holder`, one sha256sum on the node hashes
// them all and no key material crosses the connection; without one, or for a file it could not
// hash, the file is read back over SFTP (key material: wiped from memory once hashed).
NodeResult<void> read_files(Remote& remote, GenerationState& generation,
                            DestLock* holder = nullptr);

// The files of what is at DEST when keyfleet does not manage it (CurrentKind::unmanaged: the
// source of a pull, or a service's directory before `push --adopt`), read and hashed as a
// generation is, without the node's runtime files: for verify to compare it by content.
NodeResult<GenerationState> read_unmanaged(Remote& remote, const KeyDir& dir,
                                           const std::string& step, DestLock* holder = nullptr);

}  // namespace kf::keydir
