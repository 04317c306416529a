#pragma once

#include <string>

#include "core/deadline.hpp"
#include "keydir/remote.hpp"

namespace kf::keydir {

// This machine as a Remote: `unpack` installs through it with the same code push uses over SSH,
// and tests run the real node scripts through it under /bin/sh. File operations are the POSIX
// calls SFTP maps to (rename never replaces, symlinks are never followed but by stat), commands
// run as `/bin/sh -c COMMAND`, and every wait is bounded by `deadline`.
class LocalRemote : public Remote {
 public:
  explicit LocalRemote(std::string name, Deadline deadline = Deadline::after_seconds(3600));

  [[nodiscard]] const std::string& node_name() const override { return name_; }
  NodeResult<ExecResult> exec(std::string_view command,
                              std::span<const std::uint8_t> stdin_data = {}) override;
  NodeResult<std::unique_ptr<Channel>> open_channel(std::string_view command) override;
  NodeResult<void> mkdir(const std::string& path, mode_t mode) override;
  NodeResult<void> upload(const std::string& path, std::span<const std::uint8_t> data,
                          mode_t mode) override;
  NodeResult<std::vector<std::uint8_t>> read_file(const std::string& path,
                                                  std::size_t max_size) override;
  NodeResult<std::optional<RemoteStat>> stat(const std::string& path) override;
  NodeResult<std::optional<RemoteStat>> lstat(const std::string& path) override;
  NodeResult<std::string> readlink(const std::string& path) override;
  NodeResult<void> symlink(const std::string& target, const std::string& link_path) override;
  NodeResult<void> rename(const std::string& from, const std::string& to) override;
  NodeResult<bool> can_replace() override { return true; }
  NodeResult<void> replace(const std::string& from, const std::string& to) override;
  NodeResult<void> unlink(const std::string& path) override;
  NodeResult<void> rmdir(const std::string& path) override;
  NodeResult<void> chown(const std::string& path, std::uint32_t uid, std::uint32_t gid) override;
  NodeResult<void> chmod(const std::string& path, mode_t mode) override;
  NodeResult<std::vector<DirEntry>> list_dir(const std::string& path) override;
  NodeResult<SpaceInfo> space(const std::string& path) override;
  NodeResult<void> fsync_dir(const std::string& path) override;

 private:
  // "<name>: cannot <what> <path>: <strerror(err)>"
  [[nodiscard]] std::unexpected<NodeError> fail_io(std::string_view what, const std::string& path,
                                                   int err) const;

  std::string name_;
  Deadline deadline_;
};

}  // namespace kf::keydir
