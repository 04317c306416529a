#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/deadline.hpp"
#include "core/fd.hpp"
#include "inventory/inventory.hpp"
#include "keydir/node_status.hpp"

namespace kf {

// A way to reach host:port other than a TCP connection from here: a jump host's direct-tcpip
// channel. The descriptor is one end of a socketpair that behaves like the TCP connection.
class Tunnel {
 public:
  virtual ~Tunnel() = default;
  virtual NodeResult<Fd> open(const std::string& node, const std::string& host, int port,
                              Deadline deadline) = 0;
};

// The jump hosts of one fleet command (inventory `jump`, ssh_config `ProxyJump`). One SSH session
// per hop, shared by every node behind it: the bastion sees one login, not one per node. Each hop
// is reached like a node: its host key checked against the node's known_hosts before any
// credential is offered, authenticated with the hop's IdentityFile, else the node's identity_file
// (or ssh-agent), bounded by the node's connect_timeout. A hop that fails fails every node behind
// it with its status (a wrong bastion key is `hostkey` for all of them), and is not tried again.
class JumpHosts {
 public:
  // The tunnel to `node` through its chain; null for a node reached directly.
  NodeResult<std::shared_ptr<Tunnel>> route(const NodeConfig& node, Deadline deadline);

 private:
  std::mutex mutex_;
  std::map<std::string, NodeResult<std::shared_ptr<Tunnel>>> hops_;  // by chain prefix
};

// The jump hosts of the command this process runs: its SSH connections and its served-certificate
// probes share them, so a bastion sees one login per hop for the whole command.
std::shared_ptr<JumpHosts> command_jump_hosts();

}  // namespace kf
