#include "bundle/bundle_file.hpp"

#include <utility>

namespace kf::bundle {

Result<CheckedBundleFile> check_bundle_file(const boost::filesystem::path& path) {
  // Not inside the braces: GCC does not destroy the members already built when a statement
  // expression returns from a braced initializer.
  std::vector<std::uint8_t> bytes = KF_TRY(read_bundle_file(path));
  CheckedBundleFile file{path, std::move(bytes), {}};
  auto info = inspect_bundle(file.bytes);
  if (!info) return std::unexpected(with_context(info.error(), path.string()));
  file.info = std::move(*info);
  return file;
}

Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file,
                                         const PassphraseSource& source) {
  SecretString passphrase = KF_TRY(read_passphrase(source, PassphrasePurpose::decrypt));
  return open_checked_bundle(file, passphrase.view());
}

Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file,
                                         std::string_view passphrase) {
  auto opened = open_bundle(file.bytes, passphrase);
  if (!opened) return std::unexpected(with_context(opened.error(), file.path.string()));
  return opened;
}

Result<OpenedBundleFile> open_bundle_file(const boost::filesystem::path& path,
                                          const PassphraseSource& source) {
  CheckedBundleFile file = KF_TRY(check_bundle_file(path));
  OpenedBundle opened = KF_TRY(open_checked_bundle(file, source));
  return OpenedBundleFile{std::move(file.bytes), std::move(opened)};
}

}  // namespace kf::bundle
