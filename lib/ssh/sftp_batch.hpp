#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keydir/remote.hpp"
#include "ssh/connection.hpp"

namespace kf {

// One answer of the SFTP server, as SftpBatch read it.
struct SftpAnswer {
  std::uint8_t type = 0;             // SSH_FXP_STATUS, _HANDLE, _DATA, _NAME or _ATTRS
  std::uint32_t status = SSH_FX_OK;  // a STATUS answer's code
  std::string bytes;                 // a HANDLE's handle, a DATA's data
  std::vector<DirEntry> entries;     // a NAME's names, as they came ("." and ".." too)
  RemoteStat attrs;                  // an ATTRS answer's

  [[nodiscard]] bool failed() const { return type == SSH_FXP_STATUS && status != SSH_FX_OK; }
  [[nodiscard]] bool at_eof() const { return type == SSH_FXP_STATUS && status == SSH_FX_EOF; }
};

// The file type in SFTP permissions (their S_IFMT bits).
FileType file_type_of(std::uint32_t permissions);

// One answer packet (its type byte onwards, without the length) -> the request id it answers and
// the answer; nullopt when it is not a well-formed STATUS, HANDLE, DATA or NAME answer.
std::optional<std::pair<std::uint32_t, SftpAnswer>> parse_sftp_answer(std::string_view packet);

// SFTP requests written together and answered together: one round trip where libssh 0.10, whose
// client sends a request and waits for its answer, takes one per request. A node's CPU goes
// mostly to round trips (each wakes its sshd, the SFTP server and the network stack), not to the
// requests themselves.
//
// The requests go on the libssh SFTP session's own channel, and their answers are read back here.
// That is safe because libssh's client is synchronous and reads exactly one packet per request
// (length first, nothing beyond it): with no request of libssh's outstanding, whatever comes on
// the channel answers these. Requests that need an earlier answer (a handle) go in the next batch.
class SftpBatch {
 public:
  // `what` names the work in messages ("create /x/y"); it is escaped here, since its path may be
  // one the node listed.
  SftpBatch(SshConnection& core, sftp_session sftp, std::string_view what);

  // Each queues one request; run() sends them.
  void open(std::string_view path, std::uint32_t flags, std::uint32_t mode);  // SSH_FXF_*
  void opendir(std::string_view path);
  void lstat(std::string_view path);
  void stat(std::string_view path);
  void readlink(std::string_view path);
  void readdir(std::string_view handle);
  void read(std::string_view handle, std::uint64_t offset, std::uint32_t length);
  void write(std::string_view handle, std::uint64_t offset, std::span<const std::uint8_t> data);
  void fsync(std::string_view handle);  // fsync@openssh.com
  void close(std::string_view handle);
  void chmod(std::string_view path, std::uint32_t mode);
  void remove(std::string_view path);
  void rmdir(std::string_view path);
  void posix_rename(std::string_view from, std::string_view to);  // posix-rename@openssh.com

  [[nodiscard]] std::size_t size() const { return ids_.size(); }

  // Writes the queued requests, then reads one answer for each, in order. Fails (the step
  // "sftp") only when the connection does, the deadline runs out or an answer is not one; an
  // SFTP status is an answer. After such a failure the SFTP session is out of step
  // (SshConnection::out_of_step): every later batch on it fails at once, and the session's next
  // sftp() opens a new one.
  NodeResult<std::vector<SftpAnswer>> run();

 private:
  NodeResult<std::vector<SftpAnswer>> exchange();
  void begin(std::uint8_t type);
  void finish();
  NodeResult<void> fill(std::size_t size);
  NodeResult<SftpAnswer> next_answer(std::uint32_t id);

  SshConnection& core_;
  sftp_session sftp_;
  std::string what_;
  std::string out_;                 // the queued requests
  std::size_t packet_start_ = 0;    // where the request being queued begins in out_
  std::vector<std::uint32_t> ids_;  // theirs, in order
  std::string in_;                  // read from the channel, not parsed yet
};

}  // namespace kf
