// SshSession's file operations over its SFTP channel: the login's subsystem, or with `become` an
// sftp-server started through it. libssh 0.10 sends one request and waits for its answer, so
// what can go together (an upload's writes, fsync and close; a listing's readdirs and close) goes
// through SftpBatch instead, one round trip for all (sftp_files.cpp, sftp_dirs.cpp); single
// requests stay libssh's.
#include "core/escape.hpp"
#include "keydir/become.hpp"
#include "ssh/sftp_common.hpp"

namespace kf {

using namespace sftp_common;

namespace {

std::string_view sftp_status_text(int code) {
  switch (code) {
    case SSH_FX_EOF:
      return "unexpected end of file";
    case SSH_FX_NO_SUCH_FILE:
      return "no such file or directory";
    case SSH_FX_PERMISSION_DENIED:
      return "permission denied";
    case SSH_FX_BAD_MESSAGE:
      return "invalid argument";  // OpenSSH's mapping of EINVAL
    case SSH_FX_NO_CONNECTION:
    case SSH_FX_CONNECTION_LOST:
      return "connection lost";
    case SSH_FX_OP_UNSUPPORTED:
      return "not supported by the node's SFTP server";
    case SSH_FX_INVALID_HANDLE:
      return "invalid handle";
    case SSH_FX_NO_SUCH_PATH:
      return "no such path";
    case SSH_FX_FILE_ALREADY_EXISTS:
      return "already exists";
    case SSH_FX_WRITE_PROTECT:
      return "read-only filesystem";
    case SSH_FX_NO_MEDIA:
      return "no media";
    default:
      return "";
  }
}

}  // namespace

NodeResult<sftp_session> SshSession::sftp() {
  SftpSessionPtr& slot = sftp_slot();
  if (slot) return slot.get();
  if (!core_->session)
    return node_fail(NodeStatus::failed, "sftp", "{}: not connected", core_->name);
  core_->refresh_timeout();
  if (becomes()) {
    KF_TRY_ASSIGN(slot, start_become_sftp());
    return slot.get();
  }
  SftpSessionPtr sftp(sftp_new(core_->session.get()));
  if (!sftp) return std::unexpected(core_->failure("sftp", "opening the SFTP channel"));
  if (sftp_init(sftp.get()) != SSH_OK) {
    return std::unexpected(
        core_->failure("sftp",
                       "starting the SFTP subsystem (is `Subsystem sftp` set in the node's "
                       "sshd_config?)"));
  }
  core_->sftp = std::move(sftp);
  return core_->sftp.get();
}

// The login's SFTP subsystem runs as the SSH user: with `become`, DEST's files are reached through
// an sftp-server started through it on an exec channel instead, speaking the same protocol.
NodeResult<SftpSessionPtr> SshSession::start_become_sftp() {
  const std::string what = fmt::format("starting sftp-server through become '{}'", core_->become);
  SshChannelPtr channel(ssh_channel_new(core_->session.get()));
  if (!channel) return std::unexpected(core_->failure("sftp", what));
  if (ssh_channel_open_session(channel.get()) != SSH_OK ||
      ssh_channel_request_exec(channel.get(), keydir::sftp_server_command(core_->become).c_str()) !=
          SSH_OK) {
    return std::unexpected(core_->failure("sftp", what));
  }
  ssh_channel raw = channel.get();
  SftpSessionPtr sftp(sftp_new_channel(core_->session.get(), raw));
  if (!sftp) return std::unexpected(core_->failure("sftp", what));
  (void)channel.release();  // the SFTP session's now: sftp_free frees it
  core_->refresh_timeout();
  if (sftp_init(sftp.get()) == SSH_OK) return sftp;
  if (core_->timed_out() || !ssh_is_connected(core_->session.get())) {
    return std::unexpected(core_->failure("sftp", what));
  }
  // The server ended before it spoke: what it (or become) said on stderr says why.
  std::string out;
  std::string err;
  for (;;) {
    auto more = core_->read_some(raw, out, err, what);
    if (!more || !*more) break;
  }
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  return node_fail(NodeStatus::failed, "sftp", "{}: {}: {}", core_->name, what,
                   err.empty() ? std::string("it did not answer as an SFTP server")
                               : escape_untrusted(err, 300));
}

NodeError SshSession::sftp_failure(std::string_view what, const std::string& path) const {
  // The path (and a name in `what`) may be one the node listed.
  const std::string shown = escape_untrusted(fmt::format("{} {}", what, path));
  if (core_->timed_out() || !core_->session || !ssh_is_connected(core_->session.get())) {
    return core_->failure("sftp", shown);
  }
  // Connected, so the server answered with a status: sftp_get_error holds it.
  const SftpSessionPtr& sftp = sftp_slot();
  int code = sftp ? sftp_get_error(sftp.get()) : 0;
  std::string_view text = sftp_status_text(code);
  std::string why = text.empty() ? ssh_error_text(core_->session.get()) : std::string(text);
  return NodeError{NodeStatus::failed, "sftp",
                   fmt::format("{}: cannot {}: {}", core_->name, shown, why)};
}

NodeError SshSession::status_failure(std::uint32_t code, std::string_view what,
                                     const std::string& path) const {
  // sftp_failure words the status as for every request libssh sent itself.
  if (const SftpSessionPtr& sftp = sftp_slot()) sftp->errnum = static_cast<int>(code);
  return sftp_failure(what, path);
}

NodeResult<std::optional<RemoteStat>> SshSession::stat(const std::string& path) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  AttributesPtr attributes(sftp_stat(s, path.c_str()));
  if (!attributes) {
    if (!core_->timed_out() && is_missing(sftp_get_error(s))) return std::nullopt;
    return std::unexpected(sftp_failure("stat", path));
  }
  return to_remote_stat(*attributes);
}

NodeResult<std::optional<RemoteStat>> SshSession::lstat(const std::string& path) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  AttributesPtr attributes(sftp_lstat(s, path.c_str()));
  if (!attributes) {
    if (!core_->timed_out() && is_missing(sftp_get_error(s))) return std::nullopt;
    return std::unexpected(sftp_failure("lstat", path));
  }
  return to_remote_stat(*attributes);
}

// SFTP creates files and directories through the server's umask; when the wanted mode grants group
// or other bits a umask may have taken away, set it explicitly. (No fsetstat in libssh 0.10, so by
// path: callers create these inside directories only they can write.)
NodeResult<void> SshSession::fix_mode(const std::string& path, mode_t mode, std::string_view what) {
  if ((mode & 07077) == 0) return {};
  KF_TRY_ASSIGN(auto st, lstat(path));
  if (st && st->mode == (mode & 07777)) return {};
  core_->refresh_timeout();
  if (sftp_chmod(sftp_slot().get(), path.c_str(), mode) != SSH_OK) {
    return std::unexpected(sftp_failure(fmt::format("set the mode of ({})", what), path));
  }
  return {};
}

NodeResult<void> SshSession::mkdir(const std::string& path, mode_t mode) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  if (sftp_mkdir(s, path.c_str(), mode) != SSH_OK) {
    NodeError error = sftp_failure("create directory", path);
    // OpenSSH reports EEXIST as a bare "failure".
    if (error.status == NodeStatus::failed && sftp_get_error(s) == SSH_FX_FAILURE) {
      if (auto st = lstat(path); st && *st) {
        error.message =
            fmt::format("{}: cannot create directory {}: it already exists", core_->name, path);
      }
    }
    return std::unexpected(std::move(error));
  }
  return fix_mode(path, mode, "new directory");
}

NodeResult<std::string> SshSession::readlink(const std::string& path) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  CharPtr target(sftp_readlink(s, path.c_str()));
  if (!target) return std::unexpected(sftp_failure("read the symlink", path));
  return std::string(target.get());
}

NodeResult<void> SshSession::symlink(const std::string& target, const std::string& link_path) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  if (sftp_symlink(s, target.c_str(), link_path.c_str()) != SSH_OK) {
    return std::unexpected(
        sftp_failure(fmt::format("create a symlink to {} at", target), link_path));
  }
  return {};
}

NodeResult<void> SshSession::rename(const std::string& from, const std::string& to) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  if (sftp_rename(s, from.c_str(), to.c_str()) != SSH_OK) {
    NodeError error = sftp_failure(fmt::format("rename {} to", from), to);
    if (error.status == NodeStatus::failed && sftp_get_error(s) == SSH_FX_FAILURE) {
      if (auto st = lstat(to); st && *st) {
        error.message = fmt::format(
            "{}: cannot rename {} to {}: it already exists (SFTP does not "
            "replace)",
            core_->name, from, to);
      }
    }
    return std::unexpected(std::move(error));
  }
  return {};
}

NodeResult<void> SshSession::unlink(const std::string& path) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  if (sftp_unlink(s, path.c_str()) != SSH_OK) return std::unexpected(sftp_failure("remove", path));
  return {};
}

NodeResult<void> SshSession::rmdir(const std::string& path) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  if (sftp_rmdir(s, path.c_str()) != SSH_OK) {
    NodeError error = sftp_failure("remove directory", path);
    if (error.status == NodeStatus::failed && sftp_get_error(s) == SSH_FX_FAILURE) {
      if (auto entries = list_dir(path); entries && !entries->empty()) {
        error.message =
            fmt::format("{}: cannot remove directory {}: it is not empty", core_->name, path);
      }
    }
    return std::unexpected(std::move(error));
  }
  return {};
}

NodeResult<void> SshSession::chown(const std::string& path, std::uint32_t uid, std::uint32_t gid) {
  // SFTP's setstat follows symlinks: refuse one rather than change what it points at.
  KF_TRY_ASSIGN(auto st, lstat(path));
  if (st && st->type == FileType::symlink) {
    return node_fail(NodeStatus::failed, "sftp", "{}: cannot change the owner of {}: a symlink",
                     core_->name, path);
  }
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  if (sftp_chown(s, path.c_str(), uid, gid) != SSH_OK) {
    return std::unexpected(sftp_failure("change the owner of", path));
  }
  return {};
}

NodeResult<void> SshSession::chmod(const std::string& path, mode_t mode) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  if (sftp_chmod(s, path.c_str(), mode) != SSH_OK) {
    return std::unexpected(sftp_failure("set the mode of", path));
  }
  return {};
}

NodeResult<SpaceInfo> SshSession::space(const std::string& path) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  if (sftp_extension_supported(s, "statvfs@openssh.com", "2") == 0) {
    return node_fail(NodeStatus::failed, "sftp",
                     "{}: cannot check free space on {}: the node's SFTP server lacks "
                     "statvfs@openssh.com",
                     core_->name, path);
  }
  core_->refresh_timeout();
  StatvfsPtr info(sftp_statvfs(s, path.c_str()));
  if (!info) return std::unexpected(sftp_failure("check free space on", path));
  SpaceInfo out;
  out.available = info->f_bavail * info->f_frsize;
  out.total = info->f_blocks * info->f_frsize;
  out.read_only = (info->f_flag & SSH_FXE_STATVFS_ST_RDONLY) != 0;
  return out;
}

// For SFTP servers without fsync@openssh.com: GNU `sync FILE` fsyncs that file.
NodeResult<void> SshSession::remote_sync(const std::string& path, std::string_view what) {
  KF_TRY_ASSIGN(auto result, exec("sync -- " + shell_quote(path)));
  if (!result.ok()) {
    std::string why = result.err;
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
    return node_fail(NodeStatus::failed, "sftp", "{}: cannot {} {}: sync exited {}: {}",
                     core_->name, what, escape_untrusted(path), result.exit_status,
                     escape_untrusted(why, 300));
  }
  return {};
}

}  // namespace kf
