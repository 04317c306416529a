// posix-rename@openssh.com, which libssh 0.10 cannot send (its sftp_rename is SFTP v3's, and
// OpenSSH's server refuses that over an existing name). Without it, moving DEST/current to the
// next generation costs two `mv` processes on the node; with it, one request on the SFTP channel
// (written by SftpBatch, beside libssh's own).
#include "ssh/sftp_batch.hpp"
#include "ssh/ssh_session.hpp"

namespace kf {
namespace {

constexpr std::string_view kPosixRename = "posix-rename@openssh.com";

}  // namespace

NodeResult<bool> SshSession::can_replace() {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  return sftp_extension_supported(s, std::string(kPosixRename).c_str(), "1") != 0;
}

NodeResult<void> SshSession::replace(const std::string& from, const std::string& to) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  SftpBatch batch(*core_, s, fmt::format("rename {} over {} (posix-rename)", from, to));
  batch.posix_rename(from, to);
  KF_TRY_ASSIGN(auto answers, batch.run());
  if (answers[0].type != SSH_FXP_STATUS) {
    return node_fail(NodeStatus::failed, "sftp",
                     "{}: cannot rename {} over {}: the SFTP server's answer is not a status",
                     core_->name, from, to);
  }
  if (!answers[0].failed()) return {};
  return std::unexpected(
      status_failure(answers[0].status, fmt::format("rename {} over", from), to));
}

}  // namespace kf
