#include "support/fake_remote.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"
#include "keydir/history.hpp"
#include "keydir/staging.hpp"
#include "pki/manifest.hpp"

namespace kf::test {
namespace {

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

bool is_below(const std::string& path, const std::string& dir) {
  std::string prefix = dir == "/" ? "/" : dir + "/";
  return path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0;
}

// The shell words after `marker` in one of keyfleet's node commands (shell_quote'd or bare);
// nullopt when the command is not that one.
std::optional<std::vector<std::string>> words_after(std::string_view command,
                                                    std::string_view marker) {
  auto at = command.find(fmt::format(" {} ", marker));
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = command.substr(at + marker.size() + 2);
  std::vector<std::string> words;
  std::string word;
  bool quoted = false;
  bool in_word = false;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    char c = rest[i];
    if (quoted) {
      if (c == '\'') {
        quoted = false;
      } else {
        word += c;
      }
    } else if (c == '\'') {
      quoted = in_word = true;
    } else if (c == '\\' && i + 1 < rest.size()) {
      word += rest[++i];
    } else if (c == ' ') {
      if (in_word) words.push_back(std::exchange(word, {}));
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

// The lock holder as the node runs it: "locked UID", then one answer per request.
class FakeLockChannel final : public Channel {
 public:
  FakeLockChannel(FakeRemote& node, FakeRemote::Layout layout, bool held_elsewhere)
      : node_(node), layout_(std::move(layout)), ended_(held_elsewhere) {
    if (!held_elsewhere) out_ = fmt::format("locked {}\n", node.login_uid);
  }
  NodeResult<void> write(std::string_view data) override {
    in_ += data;
    for (;;) {
      std::vector<std::string> lines;
      std::size_t pos = 0;
      // The request's fields: its name's count, or for sha256-files two and the count it gives.
      auto needed = [&] {
        if (lines.empty()) return std::size_t{1};
        if (lines[0] == "switch") return std::size_t{6};
        if (lines[0] == "append" || lines[0] == "wipe") return std::size_t{3};
        if (lines[0] != "sha256-files") return std::size_t{1};
        if (lines.size() < 2) return std::size_t{2};
        return 2 + static_cast<std::size_t>(std::stoul(lines[1]));
      };
      while (lines.size() < needed()) {
        auto nl = in_.find('\n', pos);
        if (nl == std::string::npos) break;
        lines.push_back(in_.substr(pos, nl - pos));
        pos = nl + 1;
      }
      const std::size_t need = needed();
      if (lines.size() < need) return {};
      lines.resize(need);
      std::size_t used = 0;
      for (const auto& l : lines) used += l.size() + 1;
      in_.erase(0, used);
      KF_TRY_ASSIGN(auto answer, node_.serve(layout_, lines));
      out_ += answer.out + fmt::format("keyfleet-status {}\n", answer.exit_status);
    }
  }
  NodeResult<std::string> read_until(std::string_view marker) override {
    return take_through(out_, marker);
  }
  NodeResult<ExecResult> finish() override {
    if (ended_) {
      return ExecResult{
          75, "",
          fmt::format("{}/.lock is held by another keyfleet command (waited 1 s)\n", layout_.home)};
    }
    return ExecResult{0, std::exchange(out_, {}), ""};
  }

 private:
  FakeRemote& node_;
  FakeRemote::Layout layout_;
  bool ended_;
  std::string in_;
  std::string out_;
};

// Any other command: its input is collected and it runs through exec() at finish().
class FakeExecChannel final : public Channel {
 public:
  FakeExecChannel(FakeRemote& node, std::string command)
      : node_(node), command_(std::move(command)) {}
  NodeResult<void> write(std::string_view data) override {
    input_ += data;
    return {};
  }
  NodeResult<std::string> read_until(std::string_view) override { return std::string(); }
  NodeResult<ExecResult> finish() override {
    return node_.exec(command_,
                      {reinterpret_cast<const std::uint8_t*>(input_.data()), input_.size()});
  }

 private:
  FakeRemote& node_;
  std::string command_;
  std::string input_;
};

}  // namespace

FakeRemote::FakeRemote(std::string name) : name_(std::move(name)) {
  entries["/"] = Entry{FileType::directory, 0755, {}, {}};
}

void FakeRemote::fail_next(std::string op, std::string path, NodeError error) {
  failures_.push_back(Failure{std::move(op), std::move(path), std::move(error)});
}

void FakeRemote::add_dir(const std::string& path, mode_t mode) {
  if (path != "/" && !exists(parent_of(path))) add_dir(parent_of(path));
  entries[path] = Entry{FileType::directory, mode, {}, {}};
}

void FakeRemote::add_file(const std::string& path, std::string_view text, mode_t mode) {
  if (!exists(parent_of(path))) add_dir(parent_of(path));
  entries[path] = Entry{FileType::regular, mode, {text.begin(), text.end()}, {}};
}

std::string FakeRemote::text(const std::string& path) const {
  auto it = entries.find(path);
  return it == entries.end() ? std::string()
                             : std::string(it->second.data.begin(), it->second.data.end());
}

std::optional<NodeError> FakeRemote::enter(std::string_view op, const std::string& path) {
  log.push_back(fmt::format("{} {}", op, path));
  if (on_call) on_call(op, path);
  if (cut_) return cut_;
  for (auto it = failures_.begin(); it != failures_.end(); ++it) {
    bool substring = op == "exec" || op == "request";
    bool path_matches = it->path.empty() ||
                        (substring ? path.find(it->path) != std::string::npos : it->path == path);
    if (it->op == op && path_matches) {
      NodeError injected = std::move(it->error);
      failures_.erase(it);
      return injected;
    }
  }
  return std::nullopt;
}

NodeError FakeRemote::error(std::string_view what, const std::string& path,
                            std::string_view why) const {
  return NodeError{NodeStatus::failed, "sftp",
                   fmt::format("{}: cannot {} {}: {}", name_, what, path, why)};
}

NodeResult<void> FakeRemote::need_parent_dir(std::string_view what, const std::string& path) const {
  auto it = entries.find(parent_of(path));
  if (it == entries.end()) return std::unexpected(error(what, path, "no such file or directory"));
  if (it->second.type != FileType::directory)
    return std::unexpected(error(what, path, "not a directory"));
  return {};
}

std::optional<std::string> FakeRemote::follow(const std::string& path) const {
  std::string current = path;
  for (int hops = 0; hops < 8; ++hops) {
    auto it = entries.find(current);
    if (it == entries.end()) return std::nullopt;
    if (it->second.type != FileType::symlink) return current;
    const std::string& target = it->second.target;
    current = target.starts_with('/') ? target : parent_of(current) + "/" + target;
  }
  return std::nullopt;
}

RemoteStat FakeRemote::stat_of(const std::string& path, const Entry& entry) const {
  RemoteStat st;
  st.type = entry.type;
  st.mode = entry.mode & 07777;
  auto owner = owners.find(path);
  st.uid = owner == owners.end() ? login_uid : owner->second;
  auto group = groups.find(path);
  st.gid = group == groups.end() ? 0 : group->second;
  st.size = entry.type == FileType::symlink ? entry.target.size() : entry.data.size();
  return st;
}

NodeResult<ExecResult> FakeRemote::exec(std::string_view command,
                                        std::span<const std::uint8_t> stdin_data) {
  if (auto e = enter("exec", std::string(command))) return std::unexpected(*e);
  if (command == "id -u") return ExecResult{0, fmt::format("{}\n", login_uid), ""};
  if (command == "id -u && pwd -P" && !login_home.empty()) {
    return ExecResult{0, fmt::format("{}\n{}\n", login_uid, login_home), ""};
  }
  if (auto a = words_after(command, "keyfleet-history"); a && a->size() == 1) {
    // keydir::append_history: appends stdin, never through a symlink, a new file 0600.
    const std::string& path = (*a)[0];
    if (exists(path) && entries[path].type == FileType::symlink) {
      return ExecResult{77, "", path + " is a symlink\n"};
    }
    Entry& entry = entries.try_emplace(path, Entry{FileType::regular, 0600, {}, {}}).first->second;
    entry.data.insert(entry.data.end(), stdin_data.begin(), stdin_data.end());
    return ExecResult{0, "", ""};
  }
  if (!on_exec) {
    return std::unexpected(NodeError{NodeStatus::failed, "exec",
                                     fmt::format("{}: no exec handler for `{}`", name_, command)});
  }
  return on_exec(command, stdin_data);
}

NodeResult<void> FakeRemote::mkdir(const std::string& path, mode_t mode) {
  if (auto e = enter("mkdir", path)) return std::unexpected(*e);
  KF_CHECK(need_parent_dir("create directory", path));
  if (exists(path)) return std::unexpected(error("create directory", path, "it already exists"));
  entries[path] = Entry{FileType::directory, mode, {}, {}};
  return {};
}

NodeResult<void> FakeRemote::upload(const std::string& path, std::span<const std::uint8_t> data,
                                    mode_t mode) {
  if (auto e = enter("upload", path)) return std::unexpected(*e);
  KF_CHECK(need_parent_dir("create", path));
  if (exists(path)) return std::unexpected(error("create", path, "it already exists"));
  if (data.size() > space_info.available) {
    return std::unexpected(error("write", path, "failed (the node's filesystem is full)"));
  }
  entries[path] = Entry{FileType::regular, mode, {data.begin(), data.end()}, {}};
  space_info.available -= data.size();
  return {};
}

NodeResult<std::vector<std::uint8_t>> FakeRemote::read_file(const std::string& path,
                                                            std::size_t max_size) {
  if (auto e = enter("read_file", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end()) return std::unexpected(error("read", path, "no such file"));
  if (it->second.type != FileType::regular) {
    return std::unexpected(error("read", path, "not a regular file"));
  }
  if (it->second.data.size() > max_size) {
    return std::unexpected(error("read", path, fmt::format("larger than {} bytes", max_size)));
  }
  return it->second.data;
}

NodeResult<std::optional<RemoteStat>> FakeRemote::stat(const std::string& path) {
  if (auto e = enter("stat", path)) return std::unexpected(*e);
  auto resolved = follow(path);
  if (!resolved) return std::nullopt;
  return stat_of(*resolved, entries.at(*resolved));
}

NodeResult<std::optional<RemoteStat>> FakeRemote::lstat(const std::string& path) {
  if (auto e = enter("lstat", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end()) return std::nullopt;
  return stat_of(path, it->second);
}

NodeResult<std::string> FakeRemote::readlink(const std::string& path) {
  if (auto e = enter("readlink", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end())
    return std::unexpected(error("read the symlink", path, "no such file or directory"));
  if (it->second.type != FileType::symlink) {
    return std::unexpected(error("read the symlink", path, "invalid argument"));
  }
  return it->second.target;
}

NodeResult<void> FakeRemote::symlink(const std::string& target, const std::string& link_path) {
  if (auto e = enter("symlink", link_path)) return std::unexpected(*e);
  std::string what = fmt::format("create a symlink to {} at", target);
  KF_CHECK(need_parent_dir(what, link_path));
  if (exists(link_path)) return std::unexpected(error(what, link_path, "it already exists"));
  entries[link_path] = Entry{FileType::symlink, 0777, {}, target};
  return {};
}

NodeResult<void> FakeRemote::rename(const std::string& from, const std::string& to) {
  if (auto e = enter("rename", from)) return std::unexpected(*e);
  std::string what = fmt::format("rename {} to", from);
  if (!exists(from)) return std::unexpected(error(what, to, "no such file or directory"));
  KF_CHECK(need_parent_dir(what, to));
  if (exists(to))
    return std::unexpected(error(what, to, "it already exists (SFTP does not replace)"));
  if (is_below(to, from)) return std::unexpected(error(what, to, "invalid argument"));
  auto move_below = [&](auto& map) {
    std::remove_reference_t<decltype(map)> moved;
    for (auto it = map.begin(); it != map.end();) {
      if (it->first == from || is_below(it->first, from)) {
        moved[to + it->first.substr(from.size())] = std::move(it->second);
        it = map.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [path, value] : moved) map.insert_or_assign(path, std::move(value));
  };
  move_below(entries);
  move_below(owners);
  move_below(groups);
  return {};
}

// rename(2) over what is at `to` (a symlink or file here: the switch replaces links only).
NodeResult<void> FakeRemote::replace(const std::string& from, const std::string& to) {
  if (auto e = enter("replace", to)) return std::unexpected(*e);
  std::string what = fmt::format("rename {} over", from);
  if (!exists(from)) return std::unexpected(error(what, to, "no such file or directory"));
  if (exists(to) && entries.at(to).type == FileType::directory) {
    return std::unexpected(error(what, to, "is a directory"));
  }
  entries.erase(to);
  owners.erase(to);
  groups.erase(to);
  return rename(from, to);
}

NodeResult<void> FakeRemote::unlink(const std::string& path) {
  if (auto e = enter("unlink", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end())
    return std::unexpected(error("remove", path, "no such file or directory"));
  if (it->second.type == FileType::directory) {
    return std::unexpected(error("remove", path, "permission denied"));
  }
  if (it->second.type == FileType::regular) space_info.available += it->second.data.size();
  entries.erase(it);
  owners.erase(path);
  groups.erase(path);
  return {};
}

NodeResult<void> FakeRemote::rmdir(const std::string& path) {
  if (auto e = enter("rmdir", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end()) {
    return std::unexpected(error("remove directory", path, "no such file or directory"));
  }
  if (it->second.type != FileType::directory) {
    return std::unexpected(error("remove directory", path, "not a directory"));
  }
  bool empty = std::none_of(entries.begin(), entries.end(),
                            [&](const auto& e) { return is_below(e.first, path); });
  if (!empty) return std::unexpected(error("remove directory", path, "it is not empty"));
  entries.erase(it);
  owners.erase(path);
  groups.erase(path);
  return {};
}

NodeResult<std::vector<DirEntry>> FakeRemote::list_dir(const std::string& path) {
  if (auto e = enter("list_dir", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end() || it->second.type != FileType::directory) {
    return std::unexpected(error("list", path, "no such file or directory"));
  }
  std::vector<DirEntry> out;
  for (const auto& [name, entry] : entries) {
    if (is_below(name, path) && parent_of(name) == path) {
      out.push_back(DirEntry{name.substr(name.rfind('/') + 1), stat_of(name, entry)});
    }
  }
  return out;  // std::map order: sorted by name, as SshSession::list_dir sorts
}

NodeResult<SpaceInfo> FakeRemote::space(const std::string& path) {
  if (auto e = enter("space", path)) return std::unexpected(*e);
  return space_info;
}

NodeResult<void> FakeRemote::fsync_dir(const std::string& path) {
  if (auto e = enter("fsync_dir", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end() || it->second.type != FileType::directory) {
    return std::unexpected(error("fsync", path, "no such directory"));
  }
  return {};
}

NodeResult<std::unique_ptr<Channel>> FakeRemote::open_channel(std::string_view command) {
  if (auto a = words_after(command, "keyfleet-lock"); a && a->size() == 5) {
    const std::string& home = (*a)[0];
    if (auto e = enter("lock", home)) return std::unexpected(*e);
    if (before_lock) std::exchange(before_lock, nullptr)(*this);
    if (!exists(home) && exists(parent_of(home))) {
      // As the script: a missing HOME is made 0700, or 0710 for a group.
      const std::string& group = (*a)[4];
      entries[home] = Entry{FileType::directory, group.empty() ? 0700u : 0710u, {}, {}};
      if (!group.empty()) groups[home] = static_cast<std::uint32_t>(std::stoul(group));
    }
    return std::make_unique<FakeLockChannel>(*this, Layout{home, (*a)[2], (*a)[3]},
                                             lock_held_elsewhere);
  }
  return std::make_unique<FakeExecChannel>(*this, std::string(command));
}

NodeResult<ExecResult> FakeRemote::serve(const Layout& layout,
                                         const std::vector<std::string>& fields) {
  const std::string& op = fields.at(0);
  if (auto e = enter("request",
                     fmt::format("{} {}", op, op == "switch" ? fields.at(2) : fields.at(1)))) {
    return std::unexpected(*e);
  }
  if (op == "sha256-files") {
    ExecResult result{0, "", ""};
    for (std::size_t i = 2; i < fields.size(); ++i) {
      auto it = entries.find(fields[i]);
      if (it == entries.end() || it->second.type != FileType::regular) {
        result.out += fmt::format("sha256sum: {}: No such file or directory\n", fields[i]);
        result.exit_status = 1;
        continue;
      }
      result.out += fmt::format("{}  {}\n", sha256_hex(it->second.data), fields[i]);
    }
    return result;
  }
  if (op == "switch") {
    auto result = fake_switch(layout, {fields.begin() + 1, fields.end()});
    if (result && !result->ok()) result->out = result->err;
    return result;
  }
  // The holder runs these as the one-shot commands do: handled by exec() as those are (the history
  // append, or `on_exec` for dd), logged as both.
  NodeResult<ExecResult> result;
  if (op == "append") {
    const std::string line = fields.at(2) + "\n";
    result = exec(keydir::history_command(fields.at(1)),
                  {reinterpret_cast<const std::uint8_t*>(line.data()), line.size()});
  } else if (op == "wipe") {
    result = exec(keydir::wipe_command(fields.at(1), std::stoull(fields.at(2))));
  } else {
    return ExecResult{127, fmt::format("unknown request '{}'\n", op), ""};
  }
  if (result) result->out += std::exchange(result->err, {});
  return result;
}

// The switch script's rules (keydir/node_scripts.cpp) on the in-memory tree: a = TMP ENTRY
// EXPECTED LINK ASIDE.
NodeResult<ExecResult> FakeRemote::fake_switch(const Layout& layout,
                                               const std::vector<std::string>& a) {
  const std::string& tmp = a.at(0);
  const std::string& gen = a.at(1);
  const std::string& expect = a.at(2);
  const std::string& link = a.at(3);
  const std::string& aside = a.at(4);
  const std::string gens = layout.generations + "/";
  const std::string& current = layout.link;
  auto refuse = [&](std::string why) {
    entries.erase(link);
    return ExecResult{1, "", why + "\n"};
  };
  auto is_dir = [&](const std::string& path) {
    auto it = entries.find(path);
    return it != entries.end() && it->second.type == FileType::directory;
  };
  if (!tmp.empty()) {
    if (exists(gens + gen)) return refuse(fmt::format("{}{} already exists", gens, gen));
    if (!is_dir(gens + tmp)) return refuse(fmt::format("{}{} is not a directory", gens, tmp));
  } else if (!is_dir(gens + gen)) {
    return refuse(fmt::format("{}{} is not a complete generation", gens, gen));
  }
  auto it = entries.find(current);
  const bool is_link = it != entries.end() && it->second.type == FileType::symlink;
  std::string now = is_link ? it->second.target : "";
  if (!expect.empty()) {
    bool same =
        is_link && (now == expect || follow(current) == follow(parent_of(current) + "/" + expect));
    if (!same) {
      return refuse(fmt::format("{} changed meanwhile: it points at '{}', not '{}'", current,
                                now.empty() ? "nothing" : now, expect));
    }
  } else if (!aside.empty()) {
    if (it == entries.end() || is_link) {
      return refuse(fmt::format(
          "{} changed meanwhile: it is no longer the directory or file keyfleet read (now '{}')",
          current, now.empty() ? "nothing" : now));
    }
  } else if (it != entries.end()) {
    return refuse(fmt::format("{} changed meanwhile: it points at '{}', not 'nothing'", current,
                              now.empty() ? "nothing" : now));
  }
  if (!aside.empty() && exists(aside)) return refuse(fmt::format("{} already exists", aside));
  auto made = entries.find(link);
  if (made == entries.end() || made->second.type != FileType::symlink) {
    return refuse(fmt::format("{} is not a symlink", link));
  }
  if (!tmp.empty()) KF_CHECK(rename(gens + tmp, gens + gen));
  if (!aside.empty()) KF_CHECK(rename(current, aside));
  Entry moved = entries.at(link);
  entries.erase(link);
  entries[current] = moved;
  log.push_back(fmt::format("switch {}", gen));
  return ExecResult{0, "", ""};
}

NodeResult<void> FakeRemote::chown(const std::string& path, std::uint32_t uid, std::uint32_t gid) {
  if (auto e = enter("chown", path)) return std::unexpected(*e);
  if (!exists(path)) return std::unexpected(error("change the owner of", path, "no such file"));
  constexpr auto kUnchanged = static_cast<std::uint32_t>(-1);
  if (uid != kUnchanged) owners[path] = uid;
  if (gid != kUnchanged) groups[path] = gid;
  return {};
}

NodeResult<void> FakeRemote::chmod(const std::string& path, mode_t mode) {
  if (auto e = enter("chmod", path)) return std::unexpected(*e);
  auto it = entries.find(path);
  if (it == entries.end()) return std::unexpected(error("set the mode of", path, "no such file"));
  it->second.mode = mode;
  return {};
}

std::string take_through(std::string& buffer, std::string_view marker) {
  auto at = buffer.find(marker);
  if (at == std::string::npos) return std::exchange(buffer, {});
  std::string found = buffer.substr(0, at + marker.size());
  buffer.erase(0, at + marker.size());
  return found;
}

std::optional<std::string> hook_in(const std::string& log_line) {
  if (!log_line.starts_with("exec KEYFLEET_STEP=")) return std::nullopt;
  const auto open = log_line.find("( ");
  const auto close = log_line.find(" ) </dev/null");
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  return log_line.substr(open + 2, close - open - 2);
}

}  // namespace kf::test
