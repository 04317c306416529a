#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keydir/lock.hpp"
#include "keydir/remote.hpp"

// Push's staged copies of a bundle on a node, and the rules that keep the node's other local users
// away from them. The one place that knows their names:
//   STAGING/                     the SSH user's or root's, writable by nobody else, no symlink,
//                                in a directory others cannot write (or root's, sticky: /tmp)
//   STAGING/<random>/            16 lowercase hex digits, 0700, owned by the SSH user: one per push
//   STAGING/<random>/bundle.kfb  the bundle as pushed, 0600
// Push creates only these (and STAGING and its missing parents, 0700, when it has to); cleanup
// wipes only these and leaves anything else under STAGING alone.
namespace kf::keydir {

inline constexpr std::string_view kStagedBundleName = "bundle.kfb";

// A fresh name for STAGING/<random>.
std::string new_staging_name();
// Whether `name` has the form new_staging_name makes.
bool is_staging_name(std::string_view name);

// Why a directory that is (or would hold) STAGING is unsafe for the SSH user `uid`, or empty when
// it is fine: STAGING itself, and every directory push creates on the way to it, must be a real
// directory (not a symlink) owned by `uid` or root that neither its group nor others can write.
std::string private_dir_problem(const RemoteStat& st, std::uint32_t uid);
// The same for the directory STAGING is in (the nearest existing one above a missing STAGING,
// which push creates in): a directory owned by `uid` or root that its group and others cannot
// write, unless it is root's with the sticky bit (/tmp, /var/tmp: others cannot remove or rename
// what push creates there).
std::string parent_dir_problem(const RemoteStat& st, std::uint32_t uid);

// The SSH user's uid on the node, from `id -u`: for passes that hold no DEST/.lock (whose holder
// says it, keydir/lock.hpp).
NodeResult<std::uint32_t> login_uid(Remote& remote, const std::string& step);

// The SSH user on the node and where its staging directory is.
struct StagingOwner {
  std::uint32_t uid = 0;
  std::string staging;  // absolute
};

// `staging` as the inventory resolved it, or, for one under "~/" (the default with `become`), in
// the directory the SSH user's sessions start in, its home (`pwd -P` in the same command as
// `id -u`). A session that starts in "/" has no home to stage in: failed at `step`, asking for
// `staging`. `login` is Remote::login().
NodeResult<StagingOwner> staging_owner(Remote& login, const std::string& staging,
                                       const std::string& step);

// The DEST lock holder on `remote` runs as the SSH user (no `become`): it may act on the staged
// copies, and its greeting's uid is the SSH user's.
inline bool holder_is_login(Remote& remote) {
  return &remote.login() == &remote;
}

// staging_owner over remote.login(), with the uid `holder` already said when it runs as the SSH
// user (no process started for it).
NodeResult<StagingOwner> staging_owner(Remote& remote, const std::string& staging,
                                       const DestLock* holder, const std::string& step);

// Where STAGING stands, read without writing anything.
struct StagingState {
  // STAGING when it exists, else its nearest existing ancestor: where new entries would go.
  std::string existing;
  // What push would create, outermost first (empty when STAGING exists).
  std::vector<std::string> missing;
};

// Reads STAGING (and its ancestors while they are missing) and refuses, status failed at `step`,
// one that breaks the rules above, naming it and why.
NodeResult<StagingState> inspect_staging(Remote& remote, const std::string& staging,
                                         std::uint32_t uid, const std::string& step);

// inspect_staging, then creates what is missing (0700 each; a directory another push made
// meanwhile is accepted if it passes the same rules) and a new STAGING/<random> (0700, checked
// to be the SSH user's). Returns STAGING/<random>. Nothing is created in a directory that breaks
// the rules.
NodeResult<std::string> make_staging_dir(Remote& remote, const std::string& staging,
                                         std::uint32_t uid, const std::string& step);

// One STAGING/<random> directory that push made.
struct StagedDir {
  std::string path;
  std::string copy;        // path/bundle.kfb, a regular file of the SSH user's; empty when none
  std::uint64_t size = 0;  // of the copy
  bool only_copy = true;   // nothing else in it: the directory goes once the copy is wiped
};

// What cleanup finds under STAGING.
struct StagingContents {
  // Why STAGING itself is left alone ("node1: staging directory /x is a symlink; ..."): it breaks
  // the rules above, and nothing in it is listed. Empty when it is fine or missing.
  std::string refused;
  std::vector<StagedDir> dirs;
  // Everything else, "PATH (why)", never touched; paths as the node spells them (not escaped).
  std::vector<std::string> left_alone;
};

// Lists STAGING (missing: nothing) for cleanup: push's own directories -- named as
// new_staging_name makes, 0700, owned by `uid` -- and in them only `bundle.kfb` when it is a
// regular file of `uid`'s. A STAGING that breaks the rules above is `refused`.
NodeResult<StagingContents> read_staging(Remote& remote, const std::string& staging,
                                         std::uint32_t uid, const std::string& step);

// Overwrites a staged copy with zeros over `size` bytes on the node, without following a symlink
// (GNU dd oflag=nofollow,nonblock conv=notrunc,nocreat,fsync: a name swapped for a symlink, FIFO
// or nothing since it was listed fails), then unlinks it, and removes `emptied_dir` after it
// (the copy's directory, when the copy was all it held; "" for none). With `holder`, dd runs in
// that lock holder (no exec channel of its own): only when the holder runs as the SSH user, who
// owns the copy (not through `become`).
NodeResult<void> wipe_staged_copy(Remote& remote, const std::string& path, std::uint64_t size,
                                  const std::string& step, DestLock* holder = nullptr,
                                  const std::string& emptied_dir = "");

// The dd command wipe_staged_copy runs.
std::string wipe_command(const std::string& path, std::uint64_t size);

}  // namespace kf::keydir
