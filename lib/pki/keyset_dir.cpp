#include "pki/keyset_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>

#include <boost/filesystem/operations.hpp>

#include "pki/generation.hpp"

namespace kf::keyset_dir {
namespace {

constexpr std::array<std::string_view, 7> kFiles = {
    keyset_files::ca_crt,    keyset_files::ca_key,   keyset_files::agent_crt,
    keyset_files::agent_key, keyset_files::keystore, keyset_files::truststore,
    keyset_files::storepass};

constexpr std::size_t kMaxManifestSize = std::size_t{1024} * 1024;

bool exists_nofollow(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// rename(2) that never replaces: RENAME_NOREPLACE where the file system has it, else a check just
// before (we hold the directory lock, so only an outside process could race it).
Result<void> move_noreplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return {};
  if (errno == EINVAL || errno == ENOSYS) {
    if (exists_nofollow(to)) {
      return fail(ExitCode::refused, "cannot move {} to {}: the target exists", from.string(),
                  to.string());
    }
    if (::rename(from.c_str(), to.c_str()) == 0) return {};
  }
  return fail_errno(errno == EEXIST ? ExitCode::refused : ExitCode::failure,
                    fmt::format("cannot move {} to {}", from.string(), to.string()));
}

Result<std::uint64_t> highest_archived(const fs::path& dir) {
  fs::path archive = dir / std::string(archive_dir);
  if (!exists_nofollow(archive)) return 0;
  boost::system::error_code ec;
  std::uint64_t highest = 0;
  for (fs::directory_iterator it(archive, ec), end; !ec && it != end; it.increment(ec)) {
    auto generation = parse_generation_name(it->path().filename().string());
    if (generation) highest = std::max(highest, *generation);
  }
  if (ec) return fail(ExitCode::failure, "cannot list {}: {}", archive.string(), ec.message());
  return highest;
}

Result<void> check_private_mode(const fs::path& dir, const struct stat& st) {
  if (!S_ISDIR(st.st_mode)) {
    return fail(ExitCode::usage, "key directory {}: not a directory", dir.string());
  }
  if ((st.st_mode & 022) != 0) {
    return fail(ExitCode::usage,
                "key directory {}: mode {:04o} lets group or others write to it, and so replace "
                "the keys in it; run chmod 700 {}",
                dir.string(), st.st_mode & 07777, dir.string());
  }
  return {};
}

}  // namespace

Result<void> check_private(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return fail_errno(ExitCode::usage, fmt::format("cannot check key directory {}", dir.string()));
  }
  return check_private_mode(dir, st);
}

std::span<const std::string_view> file_names() {
  return kFiles;
}

fs::path archive_path(const fs::path& dir, std::uint64_t generation) {
  return dir / std::string(archive_dir) / generation_name(generation);
}

Result<Lock> Lock::acquire(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("cannot open directory {}", dir.string()));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(fmt::format("cannot stat {}", dir.string()));
  KF_CHECK(check_private_mode(dir, st));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return fail(ExitCode::refused, "{} is locked: another keyfleet create-keys is writing there",
                  dir.string());
    }
    return fail_errno(fmt::format("cannot lock {}", dir.string()));
  }
  return Lock(std::move(fd));
}

bool State::only_ca() const {
  return !has_manifest && !present.empty() &&
         std::all_of(present.begin(), present.end(), [](const std::string& name) {
           return name == keyset_files::ca_crt || name == keyset_files::ca_key;
         });
}

Result<State> inspect(const fs::path& dir) {
  State state;
  for (auto name : kFiles) {
    if (exists_nofollow(dir / std::string(name))) state.present.emplace_back(name);
  }
  fs::path manifest_path = dir / std::string(kManifestName);
  state.has_manifest = exists_nofollow(manifest_path);
  if (state.has_manifest) {
    auto text = read_file(manifest_path, kMaxManifestSize);
    if (text) {
      std::string_view view(reinterpret_cast<const char*>(text->data()), text->size());
      state.manifest = parse_manifest(view, manifest_path.string(), ExitCode::refused);
    } else {
      state.manifest = std::unexpected(text.error());
    }
  }
  KF_TRY_ASSIGN(state.highest_archived, highest_archived(dir));
  return state;
}

Result<fs::path> archive(const fs::path& dir, const Manifest& manifest) {
  std::vector<std::string> names;
  auto add = [&](std::string_view name) {
    if (name == archive_dir) return;
    if (std::find(names.begin(), names.end(), name) == names.end()) names.emplace_back(name);
  };
  // A nested set moves by its top-level entries: a directory goes whole, in one rename.
  auto top = [](std::string_view name) { return name.substr(0, name.find('/')); };
  for (auto name : kFiles) add(name);
  for (const auto& file : manifest.files) add(top(file.name));
  for (const auto& d : manifest.directories) add(top(d.name));
  add(kManifestName);  // last: see the header

  fs::path target = archive_path(dir, manifest.generation);
  std::vector<std::string> moving;
  for (const auto& name : names) {
    if (!exists_nofollow(dir / name)) continue;  // listed but gone, or moved by an interrupted run
    if (exists_nofollow(target / name)) {
      return fail(ExitCode::refused,
                  "cannot archive {}: {} already exists and keyfleet never replaces an archived "
                  "file; move one of them away",
                  (dir / name).string(), (target / name).string());
    }
    moving.push_back(name);
  }

  KF_CHECK(make_dir(dir / std::string(archive_dir), 0700));
  KF_CHECK(make_dir(target, 0700));
  KF_CHECK(fsync_dir(dir / std::string(archive_dir)));
  for (const auto& name : moving) KF_CHECK(move_noreplace(dir / name, target / name));
  KF_CHECK(fsync_dir(target));
  KF_CHECK(fsync_dir(dir));
  return target;
}

Result<void> wipe_stale_temporaries(const fs::path& dir) {
  boost::system::error_code ec;
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    for (std::string_view file : kFiles) {
      std::string prefix = fmt::format(".{}.tmp-", file);
      if (name.starts_with(prefix)) stale.push_back(it->path());
    }
    if (name.starts_with(fmt::format(".{}.tmp-", kManifestName))) stale.push_back(it->path());
  }
  if (ec) return fail(ExitCode::failure, "cannot list {}: {}", dir.string(), ec.message());
  for (const auto& path : stale) KF_CHECK(wipe_file(path));
  return {};
}

Result<void> restore_archived(const fs::path& dir, std::uint64_t generation) {
  const fs::path from = archive_path(dir, generation);
  const fs::path manifest_path = from / std::string(kManifestName);
  auto refused = [&](std::string_view why) {
    return fail(ExitCode::refused, "cannot restore {} into {}: {}; look at both by hand",
                from.string(), dir.string(), why);
  };
  if (exists_nofollow(dir / std::string(kManifestName))) return refused("it holds a manifest.json");
  if (!exists_nofollow(manifest_path)) return refused("the archive holds no manifest.json");
  KF_TRY_ASSIGN(auto text, read_file(manifest_path, kMaxManifestSize));
  KF_TRY_ASSIGN(
      Manifest archived,
      parse_manifest(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()),
                     manifest_path.string(), ExitCode::refused));
  if (archived.generation != generation) return refused("its manifest names another generation");
  std::vector<std::string> names;
  auto add = [&](std::string_view name) {
    name = name.substr(0, name.find('/'));
    if (std::find(names.begin(), names.end(), name) == names.end()) names.emplace_back(name);
  };
  for (auto name : kFiles) add(name);
  for (const auto& f : archived.files) add(f.name);
  for (const auto& d : archived.directories) add(d.name);
  // What the interrupted write left in DIR is the new set's, never the archived one's.
  for (const auto& name : names) {
    const fs::path path = dir / name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISREG(st.st_mode)) {
      KF_CHECK(wipe_file(path));
    } else {
      KF_CHECK(remove_tree(path));
    }
  }
  KF_CHECK(wipe_stale_temporaries(dir));
  names.emplace_back(kManifestName);  // last: see archive()
  for (const auto& name : names) {
    if (exists_nofollow(from / name)) KF_CHECK(move_noreplace(from / name, dir / name));
  }
  KF_CHECK(fsync_dir(dir));
  if (::rmdir(from.c_str()) != 0) {
    return fail_errno(fmt::format("cannot remove {} once restored", from.string()));
  }
  return fsync_dir(dir / std::string(archive_dir));
}

}  // namespace kf::keyset_dir
