#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "core/path_pattern.hpp"

namespace kf {

// How a node's key directory is laid out (inventory `layout`; keydir/layout.hpp has the paths).
enum class DestLayout {
  generations,  // DEST/current -> generations/NNNNNN, DEST keyfleet's own directory
  link,         // DEST itself -> DEST.generations/NNNNNN, the exact path a service reads
};

std::string_view to_string(DestLayout layout);

// One hop of a jump chain (inventory `jump`, ssh_config `ProxyJump`), resolved through the
// ssh_config like a node's host: connect to the first hop, from there to the next, then the node.
struct JumpHost {
  std::string alias;  // as written ("bastion"); `host` is what it resolved to
  std::string host;   // DNS name or IP literal
  int port = 22;
  std::string user;           // as written, else ssh_config's User, else the local user (as ssh -J)
  std::string identity_file;  // the hop's own IdentityFile from the ssh_config; empty: none given
};

// The agent's TLS endpoint (inventory `probe = "HOST:PORT"`), which `status`, `verify --served`
// and `push` connect to, from this machine, to see which certificate the agent serves.
struct ProbeEndpoint {
  std::string host;  // DNS name or IP literal; the node's `host` when the inventory gave ":PORT"
  int port = 0;
};

// One node of the fleet, with [defaults] applied, the ssh_config read and "~" expanded.
// See docs/inventory.md.
struct NodeConfig {
  std::string name;  // unique within the inventory
  std::string host;  // DNS name or IP literal to connect to (ssh_config's HostName when it has one)
  std::string alias;  // `host` as the inventory wrote it (an ssh_config Host alias, or the host)
  int port = 22;
  std::string user = "root";
  std::string identity_file;  // empty: use ssh-agent
  std::string known_hosts = "~/.ssh/known_hosts";
  std::string dest = "/etc/keyfleet/agent";
  // With `become`: "~/.cache/keyfleet" + DEST + ".staging", where "~" is the SSH user's home on
  // the node, resolved there (keydir::staging_owner).
  std::string staging = "/etc/keyfleet/agent.staging";  // default: DEST + ".staging"
  int connect_timeout = 10;                             // seconds
  int timeout = 120;                                    // whole per-node deadline, seconds
  int lock_timeout = 10;                                // seconds to wait for DEST/.lock
  int keep = 5;  // generations push leaves after pruning (current included); 2..999999
  DestLayout layout = DestLayout::generations;
  // Files a service writes into its key directory (GnuPG's random_seed, lock files, sockets):
  // rsync patterns that verify and push's decision ignore and that no new generation carries.
  std::vector<PathPattern> runtime_files;
  std::string pre;  // optional hook commands run on the node
  std::string post;
  std::string check;
  std::vector<std::string> sans;  // extra subjectAltNames for create-keys
  // Who owns the installed generations on the node (names or numbers); empty: the SSH user (with
  // `become`, root).
  std::string owner;
  std::string group;
  // The prefix that runs a command as root on the node without a terminal ("sudo -n"), for
  // everything done in DEST, the hooks and pull; words of [A-Za-z0-9_./:=@%+,-] separated by one
  // space. Empty: everything runs as the SSH user.
  std::string become;
  std::vector<std::string> groups;  // for --limit @GROUP; Ansible: every group the host is in
  std::vector<JumpHost> jump;       // empty: connect directly
  unsigned line = 0;                // where its [[node]] (or Ansible host) starts, for messages
  // Where each key's value came from: "FILE:LINE" of the inventory or ssh_config line that set it.
  // A key absent here has keyfleet's built-in default.
  std::map<std::string, std::string, std::less<>> origins;
  std::string ssh_config;  // the ssh_config file read for this node; empty: none
  // The agent's TLS endpoint (`probe`); none: the served certificate is not probed.
  std::optional<ProbeEndpoint> probe;

  [[nodiscard]] bool is_set(std::string_view key) const { return origins.contains(key); }
};

enum class InventoryFormat { toml, ansible_ini, ansible_yaml };

struct Inventory {
  std::string origin;  // the file name messages use
  InventoryFormat format = InventoryFormat::toml;
  std::vector<NodeConfig> nodes;      // in file order
  std::string ssh_config;             // the ssh_config read; empty: none
  std::vector<std::string> warnings;  // also given to LoadOptions::warn as they occur
};

struct LoadOptions {
  // The ssh_config supplying HostName, Port, User, IdentityFile, ProxyJump and ConnectTimeout for
  // a `host` that is a Host alias. nullopt: ~/.ssh/config when it exists; "none": none.
  std::optional<boost::filesystem::path> ssh_config;
  // nullopt: from the file name (.toml, .ini, .yml/.yaml), else from the content.
  std::optional<InventoryFormat> format;
  // Receives each warning ("FILE:LINE: ..."); empty: "keyfleet: warning: ..." on standard error.
  std::function<void(std::string_view)> warn;
};

// Parses an inventory (TOML, or an Ansible INI or YAML inventory). Unknown keys, wrong types,
// duplicate names, invalid hosts, invalid UTF-8 and out-of-range numbers are usage errors (exit 2)
// "ORIGIN:LINE: ..." naming the key. Relative identity_file/known_hosts paths resolve against
// `base_dir` (the inventory's directory when loaded from a file; the working directory when
// empty). Without `options` no ssh_config is read.
Result<Inventory> parse_inventory(std::string_view text, std::string_view origin,
                                  const boost::filesystem::path& base_dir = {});
Result<Inventory> parse_inventory(std::string_view text, std::string_view origin,
                                  const boost::filesystem::path& base_dir,
                                  const LoadOptions& options);

// Reads and parses `path` (symlinks followed); a missing or unreadable file is a usage error.
// Reads ~/.ssh/config when it exists, unless `options` says otherwise.
Result<Inventory> load_inventory(const boost::filesystem::path& path,
                                 const LoadOptions& options = {});

// Every name the agent certificate must carry: each node's host, then its sans, in inventory
// order, without repeats (DNS names compared case-insensitively).
std::vector<std::string> certificate_hosts(const Inventory& inventory);

// "~" and "~/..." against $HOME (the password database when HOME is unset or empty); anything
// else, "~user" included, is returned unchanged.
std::string expand_tilde(std::string_view path);

// For a node whose host name does not resolve (DNS): the sentence that says which ssh_config was
// read for it, so that a Host alias meant for another file is noticed: "no ssh_config was read:
// if 'web1' is a Host alias, name its file with --ssh-config FILE (...)", "'web1.dc1' is the
// HostName that FILE:LINE gives for 'web1'", or "no Host block with a HostName in FILE matches
// 'web1'". To be appended to the connection error: "...: Name or service not known; <hint>".
std::string unresolved_host_hint(const NodeConfig& node);

}  // namespace kf
