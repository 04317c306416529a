#pragma once

#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fleet/node_report.hpp"
#include "fleet/run.hpp"
#include "inventory/inventory.hpp"
#include "keydir/node_state.hpp"
#include "keydir/remote.hpp"
#include "pki/manifest.hpp"

// `keyfleet verify`: what each node has installed under DEST/current, compared with a manifest
// (from a bundle or a manifest file) or, without one, with what the majority of the fleet holds.
namespace kf {

using keydir::InstalledFile;

// One node's current generation as read over its connection; or, with layout "link", the
// directory at DEST that keyfleet does not manage (the source of a pull), compared by content.
struct NodeInstall {
  std::uint64_t generation = 0;      // 0 when unmanaged
  std::optional<Manifest> manifest;  // DEST/current/manifest.json; nullopt: absent or unparsable
  std::string manifest_problem;      // why it is nullopt, when it is
  std::vector<InstalledFile> files;  // every regular file but manifest.json, sorted by name
  std::vector<ManifestDirectory> directories;  // nested key sets (manifest format 2)
  std::vector<std::string> irregular;  // entries that are not regular files (symlinks, dirs...)
  bool pending_hooks = false;          // DEST/.pending: the last switch's hooks never ran
  // What is at DEST is not keyfleet's (keydir::CurrentKind::unmanaged): `files`, `directories`
  // and `irregular` are its content, `path` says where; no generation, no manifest of its own.
  bool unmanaged = false;
  std::string path;
  // Never compared: the node's runtime_files (the generation's own exclude patterns were left out
  // when it was read).
  std::vector<PathPattern> ignored;
};

// Reads the key directory (keydir::read_node_state) and the generation the link points at,
// hashing every file there, or (layout "link") the directory at DEST that keyfleet does not
// manage. Nothing installed: `missing`; a link missing while generations exist, or not a link to
// a real generation directory with a valid manifest: `damaged`. Transport errors keep their
// status.
// With the node's lock `holder` (rotate holds it for the node's whole turn), the files are hashed
// on the node, and `state_read` (when given) receives the key directory as read, for the rest of
// the turn under the same lock.
NodeResult<NodeInstall> read_install(Remote& remote, const keydir::KeyDir& dir,
                                     keydir::DestLock* holder = nullptr,
                                     keydir::NodeState* state_read = nullptr);

// The files a node must hold for `expected`. ca.key is only carried by bundles made with
// --include-ca-key: when `expected` lists it and the node's installed manifest does not, the node
// is held to the manifest without ca.key.
std::vector<ManifestFile> expected_files(const Manifest& expected, const NodeInstall& install);

// ok (pending-hooks when the last switch's hooks never ran), stale (older generation), or
// mismatch naming the generation or each file that is missing, extra or different (size, mode,
// digest). Files and directories that match `install.ignored` or the manifest's exclude patterns
// count on neither side. An unmanaged install is compared by content alone: ok (its detail says
// the directory is unmanaged) or mismatch.
NodeOutcome compare_install(const NodeInstall& install, const Manifest& expected);

// The whole per-node check: read then compare (`holder`, `state_read`: as read_install).
NodeOutcome verify_node(Remote& remote, const keydir::KeyDir& dir, const Manifest& expected,
                        keydir::DestLock* holder = nullptr,
                        keydir::NodeState* state_read = nullptr);

// Without a manifest: the generation and file set most nodes hold (ties go to the newer
// generation) becomes the expectation. Only complete generations (every file as the node's own
// manifest.json lists it, nothing else) vote, and a node whose generation is not complete is a
// mismatch whatever the others hold. `installs[i]` is nullopt for nodes that could not be read,
// whose reports are left as they are. Others become ok, stale or mismatch naming the odd files.
// An unmanaged install does not vote: its content is compared with the reference's (without
// what the reference's manifest excludes). Returns the agreed generation, if any node holds a
// complete one.
std::optional<std::uint64_t> judge_by_majority(
    std::vector<NodeReport>& reports, const std::vector<std::optional<NodeInstall>>& installs);

struct FleetVerification {
  std::vector<NodeReport> nodes;
  std::optional<std::uint64_t> generation;  // the expected one, or the one most nodes hold
};

// Every node against `expected`, or, without it, against what most nodes hold.
FleetVerification verify_fleet(std::span<const NodeConfig> nodes,
                               const std::optional<Manifest>& expected, const FleetRunOptions& run);

}  // namespace kf
