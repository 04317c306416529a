#include "keydir/local_install.hpp"

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <set>

#include <boost/filesystem/operations.hpp>

#include "core/files.hpp"
#include "core/lock.hpp"
#include "keydir/layout.hpp"

namespace kf::bundle {
namespace {

constexpr std::string_view kLinkTempPrefix = "current.tmp-";

void crash_point(std::string_view step) {
  static const char* target = std::getenv(std::string(kCrashAtVariable).c_str());
  if (target != nullptr && step == target) ::raise(SIGKILL);
}

std::optional<std::uint32_t> parse_id(const std::string& text) {
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(std::stoul(text));
}

// lstat: true if something is there, false for ENOENT.
Result<bool> exists_at(const fs::path& path, struct stat& st) {
  if (::lstat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return fail_errno(fmt::format("cannot stat {}", path.string()));
}

// Creates a directory of the layout; returns whether it had to. Only DEST itself may be a symlink
// to a directory (an operator's choice); nothing inside it may.
Result<bool> ensure_dir(const fs::path& dir, const std::optional<Owner>& owner,
                        bool follow_symlink = false) {
  struct stat st {};
  if (KF_TRY(exists_at(dir, st))) {
    if (follow_symlink && S_ISLNK(st.st_mode) && ::stat(dir.c_str(), &st) != 0) {
      return fail_errno(ExitCode::refused, fmt::format("{} is a dangling symlink", dir.string()));
    }
    if (!S_ISDIR(st.st_mode))
      return fail(ExitCode::refused, "{} exists and is not a directory", dir.string());
    return false;
  }
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == ENOENT) {
      return fail(ExitCode::usage, "cannot create {}: its parent directory does not exist",
                  dir.string());
    }
    return fail_errno(fmt::format("cannot create directory {}", dir.string()));
  }
  if (owner && (::chown(dir.c_str(), static_cast<uid_t>(-1), owner->gid) != 0 ||
                ::chmod(dir.c_str(), 0710) != 0)) {
    return fail_errno(fmt::format("cannot give {} to group {}", dir.string(), owner->gid));
  }
  KF_CHECK(fsync_dir(dir.parent_path().empty() ? fs::path(".") : dir.parent_path()));
  return true;
}

Result<std::vector<fs::path>> list_dir(const fs::path& dir) {
  std::vector<fs::path> out;
  boost::system::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path());
  }
  if (ec) return fail(ExitCode::failure, "cannot list {}: {}", dir.string(), ec.message());
  return out;
}

Result<std::size_t> remove_leftovers(const fs::path& dest) {
  std::size_t removed = 0;
  for (const auto& path : KF_TRY(list_dir(dest / std::string(layout::generations_dir)))) {
    if (!path.filename().string().starts_with(layout::temp_prefix)) continue;
    KF_CHECK(remove_tree(path));
    ++removed;
  }
  for (const auto& path : KF_TRY(list_dir(dest))) {
    struct stat st {};
    if (!path.filename().string().starts_with(kLinkTempPrefix)) continue;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;  // not ours
    if (::unlink(path.c_str()) != 0)
      return fail_errno(fmt::format("cannot remove {}", path.string()));
    ++removed;
  }
  return removed;
}

// Whether `dir` holds exactly the bundle: the same names, modes and bytes, nothing else.
Result<bool> holds_bundle(const fs::path& dir, const OpenedBundle& bundle) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  std::set<std::string> expected{std::string(kManifestName)};
  for (const auto& f : bundle.files) expected.insert(f.name);
  std::set<std::string> present;
  for (const auto& path : KF_TRY(list_dir(dir))) present.insert(path.filename().string());
  if (present != expected) return false;
  auto same = [&](const std::string& name, mode_t mode, const SecretBytes& data) -> Result<bool> {
    fs::path path = dir / name;
    struct stat fst {};
    if (::lstat(path.c_str(), &fst) != 0 || !S_ISREG(fst.st_mode) ||
        (fst.st_mode & 07777) != mode) {
      return false;
    }
    auto bytes = read_secret_file(path, kMaxEntrySize);
    return bytes && *bytes == data;
  };
  if (!KF_TRY(same(std::string(kManifestName), 0644, bundle.manifest_bytes))) return false;
  for (const auto& f : bundle.files) {
    if (!KF_TRY(same(f.name, f.mode, f.data))) return false;
  }
  return true;
}

Result<void> write_key_file(const fs::path& path, std::span<const std::uint8_t> data, mode_t mode,
                            const std::optional<Owner>& owner) {
  Fd fd = KF_TRY(create_exclusive(path, mode));
  KF_CHECK(write_all(fd.get(), data, path));
  if (owner && ::fchown(fd.get(), owner->uid, owner->gid) != 0) {
    return fail_errno(fmt::format("cannot chown {}", path.string()));
  }
  KF_CHECK(fsync_fd(fd.get(), path));
  if (::close(fd.release()) != 0) return fail_errno(fmt::format("cannot close {}", path.string()));
  return {};
}

Result<void> write_generation(const fs::path& dir, const OpenedBundle& bundle,
                              const std::optional<Owner>& owner) {
  KF_CHECK(write_key_file(dir / std::string(kManifestName), bundle.manifest_bytes, 0644, owner));
  crash_point("file-written");
  for (const auto& f : bundle.files) KF_CHECK(write_key_file(dir / f.name, f.data, f.mode, owner));
  if (owner && ::lchown(dir.c_str(), owner->uid, owner->gid) != 0) {
    return fail_errno(fmt::format("cannot chown {}", dir.string()));
  }
  return fsync_dir(dir);
}

Result<void> switch_current(const fs::path& dest, std::uint64_t generation) {
  fs::path link_tmp = dest / fmt::format("{}{}", kLinkTempPrefix, random_hex(8));
  fs::path link = dest / std::string(layout::current_link);
  if (::symlink(layout::current_target(generation).c_str(), link_tmp.c_str()) != 0) {
    return fail_errno(fmt::format("cannot create symlink {}", link_tmp.string()));
  }
  crash_point("link-created");
  if (::rename(link_tmp.c_str(), link.c_str()) != 0) {
    int err = errno;
    ::unlink(link_tmp.c_str());
    return fail_errno(fmt::format("cannot rename {} over {}", link_tmp.string(), link.string()),
                      err);
  }
  crash_point("current-switched");
  return fsync_dir(dest);
}

Result<std::vector<std::uint64_t>> installed_generations(const fs::path& generations) {
  std::vector<std::uint64_t> out;
  for (const auto& path : KF_TRY(list_dir(generations))) {
    auto number = parse_generation_name(path.filename().string());
    struct stat st {};
    if (number && ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(*number);
  }
  return out;
}

// An old generation is first renamed to a temporary name, so a crash while deleting it leaves a
// leftover the next run removes, never a half-deleted generation.
void prune(const fs::path& generations, const std::vector<std::uint64_t>& victims,
           InstallReport& report) {
  for (auto g : victims) {
    fs::path dir = generations / generation_name(g);
    fs::path doomed = generations / fmt::format("{}prune-{}", layout::temp_prefix, random_hex(8));
    if (::rename(dir.c_str(), doomed.c_str()) != 0) {
      report.warnings.push_back(
          fmt::format("cannot prune {}: {}", dir.string(), std::strerror(errno)));
      continue;
    }
    crash_point("pruning");
    if (auto removed = remove_tree(doomed); !removed) {
      report.warnings.push_back(removed.error().message);
    }
    report.pruned.push_back(g);
  }
  if (!victims.empty()) {
    if (auto synced = fsync_dir(generations); !synced)
      report.warnings.push_back(synced.error().message);
  }
}

}  // namespace

Result<Owner> parse_owner(std::string_view spec) {
  auto colon = spec.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == spec.size() ||
      spec.find(':', colon + 1) != std::string_view::npos) {
    return fail(ExitCode::usage, "--owner '{}': expected USER:GROUP, e.g. --owner agent:agent",
                spec);
  }
  std::string user(spec.substr(0, colon));
  std::string group(spec.substr(colon + 1));
  std::vector<char> buf(1 << 16);
  Owner owner;
  if (auto id = parse_id(user)) {
    owner.uid = *id;
  } else {
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return fail(ExitCode::usage, "--owner {}: no user '{}' on this machine", spec, user);
    }
    owner.uid = found->pw_uid;
  }
  if (auto id = parse_id(group)) {
    owner.gid = *id;
  } else {
    struct group gr {};
    struct group* found = nullptr;
    if (::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return fail(ExitCode::usage, "--owner {}: no group '{}' on this machine", spec, group);
    }
    owner.gid = found->gr_gid;
  }
  return owner;
}

Result<std::optional<std::uint64_t>> read_current(const fs::path& dest) {
  fs::path link = dest / std::string(layout::current_link);
  struct stat st {};
  if (!KF_TRY(exists_at(link, st))) return std::optional<std::uint64_t>{};
  if (!S_ISLNK(st.st_mode)) {
    return fail(ExitCode::refused, "{} is not a symlink: not a key directory keyfleet manages",
                link.string());
  }
  char target[256];
  ssize_t n = ::readlink(link.c_str(), target, sizeof target);
  if (n < 0) return fail_errno(fmt::format("cannot read symlink {}", link.string()));
  std::string_view text(target, static_cast<std::size_t>(n));
  std::string prefix = std::string(layout::generations_dir) + "/";
  std::optional<std::uint64_t> generation;
  if (text.starts_with(prefix)) generation = parse_generation_name(text.substr(prefix.size()));
  if (!generation || static_cast<std::size_t>(n) == sizeof target) {
    return fail(ExitCode::refused,
                "{} points to '{}', not {}NNNNNN: not a key directory keyfleet "
                "manages",
                link.string(), text.substr(0, 100), prefix);
  }
  return generation;
}

std::vector<std::uint64_t> generations_to_prune(std::vector<std::uint64_t> present,
                                                std::uint64_t current,
                                                std::optional<std::uint64_t> previous,
                                                std::size_t keep) {
  std::sort(present.begin(), present.end(), std::greater<>());
  std::vector<std::uint64_t> out;
  for (std::size_t i = keep; i < present.size(); ++i) {
    if (present[i] != current && present[i] != previous) out.push_back(present[i]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<InstallReport> install_bundle(const OpenedBundle& bundle, const fs::path& dest,
                                     const InstallOptions& options) {
  if (options.keep < kMinKeep) {
    return fail(ExitCode::usage, "--keep {}: must be at least {} (current and the one before it)",
                options.keep, kMinKeep);
  }
  ScopedUmask umask(077);
  const std::uint64_t generation = bundle.manifest.generation;
  const fs::path generations = dest / std::string(layout::generations_dir);
  InstallReport report;
  report.dest = dest;
  report.generation = generation;

  KF_CHECK(ensure_dir(dest, options.owner, true));
  FileLock lock = KF_TRY(FileLock::try_acquire(dest / std::string(layout::lock_file)));
  crash_point("locked");
  KF_CHECK(ensure_dir(generations, options.owner));
  report.leftovers_removed = KF_TRY(remove_leftovers(dest));
  crash_point("leftovers-removed");

  report.previous = KF_TRY(read_current(dest));
  if (report.previous == generation) {
    return fail(ExitCode::refused,
                "generation {} is already installed and current in {}: nothing "
                "to do (rotate with a new generation from create-keys)",
                generation, dest.string());
  }
  if (report.previous && generation < *report.previous && !options.allow_downgrade) {
    return fail(ExitCode::refused,
                "the bundle holds generation {}, older than the current {} in {}: "
                "refusing a downgrade (pass --allow-downgrade if you mean it)",
                generation, *report.previous, dest.string());
  }
  const fs::path final_dir = generations / generation_name(generation);
  struct stat st {};
  if (KF_TRY(exists_at(final_dir, st))) {
    if (!KF_TRY(holds_bundle(final_dir, bundle))) {
      return fail(ExitCode::refused,
                  "{} already exists and differs from this bundle: keyfleet never "
                  "overwrites an installed generation (make a new one with create-keys)",
                  final_dir.string());
    }
    report.reused = true;
  } else {
    fs::path tmp = generations / fmt::format("{}{}", layout::temp_prefix, random_hex(8));
    if (::mkdir(tmp.c_str(), 0700) != 0) {
      return fail_errno(fmt::format("cannot create directory {}", tmp.string()));
    }
    crash_point("temp-created");
    auto written = write_generation(tmp, bundle, options.owner);
    if (written) crash_point("files-synced");
    if (written && ::rename(tmp.c_str(), final_dir.c_str()) != 0) {
      written = fail_errno(fmt::format("cannot rename {} to {}", tmp.string(), final_dir.string()));
    }
    if (!written) {
      (void)remove_tree(tmp);
      return std::unexpected(written.error());
    }
    crash_point("generation-renamed");
    KF_CHECK(fsync_dir(generations));
  }
  KF_CHECK(switch_current(dest, generation));

  auto present = installed_generations(generations);
  if (present) {
    prune(generations, generations_to_prune(*present, generation, report.previous, options.keep),
          report);
  } else {
    report.warnings.push_back(present.error().message);
  }
  crash_point("done");
  report.files.emplace_back(kManifestName);
  for (const auto& f : bundle.files) report.files.push_back(f.name);
  return report;
}

}  // namespace kf::bundle
