#pragma once

// Key sets and tars for the bundle tests, built with the library itself (no create-keys): a
// manifest plus files of random bytes with the right digests, and tars crafted with libarchive's
// writer to hold whatever a malicious bundle might.
#include <archive.h>
#include <archive_entry.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bundle/age.hpp"
#include "bundle/bundle.hpp"
#include "core/files.hpp"
#include "pki/manifest.hpp"
#include "support/test_support.hpp"

namespace kf::test {

inline constexpr char kPassphrase[] = "correct horse battery staple";
inline constexpr int kTestWorkFactor = 10;

inline std::string random_text(std::size_t n) {
  std::string s(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n));
  return s;
}

inline std::vector<std::uint8_t> to_vector(std::string_view s) {
  return {s.begin(), s.end()};
}

struct FileSpec {
  std::string name;
  mode_t mode;
  std::string data;
};

// The files of a key set as create-keys lays them out, with random contents.
inline std::vector<FileSpec> keyset_files(bool with_ca_key = true) {
  std::vector<FileSpec> files = {
      {"agent.crt", 0644, random_text(1200)}, {"agent.key", 0600, random_text(240)},
      {"ca.crt", 0644, random_text(1100)},    {"keystore.p12", 0600, random_text(2600)},
      {"storepass", 0600, random_text(32)},   {"truststore.p12", 0644, random_text(1300)},
  };
  if (with_ca_key) files.push_back({"ca.key", 0600, random_text(240)});
  return files;
}

inline Manifest manifest_for(const std::vector<FileSpec>& files, std::uint64_t generation) {
  Manifest m;
  m.generation = generation;
  m.created = "2026-01-31T12:00:00Z";
  m.key_type = "ec-p256";
  m.hosts = {"node1.example.com", "node2.example.com", "10.0.0.3"};
  m.not_after = "2027-01-31T12:00:00Z";
  m.ca_fingerprint = "sha256:" + std::string(64, 'a');
  m.agent_fingerprint = "sha256:" + std::string(64, 'b');
  for (const auto& f : files) {
    m.files.push_back({f.name, f.data.size(), f.mode, sha256_hex(as_bytes(f.data))});
  }
  std::sort(m.files.begin(), m.files.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.name < b.name; });
  return m;
}

// Writes a key set directory (manifest.json and the files) and returns its manifest.
inline Manifest write_keyset(const fs::path& dir, std::uint64_t generation,
                             const std::vector<FileSpec>& files = keyset_files()) {
  fs::create_directories(dir);
  Manifest m = manifest_for(files, generation);
  for (const auto& f : files) write_text(dir / f.name, f.data, f.mode);
  write_text(dir / "manifest.json", serialize(m), 0644);
  return m;
}

// One entry of a crafted tar: a regular file unless `type`, `symlink` or `hardlink` say otherwise.
struct RawEntry {
  RawEntry(std::string name_, std::string data_, mode_t type_ = AE_IFREG, mode_t perm_ = 0600,
           std::string symlink_ = {}, std::string hardlink_ = {})
      : name(std::move(name_)),
        data(std::move(data_)),
        type(type_),
        perm(perm_),
        symlink(std::move(symlink_)),
        hardlink(std::move(hardlink_)) {}
  std::string name;
  std::string data;
  mode_t type;
  mode_t perm;
  std::string symlink;
  std::string hardlink;
};

inline std::string craft_tar(const std::vector<RawEntry>& entries) {
  std::string out;
  std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(), archive_write_free);
  archive_write_set_format_pax(a.get());
  archive_write_set_bytes_per_block(a.get(), 0);
  auto append = [](archive*, void* o, const void* buf, std::size_t n) -> la_ssize_t {
    static_cast<std::string*>(o)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  if (archive_write_open2(a.get(), &out, nullptr, append, nullptr, nullptr) != ARCHIVE_OK) {
    throw std::runtime_error(archive_error_string(a.get()));
  }
  for (const auto& e : entries) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(),
                                                                   archive_entry_free);
    archive_entry_set_pathname(entry.get(), e.name.c_str());
    archive_entry_set_filetype(entry.get(), e.type);
    archive_entry_set_perm(entry.get(), e.perm);
    archive_entry_set_mtime(entry.get(), 1769860800, 0);
    if (!e.symlink.empty()) archive_entry_set_symlink(entry.get(), e.symlink.c_str());
    if (!e.hardlink.empty()) archive_entry_set_hardlink(entry.get(), e.hardlink.c_str());
    if (e.type == AE_IFCHR) archive_entry_set_rdev(entry.get(), makedev(1, 3));
    archive_entry_set_size(entry.get(),
                           e.type == AE_IFREG ? static_cast<la_int64_t>(e.data.size()) : 0);
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) {
      throw std::runtime_error(archive_error_string(a.get()));
    }
    if (!e.data.empty()) archive_write_data(a.get(), e.data.data(), e.data.size());
  }
  archive_write_close(a.get());
  return out;
}

// manifest.json for `files` followed by the files themselves: a valid bundle's tar.
inline std::vector<RawEntry> valid_entries(const std::vector<FileSpec>& files,
                                           std::uint64_t generation = 1) {
  std::vector<RawEntry> entries{{"manifest.json", serialize(manifest_for(files, generation))}};
  entries.back().perm = 0644;
  for (const auto& f : files) entries.push_back({f.name, f.data, AE_IFREG, f.mode});
  return entries;
}

inline std::vector<std::uint8_t> encrypt(std::string_view plaintext,
                                         std::string_view passphrase = kPassphrase,
                                         int work_factor = kTestWorkFactor) {
  auto sealed = age::encrypt_scrypt(as_bytes(plaintext), passphrase, work_factor);
  if (!sealed) throw std::runtime_error(sealed.error().message);
  return *sealed;
}

inline void write_bytes(const fs::path& path, std::span<const std::uint8_t> bytes) {
  write_text(path, std::string(bytes.begin(), bytes.end()), 0600);
}

// A bundle file of a fresh key set of `generation`, made through the library.
inline Manifest write_bundle(const fs::path& path, std::uint64_t generation,
                             const std::vector<FileSpec>& files = keyset_files(false)) {
  Manifest m = manifest_for(files, generation);
  std::vector<RawEntry> entries = valid_entries(files, generation);
  write_bytes(path, encrypt(craft_tar(entries)));
  return m;
}

// The passphrase in a file only its owner can read, as --passphrase-file wants.
inline fs::path passphrase_file(const fs::path& dir, const std::string& passphrase = kPassphrase) {
  fs::path p = dir / "passphrase";
  write_text(p, passphrase + "\n", 0600);
  return p;
}

// The age CLI reads passphrases only from a terminal: run it under script(1), whose pseudo-terminal
// gets `typed` (one line per prompt) from our stdin.
inline RunResult age_cli(const std::string& args, const std::string& typed) {
  RunOptions options;
  options.input = typed;
  return run({"script", "-qec", "age " + args, "/dev/null"}, options);
}

// Everything below `dir`, directories and modes included, for "DEST was left untouched".
inline std::map<std::string, std::string> tree(const fs::path& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  out["."] = fmt::format("dir {:o}", file_mode(dir));
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    std::string name = fs::relative(it->path(), dir).string();
    auto status = it->symlink_status();
    if (fs::is_symlink(status)) {
      out[name] = "-> " + fs::read_symlink(it->path()).string();
    } else if (fs::is_directory(status)) {
      out[name] = fmt::format("dir {:o}", file_mode(it->path()));
    } else {
      out[name] = fmt::format("{:o} {}", file_mode(it->path()), read_text(it->path()));
    }
  }
  return out;
}

// Whether DEST/current points at a generation directory holding exactly what its manifest lists.
inline ::testing::AssertionResult current_is_complete(const fs::path& dest,
                                                      std::uint64_t generation) {
  fs::path link = dest / "current";
  if (!fs::is_symlink(link)) return ::testing::AssertionFailure() << link << " is not a symlink";
  std::string target = fs::read_symlink(link).string();
  std::string expected = fmt::format("generations/{:06}", generation);
  if (target != expected) {
    return ::testing::AssertionFailure() << "current -> " << target << ", expected " << expected;
  }
  fs::path dir = dest / target;
  auto m = parse_manifest(read_text(dir / "manifest.json"), "installed manifest");
  if (!m) return ::testing::AssertionFailure() << m.error().message;
  if (m->generation != generation) return ::testing::AssertionFailure() << "manifest generation";
  std::size_t count = 0;
  for (fs::directory_iterator it(dir), end; it != end; ++it) ++count;
  if (count != m->files.size() + 1)
    return ::testing::AssertionFailure() << count << " entries in " << dir;
  for (const auto& f : m->files) {
    std::string data = read_text(dir / f.name);
    if (data.size() != f.size || sha256_hex(as_bytes(data)) != f.sha256 ||
        file_mode(dir / f.name) != f.mode) {
      return ::testing::AssertionFailure() << f.name << " does not match the manifest";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace kf::test
