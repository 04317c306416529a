#include "bundle/bundle.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "bundle/tar_reader.hpp"
#include "bundle/tar_writer.hpp"
#include "core/files.hpp"
#include "core/time.hpp"
#include "pki/keyset_dir.hpp"

namespace kf::bundle {
namespace {

constexpr std::size_t kMaxManifestFileSize = 1u << 20;

Result<std::vector<std::uint8_t>> read_manifest_file(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return fail(ExitCode::usage, "key set {}: not a directory", dir.string());
  }
  fs::path path = dir / std::string(kManifestName);
  if (::lstat(path.c_str(), &st) != 0) {
    return fail(ExitCode::usage, "key set {}: no {} (is it a directory made by create-keys?)",
                dir.string(), kManifestName);
  }
  auto text = read_file(path, kMaxManifestFileSize);
  if (!text)
    return std::unexpected(with_context(text.error(), fmt::format("key set {}", dir.string())));
  return text;
}

// A key set file must be exactly what create-keys recorded: anything else means someone changed
// the key set afterwards, and shipping it would install keys nobody vouched for.
Result<SecretBytes> read_listed_file(const fs::path& dir, const ManifestFile& f) {
  fs::path path = dir / f.name;
  auto changed = [&](std::string_view why) {
    return fail(ExitCode::integrity,
                "key set {}: {} {}; the key set was changed after create-keys (make a new one)",
                dir.string(), f.name, why);
  };
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return changed("is listed in the manifest but missing");
  if (!S_ISREG(st.st_mode)) return changed("is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) != f.size) {
    return changed(fmt::format("has {} bytes, the manifest says {}", st.st_size, f.size));
  }
  KF_TRY_ASSIGN(SecretBytes data, read_secret_file(path, kMaxEntrySize));
  if (data.size() != f.size) {
    return changed(fmt::format("has {} bytes, the manifest says {}", data.size(), f.size));
  }
  if (sha256_hex(data) != f.sha256) return changed("does not match its SHA-256 in the manifest");
  return data;
}

}  // namespace

Result<KeySet> load_keyset(const fs::path& dir, bool include_ca_key) {
  KF_TRY_ASSIGN(auto text, read_manifest_file(dir));
  // Anyone who can write the directory could have replaced the keys in it.
  KF_CHECK(keyset_dir::check_private(dir));
  fs::path manifest_path = dir / std::string(kManifestName);
  KeySet keyset;
  KF_TRY_ASSIGN(
      keyset.manifest,
      parse_manifest(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()),
                     manifest_path.string(), ExitCode::usage));
  auto& files = keyset.manifest.files;
  // An imported set is carried whole: a file of it named ca.key is not create-keys' CA key.
  const bool generated = !keyset.manifest.imported();
  if (include_ca_key && (!generated || keyset.manifest.find(keyset_files::ca_key) == nullptr)) {
    return fail(ExitCode::usage, "--include-ca-key: the manifest of {} lists no {}", dir.string(),
                keyset_files::ca_key);
  }
  if (!include_ca_key && generated) {
    std::erase_if(files, [](const ManifestFile& f) { return f.name == keyset_files::ca_key; });
  }
  if (files.size() + 1 > kMaxEntries) {
    return fail(ExitCode::usage, "key set {}: more than {} files", dir.string(), kMaxEntries - 1);
  }
  for (const auto& d : keyset.manifest.directories) {
    // The files below are opened by name: no directory on the way may be a symlink.
    struct stat st {};
    fs::path path = dir / d.name;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return fail(ExitCode::integrity,
                  "key set {}: {} is listed as a directory in the manifest but is {}; the key "
                  "set was changed after it was made",
                  dir.string(), d.name, S_ISLNK(st.st_mode) ? "a symlink" : "not a directory");
    }
  }
  for (const auto& f : files) {
    if (f.size > kMaxEntrySize) {
      return fail(ExitCode::usage, "key set {}: {} is larger than the limit of {} bytes",
                  dir.string(), f.name, kMaxEntrySize);
    }
    KF_TRY_ASSIGN(auto data, read_listed_file(dir, f));
    keyset.files.push_back({f.name, f.mode, std::move(data)});
  }
  return keyset;
}

Result<SecretBytes> keyset_tar(const KeySet& keyset) {
  auto created = parse_rfc3339_utc(keyset.manifest.created);
  if (!created) return std::unexpected(with_context(created.error(), "manifest \"created\""));
  std::string manifest_text = serialize(keyset.manifest);
  std::vector<TarFile> entries;
  entries.push_back({kManifestName, 0644, as_bytes(manifest_text)});
  // Directories before the files in them, so that `tar -x` by hand gives them their modes.
  for (const auto& d : keyset.manifest.directories) entries.push_back({d.name, d.mode, {}, true});
  for (const auto& f : keyset.files) entries.push_back({f.name, f.mode, f.data});
  return write_tar(entries, *created);
}

Result<void> check_work_factor(int work_factor) {
  if (work_factor < kMinWorkFactor || work_factor > age::kMaxWorkFactor) {
    return fail(ExitCode::usage, "--work-factor {}: must be from {} to {}", work_factor,
                kMinWorkFactor, age::kMaxWorkFactor);
  }
  return {};
}

Result<MadeBundle> make_bundle(const KeySet& keyset, const SealKey& key) {
  if (const auto* scrypt = std::get_if<ScryptSeal>(&key.key))
    KF_CHECK(check_work_factor(scrypt->work_factor));
  KF_TRY_ASSIGN(SecretBytes tar, keyset_tar(keyset));
  MadeBundle made;
  KF_TRY_ASSIGN(made.bytes, seal(tar, key));
  made.sha256 = sha256_hex(made.bytes);
  made.manifest = keyset.manifest;
  return made;
}

Result<MadeBundle> make_bundle(const KeySet& keyset, std::string_view passphrase, int work_factor) {
  return make_bundle(keyset, SealKey::with_passphrase(passphrase, work_factor));
}

Result<MadeBundle> make_bundle(const fs::path& keyset_dir, std::string_view passphrase,
                               const BundleOptions& options) {
  KF_CHECK(check_work_factor(options.work_factor));
  KF_TRY_ASSIGN(KeySet keyset, load_keyset(keyset_dir, options.include_ca_key));
  return make_bundle(keyset, passphrase, options.work_factor);
}

Result<void> write_bundle_file(const fs::path& path, std::span<const std::uint8_t> bytes) {
  auto fd = create_exclusive(path, 0600);
  if (!fd) {
    if (fd.error().code == ExitCode::refused) {
      return fail(ExitCode::refused,
                  "{} already exists: keyfleet never overwrites a bundle "
                  "(choose another --out, or remove the old one first)",
                  path.string());
    }
    return std::unexpected(fd.error());
  }
  auto written = [&]() -> Result<void> {
    KF_CHECK(write_all(fd->get(), bytes, path));
    KF_CHECK(fsync_fd(fd->get(), path));
    if (::close(fd->release()) != 0)
      return fail_errno(fmt::format("cannot close {}", path.string()));
    return fsync_dir(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  }();
  if (!written) {
    fd->reset();
    ::unlink(path.c_str());
  }
  return written;
}

Result<std::vector<std::uint8_t>> read_bundle_file(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
    return fail(ExitCode::usage, "bundle {} does not exist", path.string());
  }
  return read_file(path, age::kMaxFileSize);
}

Result<BundleInfo> inspect_bundle(std::span<const std::uint8_t> bundle_bytes) {
  if (bundle_bytes.empty()) return fail(ExitCode::integrity, "the file is empty, not an age file");
  if (bundle_bytes.size() > age::kMaxFileSize) {
    return fail(ExitCode::integrity, "{} bytes is more than the limit of {} for a bundle",
                bundle_bytes.size(), age::kMaxFileSize);
  }
  BundleInfo info;
  KF_TRY_ASSIGN(info.header, age::inspect_header(bundle_bytes));
  info.sha256 = sha256_hex(bundle_bytes);
  info.size = bundle_bytes.size();
  return info;
}

Result<OpenedBundle> validate_tar(std::span<const std::uint8_t> tar) {
  KF_TRY_ASSIGN(auto entries, read_tar(tar, {kMaxEntries, kMaxEntrySize, true}));
  if (entries.empty()) {
    return fail(ExitCode::integrity, "the tar holds no entries (a bundle starts with {})",
                kManifestName);
  }
  if (entries.front().name != kManifestName) {
    return fail(ExitCode::integrity, "the first tar entry is '{}': a bundle starts with {}",
                printable_name(entries.front().name), kManifestName);
  }
  OpenedBundle opened;
  opened.manifest_bytes = std::move(entries.front().data);
  KF_TRY_ASSIGN(
      opened.manifest,
      parse_manifest(std::string_view(reinterpret_cast<const char*>(opened.manifest_bytes.data()),
                                      opened.manifest_bytes.size()),
                     fmt::format("{} in the bundle", kManifestName), ExitCode::integrity));
  if (manifest_version(opened.manifest) == 1) KF_CHECK(check_flat_entries(entries));
  for (auto it = entries.begin() + 1; it != entries.end(); ++it) {
    const std::string shown = printable_name(it->name);
    const ManifestFile* listed = opened.manifest.find(it->name);
    const bool listed_directory = opened.manifest.find_directory(it->name) != nullptr;
    if (it->directory) {
      if (listed != nullptr) {
        return fail(ExitCode::integrity,
                    "tar entry '{}' is a directory, the manifest lists a file by that name", shown);
      }
      if (!listed_directory) {
        return fail(ExitCode::integrity, "tar entry '{}' is not listed in the manifest", shown);
      }
      continue;
    }
    if (listed == nullptr && listed_directory) {
      return fail(ExitCode::integrity,
                  "tar entry '{}' is a file, the manifest lists a directory by that name", shown);
    }
    if (listed == nullptr) {
      return fail(ExitCode::integrity, "tar entry '{}' is not listed in the manifest", shown);
    }
    if (it->data.size() != listed->size) {
      return fail(ExitCode::integrity, "tar entry '{}' has {} bytes, the manifest says {}", shown,
                  it->data.size(), listed->size);
    }
    if (std::string digest = sha256_hex(it->data); digest != listed->sha256) {
      return fail(ExitCode::integrity, "tar entry '{}' has SHA-256 {}, the manifest says {}", shown,
                  digest, listed->sha256);
    }
  }
  for (const auto& f : opened.manifest.files) {
    auto it = std::find_if(entries.begin() + 1, entries.end(),
                           [&](const TarEntry& e) { return !e.directory && e.name == f.name; });
    if (it == entries.end()) {
      return fail(ExitCode::integrity, "'{}' is listed in the manifest but not in the tar", f.name);
    }
    opened.files.push_back({f.name, f.mode, std::move(it->data)});
  }
  return opened;
}

Result<OpenedBundle> open_bundle(std::span<const std::uint8_t> bundle_bytes, const OpenKey& key) {
  KF_TRY_ASSIGN(BundleInfo info, inspect_bundle(bundle_bytes));
  KF_TRY_ASSIGN(SecretBytes tar, unseal(bundle_bytes, key));
  KF_TRY_ASSIGN(OpenedBundle opened, validate_tar(tar));
  opened.sha256 = std::move(info.sha256);
  opened.size = info.size;
  opened.work_factor = info.header.work_factor;
  opened.kind = info.header.kind;
  return opened;
}

Result<OpenedBundle> open_bundle(std::span<const std::uint8_t> bundle_bytes,
                                 std::string_view passphrase) {
  return open_bundle(bundle_bytes, OpenKey::with_passphrase(passphrase));
}

Result<OpenedBundle> load_bundle(const fs::path& path, const OpenKey& key) {
  KF_TRY_ASSIGN(auto bytes, read_bundle_file(path));
  auto opened = open_bundle(bytes, key);
  if (!opened) return std::unexpected(with_context(opened.error(), path.string()));
  return opened;
}

Result<OpenedBundle> load_bundle(const fs::path& path, std::string_view passphrase) {
  return load_bundle(path, OpenKey::with_passphrase(passphrase));
}

Result<SealedKeySet> seal_keyset(const KeySet& keyset, const SealKey& key) {
  if (const auto* scrypt = std::get_if<ScryptSeal>(&key.key)) {
    KF_CHECK(check_work_factor(scrypt->work_factor));
  }
  KF_TRY_ASSIGN(SecretBytes tar, keyset_tar(keyset));
  SealedKeySet sealed;
  KF_TRY_ASSIGN(sealed.made.bytes, seal(tar, key));
  sealed.made.sha256 = sha256_hex(sealed.made.bytes);
  sealed.made.manifest = keyset.manifest;
  KF_TRY_ASSIGN(BundleInfo info, inspect_bundle(sealed.made.bytes));
  KF_TRY_ASSIGN(sealed.opened, validate_tar(tar));
  sealed.opened.sha256 = sealed.made.sha256;
  sealed.opened.size = info.size;
  sealed.opened.work_factor = info.header.work_factor;
  sealed.opened.kind = info.header.kind;
  return sealed;
}

}  // namespace kf::bundle
