#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"

namespace kf {

// One node of the fleet, with [defaults] applied and "~" expanded. See docs/inventory.md.
struct NodeConfig {
  std::string name;                    // unique within the inventory
  std::string host;                    // DNS name or IP literal to connect to
  int port = 22;
  std::string user = "root";
  std::string identity_file;           // empty: use ssh-agent
  std::string known_hosts = "~/.ssh/known_hosts";
  std::string dest = "/etc/keyfleet/agent";
  std::string staging = "/var/tmp/keyfleet";
  int connect_timeout = 10;            // seconds
  int timeout = 120;                   // whole per-node deadline, seconds
  std::string pre;                     // optional hook commands run on the node
  std::string post;
  std::string check;
  std::vector<std::string> sans;       // extra subjectAltNames for create-keys
};

struct Inventory {
  std::vector<NodeConfig> nodes;  // in file order
};

// Parses the TOML inventory. Unknown keys, wrong types, duplicate names, invalid hosts and
// out-of-range numbers are usage errors (exit 2) naming the key and its line.
Result<Inventory> parse_inventory(std::string_view text, std::string_view origin);
Result<Inventory> load_inventory(const boost::filesystem::path& path);

// "~" and "~/..." against $HOME.
std::string expand_tilde(std::string_view path);

}  // namespace kf
