#pragma once

#include <memory>
#include <string>

#include "keydir/remote.hpp"
#include "ssh/connection.hpp"

namespace kf {

// An exec channel left open (keydir's Channel over SSH): the lock holder's.
class SshChannel final : public Channel {
 public:
  SshChannel(std::shared_ptr<SshConnection> connection, SshChannelPtr channel, std::string what);
  ~SshChannel() override;

  NodeResult<void> write(std::string_view data) override;
  NodeResult<std::string> read_until(std::string_view marker) override;
  NodeResult<ExecResult> finish() override;

  // The connection is closing: free the libssh channel now, before its session.
  void detach();

 private:
  [[nodiscard]] NodeResult<ssh_channel> live() const;

  std::shared_ptr<SshConnection> connection_;
  SshChannelPtr channel_;
  std::string what_;
  std::string out_;
  std::string err_;
  bool ended_ = false;
};

}  // namespace kf
