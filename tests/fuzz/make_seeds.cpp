// Writes fresh seed inputs for the fuzz targets: age files sealed with the fuzzers' passphrase and
// file key at a cheap work factor, and small well-formed bundle tars (see fuzz_bundle_reader.cpp
// for the leading mode byte). Usage: fuzz_make_seeds AGE_DIR BUNDLE_DIR
#include <archive.h>
#include <archive_entry.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "bundle/age.hpp"
#include "bundle/age_format.hpp"
#include "fuzz_common.hpp"
#include "pki/manifest.hpp"

using namespace kf;
using Bytes = std::vector<std::uint8_t>;

namespace {

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "fuzz_make_seeds: %s\n", message.c_str());
  std::exit(1);
}

void write(const std::string& path, std::span<const std::uint8_t> data, std::uint8_t prefix = 0,
           bool with_prefix = false) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (with_prefix) out.put(static_cast<char>(prefix));
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) die("cannot write " + path);
}

Bytes pattern(std::size_t size) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i * 13 + (i >> 10));
  return out;
}

struct ArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// A pax tar: manifest.json first, then the listed directories (format 2) and files, as a bundle
// holds them.
Bytes make_tar(const std::vector<std::pair<std::string, Bytes>>& files,
               const std::vector<std::string>& directories = {}) {
  Manifest manifest;
  manifest.created = "2024-01-01T00:00:00Z";
  manifest.key_type = "ec-p256";
  manifest.hosts = {"node1.example.com", "node2.example.com"};
  manifest.not_after = "2025-01-01T00:00:00Z";
  manifest.ca_fingerprint = "sha256:" + std::string(64, 'a');
  manifest.agent_fingerprint = "sha256:" + std::string(64, 'b');
  for (const auto& [name, data] : files)
    manifest.files.push_back({name, data.size(), 0600, sha256_hex(data)});
  for (const auto& name : directories) manifest.directories.push_back({name, 0750});
  if (!directories.empty()) manifest.kind = std::string(kKindImported);
  std::string manifest_text = serialize(manifest);

  std::vector<std::pair<std::string, Bytes>> entries = {
      {std::string(kManifestName), Bytes(manifest_text.begin(), manifest_text.end())}};
  for (const auto& name : directories) entries.push_back({name + "/", Bytes{}});
  entries.insert(entries.end(), files.begin(), files.end());
  Bytes buffer(1 << 20);
  std::size_t used = 0;
  std::unique_ptr<archive, ArchiveFree> tar(archive_write_new());
  if (archive_write_set_format_pax_restricted(tar.get()) != ARCHIVE_OK ||
      archive_write_open_memory(tar.get(), buffer.data(), buffer.size(), &used) != ARCHIVE_OK)
    die("cannot start a tar");
  for (const auto& [name, data] : entries) {
    std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
    const bool directory = name.ends_with('/');
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_filetype(entry.get(), directory ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(entry.get(), directory ? 0750 : 0600);
    archive_entry_set_size(entry.get(), static_cast<la_int64_t>(data.size()));
    archive_entry_set_mtime(entry.get(), 1704067200, 0);
    if (archive_write_header(tar.get(), entry.get()) != ARCHIVE_OK ||
        archive_write_data(tar.get(), data.data(), data.size()) !=
            static_cast<la_ssize_t>(data.size()))
      die(std::string("cannot write a tar entry: ") + archive_error_string(tar.get()));
  }
  if (archive_write_close(tar.get()) != ARCHIVE_OK) die("cannot finish a tar");
  buffer.resize(used);
  return buffer;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) die("usage: fuzz_make_seeds AGE_DIR BUNDLE_DIR");
  std::string age_dir = argv[1];
  std::string bundle_dir = argv[2];

  auto stanza = age::make_scrypt_stanza(fuzz::kFileKey, fuzz::kPassphrase, fuzz::kSeedWorkFactor);
  if (!stanza) die(stanza.error().message);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{300}, age::kChunkSize - 1,
                           age::kChunkSize, age::kChunkSize + 1, 2 * age::kChunkSize + 5}) {
    auto file = age::seal_file(std::span(&*stanza, 1), fuzz::kFileKey, pattern(size));
    if (!file) die(file.error().message);
    write(age_dir + "/seed_" + std::to_string(size), *file);
  }

  std::vector<std::vector<std::pair<std::string, Bytes>>> sets = {
      {},
      {{"agent.crt", pattern(700)}, {"agent.key", pattern(240)}, {"ca.crt", pattern(650)}},
      {{"keystore.p12", pattern(2600)}, {"storepass", pattern(33)}},
  };
  // A nested set with dotfiles (manifest format 2), for the nested tar walk.
  std::vector<std::vector<std::string>> directories = {
      {}, {}, {}, {".keytrustee", ".keytrustee/private-keys-v1.d"}};
  sets.push_back({{".keytrustee/secring.gpg", pattern(500)},
                  {".keytrustee/private-keys-v1.d/A.key", pattern(90)},
                  {"top", pattern(3)}});
  for (std::size_t i = 0; i < sets.size(); ++i) {
    Bytes tar = make_tar(sets[i], directories[i]);
    write(bundle_dir + "/tar_" + std::to_string(i), tar, 1, true);
    auto file = age::encrypt_scrypt(tar, fuzz::kPassphrase, fuzz::kSeedWorkFactor);
    if (!file) die(file.error().message);
    write(bundle_dir + "/bundle_" + std::to_string(i), *file, 0, true);
  }
  return 0;
}
