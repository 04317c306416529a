#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pki/generation.hpp"

// A node's key directory, the one place that knows its layout. `unpack` (this machine) and
// push/verify/cleanup/rollback (over SSH) all go through it:
//   DEST/generations/NNNNNN/             one complete key set per generation
//   DEST/current -> generations/NNNNNN   relative symlink, switched by rename(2)
//   DEST/.lock                           flock'ed by every keyfleet command that changes DEST
//   DEST/.pending                        hooks owed since the last switch (keydir/pending.hpp)
//   DEST/history.log                     one line per install, rollback or purge (history.hpp)
//   DEST/generations/.tmp-*              an install in progress, or a generation being pruned
//   DEST/current.tmp-*                   a new `current` link not yet renamed into place
// The last two are leftovers once no keyfleet command runs: they are removed under the lock.
namespace kf::keydir {

inline constexpr std::string_view kGenerationsDir = "generations";
inline constexpr std::string_view kCurrentLink = "current";
inline constexpr std::string_view kLockFile = ".lock";
inline constexpr std::string_view kPendingFile = ".pending";
inline constexpr std::string_view kHistoryFile = "history.log";
inline constexpr std::string_view kTempPrefix = ".tmp-";
inline constexpr std::string_view kPrunePrefix = ".tmp-prune-";
inline constexpr std::string_view kLinkTempPrefix = "current.tmp-";

// The paths of one key directory. Every name keyfleet uses on a node comes from here.
class KeyDir {
 public:
  explicit KeyDir(std::string dest);

  [[nodiscard]] const std::string& dest() const { return dest_; }
  [[nodiscard]] const std::string& generations() const { return generations_; }
  [[nodiscard]] const std::string& current() const { return current_; }
  [[nodiscard]] const std::string& lock() const { return lock_; }
  [[nodiscard]] const std::string& pending() const { return pending_; }
  [[nodiscard]] std::string history() const;
  [[nodiscard]] std::string generation(std::uint64_t number) const;
  [[nodiscard]] std::string generation_entry(std::string_view name) const;
  // What `current` holds for a generation: "generations/NNNNNN", relative to DEST.
  [[nodiscard]] static std::string link_target(std::uint64_t number);
  [[nodiscard]] static std::string link_target_of(std::string_view entry_name);
  // The generation a `current` link target names, if it has exactly the form link_target makes.
  [[nodiscard]] static std::optional<std::uint64_t> generation_of_target(std::string_view target);

 private:
  std::string dest_;
  std::string generations_;
  std::string current_;
  std::string lock_;
  std::string pending_;
};

}  // namespace kf::keydir
