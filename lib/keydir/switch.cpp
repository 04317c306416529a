#include "keydir/switch.hpp"

#include "core/escape.hpp"
#include "core/files.hpp"
#include "keydir/crash_point.hpp"

namespace kf::keydir {
namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

// A link's text as a refusal shows it: it is the node's (whoever changed the link chose it), as
// is the text keyfleet read before.
std::string shown_link(std::string_view text) {
  return text.empty() ? std::string("nothing") : escape_untrusted(text, 300);
}

// The switch over the Remote's file operations, under the lock the caller holds: the same checks
// and renames as the holder's `switch` request (node_scripts.cpp), in the same order, without a
// process on the node. `link` is the new link, made beforehand; the caller removes it on failure.
class FileSwitch {
 public:
  FileSwitch(Remote& remote, const KeyDir& dir, const SwitchRequest& request, std::string link)
      : remote_(remote), dir_(dir), request_(request), link_(std::move(link)) {}

  // A refusal's words (as the script says them), or the failed call's error.
  NodeResult<void> run() {
    // Everything the checks look at, read together (one round trip); the link's text comes with
    // it, since refusals quote it. Checked in the script's order.
    const std::string entry = dir_.generation_entry(request_.entry);
    std::vector<std::string> paths{entry, dir_.current()};
    if (!request_.temp.empty()) paths.push_back(dir_.generation_entry(request_.temp));
    if (!request_.aside.empty()) paths.push_back(request_.aside);
    KF_TRY_ASSIGN(auto found, remote_.survey({}, paths));
    link_now_ = found.links[1];
    KF_CHECK(check_generation(found.links[0].stat,
                              request_.temp.empty() ? std::nullopt : found.links[2].stat));
    KF_CHECK(check_link(link_now_.stat));
    if (!request_.aside.empty() && found.links.back().stat) {
      return refuse("{} already exists", request_.aside);
    }
    return move();
  }

 private:
  template <typename... Args>
  std::unexpected<NodeError> refuse(fmt::format_string<Args...> format, Args&&... args) const {
    return std::unexpected(
        NodeError{NodeStatus::failed, "", fmt::format(format, std::forward<Args>(args)...)});
  }

  // `there`: GENERATIONS/GEN's lstat; `written`: GENERATIONS/TMP's, with a TMP.
  NodeResult<void> check_generation(const std::optional<RemoteStat>& there,
                                    const std::optional<RemoteStat>& written) {
    const std::string entry = dir_.generation_entry(request_.entry);
    if (!request_.temp.empty()) {
      if (there) return refuse("{} already exists", entry);
      if (!written || written->type != FileType::directory) {
        return refuse("{} is not a directory", dir_.generation_entry(request_.temp));
      }
      return {};
    }
    if (!there || there->type != FileType::directory) {
      return refuse("{} is not a complete generation", entry);
    }
    return {};
  }

  // What the link holds now, for a refusal: its text, "" when it is no symlink.
  NodeResult<std::string> now(const std::optional<RemoteStat>& at_link) const {
    if (!at_link || at_link->type != FileType::symlink) return std::string();
    return link_now_.text;
  }

  NodeResult<void> check_link(const std::optional<RemoteStat>& at_link) {
    const std::string& cur = dir_.current();
    if (request_.expected) {
      KF_TRY_ASSIGN(std::string text, now(at_link));
      // The text keyfleet read, or another spelling of the same path (where the script's
      // `test -ef` also compares the directories).
      if (at_link && at_link->type == FileType::symlink &&
          (text == *request_.expected ||
           dir_.resolve_target(text) == dir_.resolve_target(*request_.expected))) {
        return {};
      }
      return refuse("{} changed meanwhile: it points at '{}', not '{}'", cur, shown_link(text),
                    shown_link(*request_.expected));
    }
    if (!request_.aside.empty()) {
      // What keyfleet moves aside is a file or directory, never a link it has not read.
      if (at_link && at_link->type != FileType::symlink) return {};
      KF_TRY_ASSIGN(std::string text, now(at_link));
      return refuse(
          "{} changed meanwhile: it is no longer the directory or file keyfleet read (now '{}')",
          cur, shown_link(text));
    }
    if (!at_link) return {};
    KF_TRY_ASSIGN(std::string text, now(at_link));
    return refuse("{} changed meanwhile: it points at '{}', not 'nothing'", cur, shown_link(text));
  }

  // Everything that can refuse was checked; each rename undoes the ones before it when it fails.
  NodeResult<void> move() {
    const std::string entry = dir_.generation_entry(request_.entry);
    const std::string temp =
        request_.temp.empty() ? std::string() : dir_.generation_entry(request_.temp);
    if (!temp.empty()) KF_CHECK(remote_.rename(temp, entry));
    auto undo_generation = [&] {
      if (!temp.empty()) (void)remote_.rename(entry, temp);
    };
    if (!request_.aside.empty()) {
      // The link's path is empty between this rename and the next, and gets back what was
      // there if the next one fails.
      if (auto moved = remote_.rename(dir_.current(), request_.aside); !moved) {
        undo_generation();
        return moved;
      }
    }
    if (auto replaced = remote_.replace(link_, dir_.current()); !replaced) {
      if (!request_.aside.empty()) (void)remote_.rename(request_.aside, dir_.current());
      undo_generation();
      return replaced;
    }
    return {};
  }

  Remote& remote_;
  const KeyDir& dir_;
  const SwitchRequest& request_;
  std::string link_;
  LinkInfo link_now_;
};

// The same switch run by the lock's holder with `mv -T`, for an SFTP server without
// posix-rename@openssh.com. The holder's script removes the link when it refuses.
NodeResult<void> switch_in_holder(DestLock& lock, const SwitchRequest& request,
                                  const std::string& link) {
  const std::string fields[] = {
      "switch", request.temp, request.entry, request.expected.value_or(""), link, request.aside};
  KF_TRY_ASSIGN(ExecResult result, lock.request(fields));
  if (result.ok()) return {};
  // The script's refusal quotes the link's text, which is the node's.
  std::string why = escape_untrusted(trimmed(result.err.empty() ? result.out : result.err), 600);
  return std::unexpected(
      NodeError{NodeStatus::failed, "",
                why.empty() ? fmt::format("exit status {}", result.exit_status) : std::move(why)});
}

}  // namespace

NodeResult<void> switch_current(Remote& remote, DestLock* lock, const KeyDir& dir,
                                const SwitchRequest& request, int lock_wait,
                                const std::string& step) {
  std::optional<DestLock> own;
  if (lock == nullptr) {
    KF_TRY_ASSIGN(own, DestLock::acquire(remote, dir, lock_wait, step));
    lock = &*own;
  }
  const std::string link_path = dir.link_temp(std::string(kLinkTempPrefix) + random_hex(8));
  // The new link is made over the file operations, which cost no process on the node.
  if (auto made = remote.symlink(dir.link_target_of(request.entry), link_path); !made) {
    return std::unexpected(at_step(made.error(), step));
  }
  crash_point("link-created");
  auto direct = remote.can_replace();
  NodeResult<void> switched = !direct   ? std::unexpected(direct.error())
                              : *direct ? FileSwitch(remote, dir, request, link_path).run()
                                        : switch_in_holder(*lock, request, link_path);
  if (!switched) {
    // Best effort: the link may be gone already (the holder's script removes it when it refuses).
    (void)remote.unlink(link_path);
    NodeError error = std::move(switched.error());
    if (!error.step.empty()) return std::unexpected(at_step(std::move(error), step));
    // A refusal: the words of the check that refused.
    return node_fail(NodeStatus::failed, step, "{}: switching {} to {}: {}", remote.node_name(),
                     dir.current(), dir.link_target_of(request.entry), error.message);
  }
  crash_point("current-switched");
  std::vector<std::string> changed;
  if (!request.temp.empty() || !request.aside.empty()) changed.push_back(dir.generations());
  changed.push_back(dir.link_dir());
  if (auto synced = remote.fsync_dirs(changed); !synced) {
    return std::unexpected(at_step(synced.error(), step));
  }
  return {};
}

}  // namespace kf::keydir
