#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <boost/filesystem.hpp>

#include "core/fd.hpp"
#include "inventory/inventory.hpp"
#include "support/test_support.hpp"

namespace kf::test {

// A loopback fleet of real sshd daemons (tests/fleet/fleet.sh) in a fresh temporary directory,
// stopped and removed on destruction. Nodes are numbered from 1, as in the inventory.
class Fleet {
 public:
  explicit Fleet(int size);
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;
  ~Fleet();

  [[nodiscard]] int size() const { return static_cast<int>(nodes_.size()); }
  [[nodiscard]] const fs::path& dir() const { return temp_.path(); }
  [[nodiscard]] fs::path inventory() const { return dir() / "inventory.toml"; }
  [[nodiscard]] fs::path known_hosts() const { return dir() / "known_hosts"; }
  [[nodiscard]] fs::path client_key() const { return dir() / "client_key"; }
  [[nodiscard]] fs::path home() const { return dir() / "home"; }
  [[nodiscard]] fs::path node_dir(int k) const;
  // What the fleet's inventory.toml says about node k, as load_inventory reads it.
  [[nodiscard]] const NodeConfig& node(int k) const;
  [[nodiscard]] const std::vector<NodeConfig>& nodes() const { return nodes_; }

  // SIGKILLs node k's sshd and every session it serves: a node that dies.
  void kill_node(int k);
  // Starts node k again on the same port with the same host key.
  void restart_node(int k);
  // SIGSTOPs (or SIGCONTs) every session node k's sshd serves, leaving the listener alone: a peer
  // that stops answering mid-connection.
  void freeze_sessions(int k, bool frozen);

  // Restarts node k with its SFTP input slowed to `rate` bytes/s ("2k"; "off" undoes it), so that
  // an upload to it takes seconds: long enough to act while it is under way.
  void throttle_uploads(int k, const std::string& rate);

  // Writes a copy of the fleet's inventory as `name` in the fleet's directory, with the TOML
  // lines of `extra[k]` added to node k's table and `more` (further [[node]] tables) at the end.
  fs::path inventory_with(const std::string& name, const std::map<int, std::string>& extra,
                          const std::string& more = "") const;

  // Starts a jump host that may forward only to the nodes and to `extra_ports` on 127.0.0.1
  // (fleet.sh bastion) and adds its key to known_hosts; returns its port. Its sshd log (DEBUG1)
  // is bastion_log().
  int start_bastion(const std::vector<int>& extra_ports = {});
  [[nodiscard]] fs::path bastion_log() const { return dir() / "bastion" / "sshd.log"; }

  // Writes node k's entry in the fleet's known_hosts with a different (valid) ed25519 key.
  void corrupt_known_host(int k);
  // Removes node k's entry from the fleet's known_hosts.
  void forget_known_host(int k);
  // Puts known_hosts back as the fleet wrote it.
  void restore_known_hosts();

 private:
  void script(const std::vector<std::string>& args) const;
  void describe_nodes(int size);
  void rewrite_known_host(int k, const std::string& replacement);

  TempDir temp_;
  std::vector<NodeConfig> nodes_;
  std::string original_known_hosts_;
  bool started_ = false;
  std::set<int> frozen_;  // nodes whose sessions freeze_sessions stopped
};

// A TCP port on 127.0.0.1 that nothing listens on (bound to find it, then closed).
int unused_port();

// A listener on 127.0.0.1 that completes TCP handshakes (the kernel does) but never reads or
// says a word: a stalled SSH server.
class SilentListener {
 public:
  SilentListener();
  [[nodiscard]] int port() const { return port_; }

 private:
  Fd fd_;
  int port_ = 0;
};

}  // namespace kf::test
