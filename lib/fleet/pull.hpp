#pragma once

#include <span>
#include <string>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "core/path_pattern.hpp"
#include "fleet/run.hpp"
#include "inventory/inventory.hpp"
#include "keydir/remote.hpp"
#include "pki/keyset.hpp"
#include "pki/keyset_import.hpp"

// `keyfleet pull`: create-keys --import, read from a live node over SFTP ("log into the active
// host and copy its keys", checked): every entry listed without following a symlink and held to
// the import rules, every file read, its SHA-256 computed on the node as well (sha256sum) and
// compared, and only then the key set written locally as the next generation of KEYDIR.
namespace kf {

struct PullOptions {
  std::string path;                  // the directory on the node, absolute
  boost::filesystem::path out;       // KEYDIR
  std::vector<std::string> exclude;  // --exclude-path patterns
  bool force = false;                // replace the set in KEYDIR (archived), as create-keys
};

struct PulledKeyset {
  CreatedKeyset created;
  std::string node;
  std::string path;      // as given (--path, normalised)
  std::string resolved;  // where it was read: `path` with the links above it followed
};

// "/a/b" with no "." or ".." component, no control byte and not "/" itself; else a usage error
// naming --path.
Result<std::string> check_pull_path(std::string_view path);

// `path` with every symlink in the directories above it followed, as the node's kernel (and
// OpenSSH's sftp, and the service itself) would follow them -- /var/lib -> /data/var/lib is
// common and legitimate -- and its last component left as it is. Resolved once, over SFTP
// (lstat, readlink), so that everything pull reads and hashes afterwards is under one real path.
// A missing or non-directory component, or more than 40 links, is a usage error.
Result<std::string> resolve_parents(Remote& remote, const std::string& path);

// Lists and reads `path` on the node (itself a directory, not a symlink): every entry checked
// with check_source_entry (origin "NODE:PATH"), excluded paths left out, directories down to
// kMaxPathDepth. A file whose size differs between the listing and the read is refused
// (ExitCode::integrity). Transport errors keep their exit code (exit_code_of).
Result<ImportedTree> read_remote_tree(Remote& remote, const std::string& path,
                                      std::span<const PathPattern> exclude);

// Runs sha256sum on the node over every file of `tree` (in batches, from inside `path`) and
// compares each digest with the bytes that arrived: a difference, or a file sha256sum could not
// read, is ExitCode::integrity naming the file.
Result<void> check_node_digests(Remote& remote, const std::string& path, const ImportedTree& tree);

// The whole pull from `node`, connected with `connect` (ssh_connector(): strict host keys from
// the inventory's known_hosts). Nothing is written to `options.out` unless every check passed.
Result<PulledKeyset> pull_keyset(const NodeConfig& node, const PullOptions& options,
                                 const Connector& connect = ssh_connector());

}  // namespace kf
