// Fuzzes the bundle reader. The first input byte picks what the rest is:
//   even: a bundle file as found on disk (exercises the age layer under open_bundle);
//   odd:  the tar inside a bundle; it is encrypted cheaply first, so the fuzzer can reach the tar
//         walk and the manifest checks, which no mutation of an encrypted file could.
#include <cstddef>
#include <cstdint>

#include "bundle/age.hpp"
#include "bundle/bundle.hpp"
#include "fuzz_common.hpp"
#include "pki/keyset_path.hpp"
#include "pki/manifest.hpp"

using namespace kf;

namespace {

void check_opened(const Result<bundle::OpenedBundle>& opened) {
  if (!opened) {
    fuzz::check(opened.error().code == ExitCode::integrity, "a bad bundle is not exit code 3");
    return;
  }
  fuzz::check(opened->files.size() == opened->manifest.files.size(),
              "the bundle's files differ from its manifest's");
  // Format 1 names are flat; format 2 names are relative paths that never leave the directory.
  const bool flat = manifest_version(opened->manifest) == 1;
  auto safe = [&](const std::string& name) {
    return flat ? is_safe_entry_name(name) : is_relative_path(name);
  };
  for (const ManifestDirectory& dir : opened->manifest.directories) {
    fuzz::check(!flat && safe(dir.name) && is_allowed_directory_mode(dir.mode),
                "an unsafe directory");
  }
  for (const bundle::KeySetFile& file : opened->files) {
    const ManifestFile* listed = opened->manifest.find(file.name);
    fuzz::check(listed != nullptr && safe(file.name), "unlisted or unsafe name");
    fuzz::check(opened->manifest.find_directory(file.name) == nullptr, "a file listed as a dir");
    fuzz::check(listed->size == file.data.size() && listed->sha256 == sha256_hex(file.data),
                "a file does not match its manifest entry");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::span<const std::uint8_t> rest(data + 1, size - 1);
  if (data[0] % 2 == 1) {
    auto file = age::encrypt_scrypt(rest, fuzz::kPassphrase, 1);
    if (!file) return 0;
    check_opened(bundle::open_bundle(*file, fuzz::kPassphrase));
    return 0;
  }
  // open_bundle has no work factor limit of its own below 22: keep scrypt cheap here. A header
  // that inspect_header refuses never reaches scrypt anyway.
  auto info = age::inspect_header(rest);
  if (info && info->work_factor > fuzz::kMaxWorkFactor) return 0;
  check_opened(bundle::open_bundle(rest, fuzz::kPassphrase));
  return 0;
}
