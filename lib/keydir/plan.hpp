#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "keydir/install.hpp"
#include "keydir/node_state.hpp"
#include "keydir/remote.hpp"
#include "pki/manifest.hpp"

// What to do with one key directory for one bundle, decided from what the node really holds
// (NodeState), never from a name alone. push and unpack decide with it; docs/decisions.md and
// `push --help` show the same table.
namespace kf::keydir {

// What a bundle is, for the decision: B's key set, generation G and manifest digest M.
struct BundleIdentity {
  std::string keyset;          // empty: a bundle made before key set ids
  std::string ca_fingerprint;  // decides the key set against a node manifest without an id
  std::uint64_t generation = 0;
  std::string manifest_sha256;

  static BundleIdentity of(const Manifest& manifest, const GenerationContent& content);
};

enum class Action {
  install,     // write G and switch to it (a first install, or the next generation)
  repair,      // the node's install is damaged: write G afresh and switch to it
  reactivate,  // generations/G is there intact: switch back to it
  unchanged,   // current is G, digest M, every file as the manifest says
  conflict,    // another key set, or G with another digest: nothing is changed
  downgrade,   // current is newer than G: nothing is changed
  unmanaged,   // layout "link": DEST is not keyfleet's (no --adopt): nothing is changed
};

struct Plan {
  Action action = Action::install;
  // What was found, named for the report ("current is a dangling link to 'x'", "agent.key
  // (digest differs)"); empty for a plain install or unchanged.
  std::string reason;
  // generations/G exists but does not hold B: it is replaced atomically (written anew under a
  // temporary name, the old one moved aside).
  bool replace_existing = false;
  // ... and `current` points at it: replaced with two switches, so that `current` names a
  // complete generation at every instant.
  bool replace_current = false;
  // The generation `current` pointed at, when it was a real one other than G: where a failed hook
  // rolls back to.
  std::optional<std::uint64_t> previous;
  // With --replace-keyset: the other key set's generations, removed once B is current.
  std::vector<std::uint64_t> foreign_generations;
  // With --adopt, layout "link": what is at DEST (CurrentKind::unmanaged) is moved to
  // HOME/adopted-<time> by the switch, just before the link takes its place, and kept.
  bool adopt = false;
};

struct DecideOptions {
  bool allow_downgrade = false;
  bool replace_keyset = false;
  bool adopt = false;  // layout "link": take DEST over from what is there (see Plan::adopt)
};

// The decision, rows checked in this order (the first that matches decides):
//   0. layout "link", DEST not keyfleet's (a real directory, a file, a link elsewhere)
//                                                                -> unmanaged (refused); with
//      --adopt, the rows below for a node without DEST, and Plan::adopt
//   1. DEST absent, or no generation and no `current`            -> install (first)
//   2. `current` missing while generations exist, dangling, not a symlink, or not a link to a real
//      generation directory with a valid manifest                -> repair
//   3. current is G with digest M, every file matching            -> unchanged
//      current is G with digest M, some file differs or missing   -> repair
//      current is G with another digest                           -> conflict
//   4. current is another key set                                 -> conflict
//   5. current is newer than G (same key set)                     -> downgrade
//   6. generations/G intact with digest M, current elsewhere      -> reactivate
//   7. otherwise                                                  -> install (a damaged or
//      different generations/G is replaced atomically)
// --replace-keyset turns a conflict into an install (or repair in place) that then removes the
// other key set's generations; --allow-downgrade turns a downgrade into rows 6-7. The state must
// have been read with read_for_plan. Pure: tests give it any state.
Plan decide(const NodeState& state, const BundleIdentity& bundle, const DecideOptions& options);

// The node state a decision needs: the manifests (every one; with Manifests::current, current's
// and generations/G's, enough unless --replace-keyset must find the other key set's generations),
// and generations/G's files hashed (on the node by `holder` when the caller holds the lock).
// decide() never looks at another generation's files.
NodeResult<NodeState> read_for_plan(Remote& remote, const KeyDir& dir, std::uint64_t generation,
                                    const std::string& step, DestLock* holder = nullptr,
                                    Manifests manifests = Manifests::all);

// Whether a node manifest belongs to the bundle's key set: by id when both have one, else (a
// manifest or bundle from before ids) by CA fingerprint.
bool same_keyset(const Manifest& node_manifest, const BundleIdentity& bundle);

std::string_view to_string(Action action);

}  // namespace kf::keydir
