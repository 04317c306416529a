#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"

namespace kf {

// One node of the fleet, with [defaults] applied and "~" expanded. See docs/inventory.md.
struct NodeConfig {
  std::string name;  // unique within the inventory
  std::string host;  // DNS name or IP literal to connect to
  int port = 22;
  std::string user = "root";
  std::string identity_file;  // empty: use ssh-agent
  std::string known_hosts = "~/.ssh/known_hosts";
  std::string dest = "/etc/keyfleet/agent";
  std::string staging = "/var/tmp/keyfleet";
  int connect_timeout = 10;  // seconds
  int timeout = 120;         // whole per-node deadline, seconds
  int lock_timeout = 10;     // seconds to wait for DEST/.lock held by another keyfleet command
  std::string pre;           // optional hook commands run on the node
  std::string post;
  std::string check;
  std::vector<std::string> sans;  // extra subjectAltNames for create-keys
  unsigned line = 0;              // where its [[node]] starts, for messages
};

struct Inventory {
  std::string origin;             // the file name messages use
  std::vector<NodeConfig> nodes;  // in file order
};

// Parses the TOML inventory. Unknown keys, wrong types, duplicate names, invalid hosts and
// out-of-range numbers are usage errors (exit 2) "ORIGIN:LINE: ..." naming the key.
// Relative identity_file/known_hosts paths resolve against `base_dir` (the inventory's
// directory when loaded from a file; the working directory when empty).
Result<Inventory> parse_inventory(std::string_view text, std::string_view origin,
                                  const boost::filesystem::path& base_dir = {});

// Reads and parses `path` (symlinks followed); a missing or unreadable file is a usage error.
Result<Inventory> load_inventory(const boost::filesystem::path& path);

// Every name the agent certificate must carry: each node's host, then its sans, in inventory
// order, without repeats (DNS names compared case-insensitively).
std::vector<std::string> certificate_hosts(const Inventory& inventory);

// "~" and "~/..." against $HOME (the password database when HOME is unset or empty); anything
// else, "~user" included, is returned unchanged.
std::string expand_tilde(std::string_view path);

}  // namespace kf
