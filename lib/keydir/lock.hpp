#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keydir/layout.hpp"
#include "keydir/remote.hpp"

namespace kf::keydir {

// HOME/.lock (DEST/.lock, or DEST.generations/.lock with layout "link") held on a node: a
// process there (scripts::lock_script) has flock'ed it and serves requests until released, so
// that push, cleanup, rollback and unpack never change one key directory at the same time. A node
// without flock(1) goes unlocked (held() is false) but still serves requests. The lock goes when
// this object does, or with the connection.
class DestLock {
 public:
  // Waits up to `wait_seconds` for the lock (the node's lock_timeout). Held elsewhere all that
  // time, or HOME or its .lock a symlink: failed at `step`, naming the lock. A HOME it has to
  // create gets mode 0710 and `group` when one is given (an install for an owner), else 0700.
  static NodeResult<DestLock> acquire(Remote& remote, const KeyDir& dir, int wait_seconds,
                                      const std::string& step,
                                      std::optional<std::uint32_t> group = std::nullopt);

  DestLock(DestLock&&) noexcept = default;
  DestLock& operator=(DestLock&&) noexcept = default;
  ~DestLock() { release(); }

  [[nodiscard]] bool held() const { return held_; }
  // The uid the holder runs as on the node (nullopt: it could not tell): the SSH user's, or with
  // `become` the one it runs as.
  [[nodiscard]] std::optional<std::uint32_t> uid() const { return uid_; }

  // Runs one request (scripts::lock_script's fields, e.g. {"sha256-files", "1", PATH}) in the
  // lock's holder: its output with stderr merged, and its exit status. Fields may not contain a
  // newline.
  NodeResult<ExecResult> request(std::span<const std::string> fields);

  // The SHA-256 of each of `paths` (regular files), computed on the node by one sha256sum instead
  // of reading them back: lowercase hex by path, for the paths it could hash. The rest are left
  // out for the caller to read itself: files sha256sum could not read, and names a request line
  // or its output cannot carry (a newline or a backslash in them).
  NodeResult<std::map<std::string, std::string>> sha256_files(std::span<const std::string> paths);

  // Lets go of the lock and returns once the node has (so that a following flock there does not
  // find it still held by us). Idempotent.
  void release();

 private:
  DestLock(std::unique_ptr<Channel> channel, std::string node, std::string lock, bool held,
           std::optional<std::uint32_t> uid)
      : channel_(std::move(channel)),
        node_(std::move(node)),
        lock_(std::move(lock)),
        held_(held),
        uid_(uid) {}

  std::unique_ptr<Channel> channel_;
  std::string node_;
  std::string lock_;
  bool held_ = false;
  std::optional<std::uint32_t> uid_;
};

// A line of sha256sum's output "<64 hex>  <path>" (GNU's "\\" before an escaped name allowed) ->
// the digest in lowercase; empty when it is not that.
std::string parse_sha256sum(std::string_view output);

// The digests in sha256sum's `output` of the files it was given, by path: only lines
// "HEX  PATH" (or "HEX *PATH") naming one of `paths`; error messages, escaped names and anything
// else are skipped, and a path named twice with two digests counts as not hashed.
std::map<std::string, std::string> parse_sha256_lines(std::string_view output,
                                                      std::span<const std::string> paths);

// The command DestLock::acquire runs on the node.
std::string lock_command(const KeyDir& dir, int wait_seconds,
                         std::optional<std::uint32_t> group = std::nullopt);

// The layout's words the lock script takes after HOME and the wait: GENERATIONS and the link's
// path, each quoted.
std::string layout_words(const KeyDir& dir);

}  // namespace kf::keydir
