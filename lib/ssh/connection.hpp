#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "core/deadline.hpp"
#include "core/handle.hpp"
#include "keydir/node_status.hpp"
#include "ssh/watchdog.hpp"

namespace kf {

// ssh_free only: libssh 0.10.6 leaves a socket given with SSH_OPTIONS_FD open after
// ssh_disconnect (and closes it itself on connection errors), but ssh_free closes what it holds.
using SshSessionPtr = Handle<ssh_session_struct, ssh_free>;
using SftpSessionPtr = Handle<sftp_session_struct, sftp_free>;
using SshChannelPtr = Handle<ssh_channel_struct, ssh_channel_free>;

class SshChannel;
class Tunnel;

// ssh_get_error's words, escaped for printing: libssh passes on what the server said as it came
// (its disconnect message, a banner line where a version string was expected).
[[nodiscard]] std::string ssh_error_text(ssh_session session);

// The state of one SSH connection, shared by its SshSession and the channels opened on it, so
// that they stay valid when the session moves. Every wait on the node goes through it, bounded by
// `deadline`.
struct SshConnection {
  std::string name;  // the node's, for messages
  std::string host;
  int port = 22;
  int timeout_seconds = 0;  // what the caller gave this node, for messages
  Deadline deadline = Deadline::after_seconds(0);
  std::string fingerprint;
  // The jump hosts' tunnel this connection runs over: it must outlive the session.
  std::shared_ptr<Tunnel> via;
  // Declared before the session so that it outlives it: it bounds the goodbye too.
  std::unique_ptr<SocketWatchdog> watchdog;
  SshSessionPtr session;
  SftpSessionPtr sftp;
  // Inventory `become`: every command runs through it, and file I/O through become_sftp, an
  // sftp-server started through it on an exec channel (the login's `sftp` serves staging only).
  std::string become;
  SftpSessionPtr become_sftp;
  // SFTP sessions a batch failed on midway (SftpBatch): their channel may still hold answers that
  // no request waits for, so they take no more batches, and the next sftp() opens a new one.
  // Kept, not freed, until close(): a caller may still hold the pointer.
  std::vector<SftpSessionPtr> out_of_step;
  std::string out_of_step_why;  // the failure that took the last one out
  // Open channels: libssh frees a session's channels with it, so close() lets go of theirs
  // first and they are never used (or freed) again.
  std::vector<SshChannel*> channels;

  // Says goodbye and frees the session (at most ~2 s on a stalled peer); idempotent.
  void close();

  [[nodiscard]] bool timed_out() const;
  // Takes `sftp` out of service (see out_of_step); `what` is why, for the next batch's message.
  void set_out_of_step(sftp_session sftp, std::string what);
  [[nodiscard]] bool is_out_of_step(sftp_session sftp) const;
  // Keeps libssh's own timeout at the time left before the deadline.
  void refresh_timeout();
  // An error from libssh during `what`: `timeout` past the deadline, else `failed` with
  // ssh_error_text's words. `what` is printed as it is: escape what came from the node.
  [[nodiscard]] NodeError failure(std::string step, std::string_view what) const;

  // The one loop that reads a channel under the deadline: appends what is there (stdout to
  // `out`, stderr to `err`), waiting at most a second for it, so the deadline is checked between
  // slices (a blocking libssh read returns 0 both at end-of-file and on timeout). False once the
  // channel's output has ended.
  NodeResult<bool> read_some(ssh_channel channel, std::string& out, std::string& err,
                             std::string_view what);
  // Sends all of `data` to the channel's stdin. False when the command stopped reading (its exit
  // status says what happened).
  NodeResult<bool> write_all(ssh_channel channel, std::string_view data, std::string_view what);
};

}  // namespace kf
