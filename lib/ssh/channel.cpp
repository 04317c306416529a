#include "ssh/channel.hpp"

#include <algorithm>

namespace kf {

SshChannel::SshChannel(std::shared_ptr<SshConnection> connection, SshChannelPtr channel,
                       std::string what)
    : connection_(std::move(connection)), channel_(std::move(channel)), what_(std::move(what)) {
  connection_->channels.push_back(this);
}

SshChannel::~SshChannel() {
  std::erase(connection_->channels, this);
  if (channel_ && connection_->session) ssh_channel_close(channel_.get());
}

void SshChannel::detach() {
  channel_.reset();
}

NodeResult<ssh_channel> SshChannel::live() const {
  if (!channel_ || !connection_->session) {
    return node_fail(NodeStatus::failed, "exec", "{}: {}: the connection is closed",
                     connection_->name, what_);
  }
  return channel_.get();
}

NodeResult<void> SshChannel::write(std::string_view data) {
  KF_TRY_ASSIGN(ssh_channel channel, live());
  KF_TRY_ASSIGN(bool all_sent, connection_->write_all(channel, data, what_));
  if (!all_sent) {
    return node_fail(NodeStatus::failed, "exec", "{}: {}: the command stopped reading",
                     connection_->name, what_);
  }
  return {};
}

NodeResult<std::string> SshChannel::read_until(std::string_view marker) {
  KF_TRY_ASSIGN(ssh_channel channel, live());
  for (;;) {
    if (auto at = out_.find(marker); at != std::string::npos) {
      std::string found = out_.substr(0, at + marker.size());
      out_.erase(0, at + marker.size());
      return found;
    }
    if (ended_) return std::exchange(out_, {});
    KF_TRY_ASSIGN(bool more, connection_->read_some(channel, out_, err_, what_));
    ended_ = !more;
  }
}

NodeResult<ExecResult> SshChannel::finish() {
  KF_TRY_ASSIGN(ssh_channel channel, live());
  connection_->refresh_timeout();
  if (!ended_ && ssh_channel_send_eof(channel) != SSH_OK &&
      !ssh_is_connected(connection_->session.get())) {
    return std::unexpected(connection_->failure("exec", what_));
  }
  while (!ended_) {
    KF_TRY_ASSIGN(bool more, connection_->read_some(channel, out_, err_, what_));
    ended_ = !more;
  }
  ExecResult result{ssh_channel_get_exit_status(channel), std::exchange(out_, {}),
                    std::exchange(err_, {})};
  ssh_channel_close(channel);
  channel_.reset();
  return result;
}

}  // namespace kf
