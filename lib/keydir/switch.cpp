#include "keydir/switch.hpp"

#include "core/files.hpp"
#include "keydir/crash_point.hpp"
#include "keydir/node_scripts.hpp"

namespace kf::keydir {
namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

std::string switch_command(const KeyDir& dir, const SwitchRequest& request,
                           const std::string& link_path, int lock_wait) {
  return "sh -c " + shell_quote(scripts::switch_script()) + " keyfleet-switch " +
         shell_quote(dir.home()) + " " + layout_words(dir) + " " + shell_quote(request.temp) + " " +
         shell_quote(request.entry) + " " + shell_quote(request.expected.value_or("")) + " " +
         shell_quote(link_path) + " " + shell_quote(request.aside) + " " +
         std::to_string(lock_wait);
}

NodeResult<void> switch_current(Remote& remote, DestLock* lock, const KeyDir& dir,
                                const SwitchRequest& request, int lock_wait,
                                const std::string& step) {
  const std::string link_path = dir.link_temp(std::string(kLinkTempPrefix) + random_hex(8));
  // The new link is made over the file operations, which cost no process on the node; the
  // script only renames it over the old one (SFTP cannot replace a path).
  if (auto made = remote.symlink(dir.link_target_of(request.entry), link_path); !made) {
    return std::unexpected(at_step(made.error(), step));
  }
  crash_point("link-created");
  NodeResult<ExecResult> result;
  if (lock != nullptr) {
    const std::string fields[] = {"switch",      request.temp,
                                  request.entry, request.expected.value_or(""),
                                  link_path,     request.aside};
    result = lock->request(fields);
  } else {
    result = remote.exec(switch_command(dir, request, link_path, lock_wait));
  }
  if (!result || !result->ok()) {
    // The script removes the link when it refuses, but not when it never ran (lock still held,
    // lost connection). Best effort: it may be gone already.
    (void)remote.unlink(link_path);
  }
  if (!result) return std::unexpected(at_step(result.error(), step));
  if (!result->ok()) {
    std::string why = trimmed(result->err);
    // 75: HOME/.lock held by another command all the wait; 77: HOME or its .lock a symlink.
    bool refused = result->exit_status == 75 || result->exit_status == 77;
    return node_fail(refused ? NodeStatus::refused : NodeStatus::failed, step,
                     "{}: switching {} to {}: {}", remote.node_name(), dir.current(),
                     dir.link_target_of(request.entry),
                     why.empty() ? fmt::format("exit status {}", result->exit_status) : why);
  }
  crash_point("current-switched");
  if (!request.temp.empty() || !request.aside.empty()) {
    if (auto synced = remote.fsync_dir(dir.generations()); !synced) {
      return std::unexpected(at_step(synced.error(), step));
    }
  }
  if (auto synced = remote.fsync_dir(dir.link_dir()); !synced) {
    return std::unexpected(at_step(synced.error(), step));
  }
  return {};
}

}  // namespace kf::keydir
