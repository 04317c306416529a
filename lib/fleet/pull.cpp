#include "fleet/pull.hpp"

#include <algorithm>

#include "core/escape.hpp"
#include "core/secret.hpp"
#include "keydir/lock.hpp"

namespace kf {
namespace {

// Files per sha256sum command: far below any node's ARG_MAX with 2 KiB names.
constexpr std::size_t kDigestBatch = 100;

SourceType source_type(FileType type) {
  switch (type) {
    case FileType::regular:
      return SourceType::regular;
    case FileType::directory:
      return SourceType::directory;
    case FileType::symlink:
      return SourceType::symlink;
    default:
      return SourceType::other;
  }
}

struct RemoteWalk {
  Remote& remote;
  std::string top;
  std::string origin;
  std::span<const PathPattern> exclude;
  ImportedTree tree;
  struct Listed {
    std::string path;
    std::uint64_t size;
    mode_t mode;
  };
  std::vector<Listed> listed;  // files as the listing showed them
};

// Bounded: check_source_entry refuses a name more than kMaxPathDepth deep before it is entered.
Result<void> walk(RemoteWalk& w, const std::string& prefix) {
  const std::string dir = prefix.empty() ? w.top : join_path(w.top, prefix);
  KF_TRY_ASSIGN(auto entries, as_result(w.remote.list_dir(dir)));
  for (const auto& entry : entries) {
    const std::string path = prefix.empty() ? entry.name : prefix + "/" + entry.name;
    SourceEntry source{path, source_type(entry.stat.type),
                       static_cast<mode_t>(entry.stat.mode & 07777)};
    if (excluded(w.exclude, path, source.type == SourceType::directory)) {
      w.tree.excluded.push_back(path);
      continue;
    }
    KF_CHECK(check_source_entry(source, w.origin));
    if (w.listed.size() + w.tree.directories.size() >= kMaxImportEntries) {
      return fail(ExitCode::usage, "{}: more than {} files and directories", w.origin,
                  kMaxImportEntries);
    }
    if (source.type == SourceType::regular) {
      if (entry.stat.size > kMaxImportFileSize) {
        return fail(ExitCode::usage,
                    "{}: '{}' has {} bytes, more than the {} a key set file may "
                    "have",
                    w.origin, escape_untrusted(path), entry.stat.size, kMaxImportFileSize);
      }
      w.listed.push_back({path, entry.stat.size, source.mode});
      continue;
    }
    w.tree.directories.push_back({path, source.mode});
    KF_CHECK(walk(w, path));
  }
  return {};
}

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (auto nl = text.rfind('\n'); nl != std::string::npos) text.erase(0, nl + 1);
  return text;
}

}  // namespace

Result<std::string> check_pull_path(std::string_view path) {
  auto bad = [&](std::string_view why) {
    return fail(ExitCode::usage, "--path '{}': {}", escape_untrusted(path), why);
  };
  if (!path.starts_with('/')) return bad("not an absolute path on the node");
  std::string normal;
  for (std::size_t start = 1; start <= path.size();) {
    std::size_t slash = path.find('/', start);
    std::string_view part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part == "." || part == "..") return bad("'.' and '..' are not allowed");
    if (!part.empty()) normal += "/" + std::string(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (normal.empty()) return bad("the root directory is not a key directory");
  if (std::any_of(normal.begin(), normal.end(),
                  [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return bad("control characters are not allowed");
  }
  return normal;
}

Result<std::string> resolve_parents(Remote& remote, const std::string& path) {
  // As Linux's path walk: at most 40 links, ".." applied to the real directory reached so far.
  constexpr int kMaxLinks = 40;
  auto split = [](std::string_view text) {
    std::vector<std::string> parts;
    for (std::size_t start = 0; start <= text.size();) {
      std::size_t slash = std::min(text.find('/', start), text.size());
      if (slash > start) parts.emplace_back(text.substr(start, slash - start));
      start = slash + 1;
    }
    return parts;
  };
  auto joined = [](const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += "/" + p;
    return out;
  };
  const std::string origin = fmt::format("{}:{}", remote.node_name(), path);
  std::vector<std::string> done;
  std::vector<std::string> todo = split(parent_path(path));
  std::reverse(todo.begin(), todo.end());  // a stack: the next component last
  int links = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.back());
    todo.pop_back();
    if (part == ".") continue;
    if (part == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    const std::string candidate = joined(done) + "/" + part;
    KF_TRY_ASSIGN(auto st, as_result(remote.lstat(candidate)));
    if (!st) {
      return fail(ExitCode::usage, "{}: {} does not exist on the node", origin,
                  escape_untrusted(candidate));
    }
    if (st->type == FileType::symlink) {
      if (++links > kMaxLinks) {
        return fail(ExitCode::usage, "{}: more than {} symbolic links above it", origin, kMaxLinks);
      }
      KF_TRY_ASSIGN(std::string target, as_result(remote.readlink(candidate)));
      if (target.starts_with('/')) done.clear();
      auto more = split(target);
      todo.insert(todo.end(), more.rbegin(), more.rend());
      continue;
    }
    if (st->type != FileType::directory) {
      return fail(ExitCode::usage, "{}: {} is not a directory on the node", origin,
                  escape_untrusted(candidate));
    }
    done.push_back(std::move(part));
  }
  return joined(done) + "/" + path.substr(path.find_last_of('/') + 1);
}

Result<ImportedTree> read_remote_tree(Remote& remote, const std::string& path,
                                      std::span<const PathPattern> exclude) {
  RemoteWalk w{remote, path, fmt::format("{}:{}", remote.node_name(), path), exclude, {}, {}};
  KF_TRY_ASSIGN(auto top, as_result(remote.lstat(path)));
  if (!top) return fail(ExitCode::usage, "{}: no such directory on the node", w.origin);
  if (top->type == FileType::symlink) {
    return fail(ExitCode::usage,
                "{}: a symbolic link on the node: give the directory it points at (pull follows "
                "no link)",
                w.origin);
  }
  if (top->type != FileType::directory) {
    return fail(ExitCode::usage, "{}: not a directory on the node", w.origin);
  }
  KF_CHECK(walk(w, ""));
  for (const auto& [name, size, mode] : w.listed) {
    const std::string file = join_path(path, name);
    // SFTP's open follows symlinks: read_file lstats first and refuses anything but a file.
    KF_TRY_ASSIGN(auto bytes, as_result(remote.read_file(file, kMaxImportFileSize)));
    SecretBytes data(bytes.begin(), bytes.end());
    cleanse(bytes.data(), bytes.size());
    if (data.size() != size) {
      return fail(ExitCode::integrity,
                  "{}: '{}' changed while it was read ({} bytes listed, {} read): stop what "
                  "writes to it and run again; nothing was written",
                  w.origin, escape_untrusted(name), size, data.size());
    }
    w.tree.files.push_back({name, mode, std::move(data)});
  }
  for (const auto& p : exclude) w.tree.exclude.push_back(p.text());
  auto by_path = [](const auto& a, const auto& b) { return a.path < b.path; };
  std::sort(w.tree.files.begin(), w.tree.files.end(), by_path);
  std::sort(w.tree.directories.begin(), w.tree.directories.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  KF_CHECK(check_tree_limits(w.tree, w.origin));
  return std::move(w.tree);
}

Result<void> check_node_digests(Remote& remote, const std::string& path, const ImportedTree& tree) {
  const std::string origin = fmt::format("{}:{}", remote.node_name(), path);
  for (std::size_t start = 0; start < tree.files.size(); start += kDigestBatch) {
    const std::size_t end = std::min(tree.files.size(), start + kDigestBatch);
    // Relative names from inside PATH: each is one checked relative path, quoted.
    std::string command = "cd -- " + shell_quote(path) + " && sha256sum --";
    for (std::size_t i = start; i < end; ++i) command += " " + shell_quote(tree.files[i].path);
    KF_TRY_ASSIGN(auto sums, as_result(remote.exec(command)));
    if (!sums.ok()) {
      return fail(ExitCode::integrity, "{}: sha256sum on the node exited with status {}: {}",
                  origin, sums.exit_status, escape_untrusted(last_line(sums.err)));
    }
    std::string_view out = sums.out;
    for (std::size_t i = start; i < end; ++i) {
      auto nl = out.find('\n');
      std::string_view line = out.substr(0, nl);
      out = nl == std::string_view::npos ? std::string_view{} : out.substr(nl + 1);
      const auto& file = tree.files[i];
      std::string on_node = keydir::parse_sha256sum(line);
      std::string arrived = sha256_hex(file.data);
      if (on_node != arrived) {
        return fail(ExitCode::integrity,
                    "{}: '{}' has SHA-256 {} on the node, {} as it arrived: it changed on the way "
                    "or meanwhile; nothing was written",
                    origin, escape_untrusted(file.path),
                    on_node.empty() ? "(unreadable sha256sum output)" : on_node, arrived);
      }
    }
  }
  return {};
}

Result<PulledKeyset> pull_keyset(const NodeConfig& node, const PullOptions& options,
                                 const Connector& connect) {
  if (options.out.empty()) {
    return fail(ExitCode::usage, "--out is required: the key directory to write the key set to");
  }
  KF_TRY_ASSIGN(std::string path, check_pull_path(options.path));
  KF_TRY_ASSIGN(auto patterns, parse_patterns(options.exclude, "--exclude-path"));
  KF_TRY_ASSIGN(auto remote, as_result(connect(node)));
  // Links above --path are followed, once; the tree itself is read through none.
  KF_TRY_ASSIGN(std::string resolved, resolve_parents(*remote, path));
  KF_TRY_ASSIGN(auto tree, read_remote_tree(*remote, resolved, patterns));
  KF_CHECK(check_node_digests(*remote, resolved, tree));
  remote.reset();  // says goodbye: the rest is local

  CreateKeysOptions create;
  create.out = options.out;
  create.force = options.force;
  create.exclude = options.exclude;
  PulledKeyset pulled;
  pulled.node = node.name;
  pulled.path = path;
  pulled.resolved = resolved;
  KF_TRY_ASSIGN(pulled.created, create_keyset_from(create, std::move(tree)));
  return pulled;
}

}  // namespace kf
