#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/path_pattern.hpp"
#include "inventory/inventory.hpp"
#include "pki/generation.hpp"

// A node's key directory, the one place that knows its layout. `unpack` (this machine) and
// push/verify/cleanup/rollback/status (over SSH) all go through it. Two layouts (inventory
// `layout`):
//
// "generations" (the default): DEST is keyfleet's own directory, services read DEST/current/.
//   DEST/generations/NNNNNN/             one complete key set per generation
//   DEST/current -> generations/NNNNNN   relative symlink, switched by rename(2)
//   DEST/.lock, DEST/.pending, DEST/history.log, DEST/current.tmp-*
//
// "link": DEST is the exact path a service already reads (/var/lib/keytrustee/.keytrustee), and
// keyfleet's link; everything else keyfleet keeps lives beside it, in its HOME DEST.generations:
//   DEST -> NAME.generations/NNNNNN      relative symlink, switched by rename(2)
//   DEST.generations/NNNNNN/             the generations
//   DEST.generations/.lock, .pending, history.log, current.tmp-*
//   DEST.generations/adopted-<UTC time>  what was at DEST before `push --adopt` (kept)
//
// In both, HOME (DEST, or DEST.generations) holds the lock, the owed hooks, the history and the
// temporary links, and must be a real directory (never a symlink: the lock and every write would
// go through it). Leftovers once no keyfleet command runs: GENERATIONS/.tmp-* (an install in
// progress, or a generation being pruned) and HOME/current.tmp-* (a new link not yet renamed into
// place), removed under the lock.
namespace kf::keydir {

inline constexpr std::string_view kGenerationsDir = "generations";
inline constexpr std::string_view kCurrentLink = "current";
inline constexpr std::string_view kLinkHomeSuffix = ".generations";
inline constexpr std::string_view kLockFile = ".lock";
inline constexpr std::string_view kPendingFile = ".pending";
inline constexpr std::string_view kHistoryFile = "history.log";
inline constexpr std::string_view kTempPrefix = ".tmp-";
inline constexpr std::string_view kPrunePrefix = ".tmp-prune-";
inline constexpr std::string_view kLinkTempPrefix = "current.tmp-";
inline constexpr std::string_view kAdoptedPrefix = "adopted-";

// What an entry of GENERATIONS is to keyfleet, by its name and type. In layout "link"
// GENERATIONS is HOME too, so the lock, the owed hooks, the history, temporary links and adopted
// directories are found there as well; in layout "generations" they are in DEST, and an entry of
// DEST/generations is a generation, a temporary, or not keyfleet's.
enum class EntryKind {
  generation,  // NNNNNN, a directory
  temp,        // .tmp-*: an install or a prune in progress
  link_temp,   // current.tmp-*, a symlink: a new link not yet in place
  lock,
  pending,
  history,
  adopted,  // adopted-*: a directory `push --adopt` moved aside (layout "link")
  other,    // not keyfleet's
};

// The paths of one key directory. Every name keyfleet uses on a node comes from here.
class KeyDir {
 public:
  explicit KeyDir(std::string dest, DestLayout layout = DestLayout::generations,
                  std::vector<PathPattern> runtime = {});
  // A node's key directory as its inventory entry describes it (dest, layout, runtime_files).
  static KeyDir of(const NodeConfig& node);

  [[nodiscard]] const std::string& dest() const { return dest_; }
  [[nodiscard]] DestLayout layout() const { return layout_; }
  // The directory keyfleet owns: DEST, or DEST.generations. Holds the lock, the owed hooks, the
  // history and the temporary links; created by push, never a symlink.
  [[nodiscard]] const std::string& home() const { return home_; }
  // Where the generations are: DEST/generations, or DEST.generations (the home itself).
  [[nodiscard]] const std::string& generations() const { return generations_; }
  // The link keyfleet switches: DEST/current, or DEST.
  [[nodiscard]] const std::string& current() const { return current_; }
  // The directory holding that link, whose entries a switch changes (fsynced after it).
  [[nodiscard]] const std::string& link_dir() const { return link_dir_; }
  [[nodiscard]] const std::string& lock() const { return lock_; }
  [[nodiscard]] const std::string& pending() const { return pending_; }
  [[nodiscard]] std::string history() const;
  [[nodiscard]] std::string generation(std::uint64_t number) const;
  [[nodiscard]] std::string generation_entry(std::string_view name) const;
  // A temporary link's path (in HOME), renamed over current() by the switch.
  [[nodiscard]] std::string link_temp(std::string_view name) const;
  // Where `push --adopt` moves what it found at DEST: HOME/adopted-<utc> (e.g.
  // adopted-20261123T101500Z), from a Unix time.
  [[nodiscard]] std::string adopted_path(std::int64_t unix_time) const;

  // What the link holds for a generation: "generations/NNNNNN", or "NAME.generations/NNNNNN"
  // (relative to link_dir()).
  [[nodiscard]] std::string link_target(std::uint64_t number) const;
  [[nodiscard]] std::string link_target_of(std::string_view entry_name) const;
  // The generation a link text names, if it has exactly the form link_target makes.
  [[nodiscard]] std::optional<std::uint64_t> generation_of_target(std::string_view target) const;
  // Whether a link text (relative to link_dir(), or absolute) names GENERATIONS or something in
  // it, however it is spelled: a link keyfleet made, even when broken.
  [[nodiscard]] bool names_generations(std::string_view target) const;
  // A link text as the absolute path it names, lexically ("." and ".." applied).
  [[nodiscard]] std::string resolve_target(std::string_view target) const;

  [[nodiscard]] EntryKind classify(std::string_view name, bool is_directory, bool is_symlink) const;

  // Files a service writes into the key directory (inventory `runtime_files`): never read,
  // compared or installed by keyfleet.
  [[nodiscard]] const std::vector<PathPattern>& runtime() const { return runtime_; }
  [[nodiscard]] bool is_runtime(std::string_view path, bool is_directory) const;

 private:
  std::string dest_;
  DestLayout layout_;
  std::vector<PathPattern> runtime_;
  std::string home_;
  std::string generations_;
  std::string current_;
  std::string link_dir_;
  std::string link_prefix_;  // "generations/" or "NAME.generations/"
  std::string lock_;
  std::string pending_;
};

// "/a//b/../c" -> "/a/c": empty and "." components dropped, ".." applied, lexically.
std::string lexically_normal(std::string_view path);

}  // namespace kf::keydir
