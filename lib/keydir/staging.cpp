#include "keydir/staging.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "core/escape.hpp"
#include "core/files.hpp"
#include "keydir/node_scripts.hpp"

namespace kf::keydir {
namespace {

constexpr std::size_t kStagingNameBytes = 8;  // 16 hex digits
constexpr std::uint32_t kGroupOtherWrite = 022;
constexpr std::uint32_t kSticky = 01000;
constexpr std::uint32_t kPrivateMode = 0700;

std::string owner_problem(const RemoteStat& st, std::uint32_t uid) {
  if (st.uid == uid || st.uid == 0) return {};
  return fmt::format("is owned by uid {}, not by the SSH user (uid {}) or root", st.uid, uid);
}

std::string first_line(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  return escape_untrusted(text.substr(0, text.find('\n')), 300);
}

// Checks a directory push has just created or found created by another push, and makes one of
// its own exactly 0700 (mkdir's mode went through the node's umask).
NodeResult<void> check_made(Remote& remote, const std::string& path, std::uint32_t uid,
                            const std::string& step) {
  auto st = remote.lstat(path);
  if (!st) return std::unexpected(at_step(st.error(), step));
  if (!*st) {
    return node_fail(NodeStatus::failed, step, "{}: {} vanished just after it was created",
                     remote.node_name(), path);
  }
  if (auto problem = private_dir_problem(**st, uid); !problem.empty()) {
    return node_fail(NodeStatus::failed, step, "{}: staging directory {} {}", remote.node_name(),
                     path, problem);
  }
  if ((*st)->uid == uid && (*st)->mode != kPrivateMode) {
    if (auto changed = remote.chmod(path, kPrivateMode); !changed) {
      return std::unexpected(at_step(changed.error(), step));
    }
  }
  return {};
}

// Why `dir`, the directory STAGING is in or would be created in, lets others move what is in it,
// or empty. An ancestor may be a symlink (/var/run -> /run): what counts is the directory it leads
// to. `found` is its lstat_link, of something there.
std::string container_problem(const LinkInfo& found, std::uint32_t uid) {
  if (found.stat->type != FileType::symlink) return parent_dir_problem(*found.stat, uid);
  if (!found.target) return "is a dangling symlink";
  return parent_dir_problem(*found.target, uid);
}

// The directory an existing STAGING is in (`parent`: its lstat_link): anyone who can write there
// can rename STAGING away and put a directory of theirs in its place between two of push's calls.
std::string holder_problem(const LinkInfo& parent, const std::string& staging, std::uint32_t uid) {
  const std::string dir = parent_path(staging);
  if (dir == staging) return {};
  std::string problem = parent.stat ? container_problem(parent, uid) : "is gone";
  if (problem.empty()) return problem;
  return fmt::format("{}, which holds staging directory {}, {}", dir, staging, problem);
}

// lstat_link of `path` and of the directory it is in, in one round trip.
NodeResult<std::pair<LinkInfo, LinkInfo>> look_with_parent(Remote& remote, const std::string& path,
                                                           const std::string& step) {
  const std::string paths[] = {path, parent_path(path)};
  auto found = remote.survey({}, paths);
  if (!found) return std::unexpected(at_step(found.error(), step));
  return std::pair{std::move(found->links[0]), std::move(found->links[1])};
}

}  // namespace

std::string new_staging_name() {
  return random_hex(kStagingNameBytes);
}

bool is_staging_name(std::string_view name) {
  return name.size() == 2 * kStagingNameBytes && std::ranges::all_of(name, [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string private_dir_problem(const RemoteStat& st, std::uint32_t uid) {
  if (st.type == FileType::symlink) return "is a symlink";
  if (st.type != FileType::directory) return "is not a directory";
  if (auto owner = owner_problem(st, uid); !owner.empty()) return owner;
  if ((st.mode & kGroupOtherWrite) != 0) {
    return fmt::format("is writable by its group or others (mode {:04o})", st.mode);
  }
  return {};
}

std::string parent_dir_problem(const RemoteStat& st, std::uint32_t uid) {
  if (st.type != FileType::directory) return "is not a directory";
  if ((st.mode & kGroupOtherWrite) != 0 && !(st.uid == 0 && (st.mode & kSticky) != 0)) {
    return fmt::format(
        "is writable by its group or others (mode {:04o}) and is not root's with the sticky bit",
        st.mode);
  }
  return owner_problem(st, uid);
}

NodeResult<std::uint32_t> login_uid(Remote& remote, const std::string& step) {
  auto result = remote.exec("id -u");
  if (!result) return std::unexpected(at_step(result.error(), step));
  std::string_view out = result->out;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.remove_suffix(1);
  std::uint32_t uid = 0;
  auto [end, ec] = std::from_chars(out.data(), out.data() + out.size(), uid);
  if (!result->ok() || out.empty() || ec != std::errc() || end != out.data() + out.size()) {
    return node_fail(NodeStatus::failed, step,
                     "{}: cannot tell the SSH user's uid: `id -u` exited with status {}: {}",
                     remote.node_name(), result->exit_status,
                     first_line(result->err.empty() ? result->out : result->err));
  }
  return uid;
}

NodeResult<StagingOwner> staging_owner(Remote& login, const std::string& staging,
                                       const std::string& step) {
  if (!staging.starts_with("~/")) {
    KF_TRY_ASSIGN(std::uint32_t uid, login_uid(login, step));
    return StagingOwner{uid, staging};
  }
  auto result = login.exec("id -u && pwd -P");
  if (!result) return std::unexpected(at_step(result.error(), step));
  std::string_view out = result->out;
  const auto nl = out.find('\n');
  std::string_view digits = out.substr(0, nl);
  std::string_view home = nl == std::string_view::npos ? std::string_view{} : out.substr(nl + 1);
  while (!home.empty() && (home.back() == '\n' || home.back() == '\r')) home.remove_suffix(1);
  std::uint32_t uid = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), uid);
  if (!result->ok() || digits.empty() || ec != std::errc() ||
      end != digits.data() + digits.size() || !home.starts_with('/')) {
    return node_fail(NodeStatus::failed, step,
                     "{}: cannot tell the SSH user's uid and home: `id -u && pwd -P` exited with "
                     "status {}: {}",
                     login.node_name(), result->exit_status,
                     first_line(result->err.empty() ? result->out : result->err));
  }
  // Its name goes into messages and node scripts: nothing a terminal would act on.
  if (std::ranges::any_of(home, [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return node_fail(NodeStatus::failed, step,
                     "{}: the SSH user's home {} holds control characters: set `staging` in the "
                     "inventory",
                     login.node_name(), escape_untrusted(home, 300));
  }
  if (home == "/") {
    return node_fail(NodeStatus::failed, step,
                     "{}: the SSH user's sessions start in /, not in a home directory of its own, "
                     "so the default staging directory {} has nowhere to go: set `staging` in the "
                     "inventory",
                     login.node_name(), staging);
  }
  return StagingOwner{uid, join_path(home, std::string_view(staging).substr(2))};
}

NodeResult<StagingOwner> staging_owner(Remote& remote, const std::string& staging,
                                       const DestLock* holder, const std::string& step) {
  if (holder != nullptr && holder->uid() && holder_is_login(remote)) {
    return StagingOwner{*holder->uid(), staging};  // absolute: "~/" only comes with `become`
  }
  return staging_owner(remote.login(), staging, step);
}

NodeResult<StagingState> inspect_staging(Remote& remote, const std::string& staging,
                                         std::uint32_t uid, const std::string& step) {
  StagingState state;
  std::string path = staging;
  KF_TRY_ASSIGN(auto seen, look_with_parent(remote, path, step));
  for (;;) {
    if (!seen.first.stat) {
      state.missing.insert(state.missing.begin(), path);
      path = parent_path(path);
      // Looked at again with its own parent: a missing level is rare (the first push only).
      KF_TRY_ASSIGN(seen, look_with_parent(remote, path, step));
      continue;
    }
    state.existing = path;
    if (state.missing.empty()) {
      if (auto problem = private_dir_problem(*seen.first.stat, uid); !problem.empty()) {
        return node_fail(NodeStatus::failed, step, "{}: staging directory {} {}",
                         remote.node_name(), staging, problem);
      }
      if (auto problem = holder_problem(seen.second, staging, uid); !problem.empty()) {
        return node_fail(NodeStatus::failed, step, "{}: {}", remote.node_name(), problem);
      }
      return state;
    }
    if (auto problem = container_problem(seen.first, uid); !problem.empty()) {
      return node_fail(NodeStatus::failed, step,
                       "{}: {}, where staging directory {} would be created, {}",
                       remote.node_name(), path, staging, problem);
    }
    return state;
  }
}

NodeResult<std::string> make_staging_dir(Remote& remote, const std::string& staging,
                                         std::uint32_t uid, const std::string& step) {
  KF_TRY_ASSIGN(StagingState state, inspect_staging(remote, staging, uid, step));
  for (const std::string& dir : state.missing) {
    if (auto made = remote.mkdir(dir, kPrivateMode); !made) {
      // Another push to this host may have made it first: that is no error if it passes the same
      // rules (check_made).
      auto st = remote.lstat(dir);
      if (!st || !*st) return std::unexpected(at_step(made.error(), step));
    }
    KF_CHECK(check_made(remote, dir, uid, step));
  }
  std::string dir = join_path(staging, new_staging_name());
  if (auto made = remote.mkdir(dir, kPrivateMode); !made) {
    return std::unexpected(at_step(made.error(), step));
  }
  KF_CHECK(check_made(remote, dir, uid, step));
  return dir;
}

NodeResult<StagingContents> read_staging(Remote& remote, const std::string& staging,
                                         std::uint32_t uid, const std::string& step) {
  StagingContents contents;
  // STAGING's listing comes with its lstat, and is used only once both checks pass.
  const std::string parent[] = {parent_path(staging)};
  auto found = remote.survey(std::span(&staging, 1), parent);
  if (!found) return std::unexpected(at_step(found.error(), step));
  const Listing& listing = found->lists[0];
  if (!listing.stat) return contents;
  if (auto problem = private_dir_problem(*listing.stat, uid); !problem.empty()) {
    contents.refused = fmt::format("{}: staging directory {} {}; nothing in it was touched",
                                   remote.node_name(), staging, problem);
    return contents;
  }
  if (auto problem = holder_problem(found->links[0], staging, uid); !problem.empty()) {
    contents.refused =
        fmt::format("{}: {}; nothing in it was touched", remote.node_name(), problem);
    return contents;
  }
  auto leave = [&](const std::string& path, std::string why) {
    contents.left_alone.push_back(fmt::format("{} ({})", path, why));
  };
  std::vector<std::string> dirs;
  for (const DirEntry& entry : listing.entries) {
    const std::string path = join_path(staging, entry.name);
    if (!is_staging_name(entry.name)) {
      leave(path, "not named as push names its directories");
    } else if (entry.stat.type != FileType::directory) {
      leave(path, entry.stat.type == FileType::symlink ? "a symlink" : "not a directory");
    } else if (entry.stat.uid != uid) {
      leave(path, fmt::format("owned by uid {}, not by the SSH user", entry.stat.uid));
    } else if (entry.stat.mode != kPrivateMode) {
      leave(path, fmt::format("mode {:04o}, not 0700", entry.stat.mode));
    } else {
      dirs.push_back(path);
    }
  }
  // Every staged directory's entries at once.
  auto inside = remote.survey(dirs, {});
  if (!inside) return std::unexpected(at_step(inside.error(), step));
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    const Listing& listed = inside->lists[i];
    if (!listed.stat || listed.stat->type != FileType::directory) {
      leave(dirs[i], "no longer a directory");
      continue;
    }
    StagedDir dir{dirs[i], {}, 0, true};
    for (const DirEntry& item : listed.entries) {
      const std::string item_path = join_path(dirs[i], item.name);
      if (item.name == kStagedBundleName && item.stat.type == FileType::regular &&
          item.stat.uid == uid) {
        dir.copy = item_path;
        dir.size = item.stat.size;
        continue;
      }
      dir.only_copy = false;
      leave(item_path, item.name != kStagedBundleName        ? "not a staged copy"
                       : item.stat.type != FileType::regular ? "not a regular file"
                                                             : "not owned by the SSH user");
    }
    contents.dirs.push_back(std::move(dir));
  }
  return contents;
}

std::string wipe_command(const std::string& path, std::uint64_t size) {
  return fmt::format("dd if=/dev/zero of={} bs=65536 count={} {} 2>&1", shell_quote(path), size,
                     scripts::kWipeFlags);
}

NodeResult<void> wipe_staged_copy(Remote& remote, const std::string& path, std::uint64_t size,
                                  const std::string& step, DestLock* holder,
                                  const std::string& emptied_dir) {
  NodeResult<ExecResult> result;
  if (holder != nullptr) {
    const std::string request[] = {"wipe", path, std::to_string(size)};
    result = holder->request(request);
  } else {
    result = remote.exec(wipe_command(path, size));
  }
  if (!result) return std::unexpected(at_step(result.error(), step));
  if (!result->ok()) {
    return node_fail(NodeStatus::failed, step, "{}: cannot overwrite {}: dd exited {}: {}",
                     remote.node_name(), path, result->exit_status, first_line(result->out));
  }
  // The copy, and its directory after it when the copy was all it held: one round trip.
  std::vector<std::string> dirs;
  if (!emptied_dir.empty()) dirs.push_back(emptied_dir);
  auto removed = remote.remove_each(std::span(&path, 1), dirs);
  if (!removed) return std::unexpected(at_step(removed.error(), step));
  for (auto& each : *removed) {
    if (!each) return std::unexpected(at_step(each.error(), step));
  }
  return {};
}

}  // namespace kf::keydir
