#include "bundle/bundle_file.hpp"

#include <utility>

#include "bundle/age_keys.hpp"

namespace kf::bundle {

bool has_key(const KeySource& source) {
  return has_passphrase(source.passphrase) || !source.identity_files.empty();
}

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

Result<OpenKey> read_open_key(const CheckedBundleFile& file, const KeySource& source) {
  bool identities = !source.identity_files.empty();
  if (identities && has_passphrase(source.passphrase))
    return fail(ExitCode::usage,
                "--identity and --passphrase-file/--passphrase-fd cannot be used together: a "
                "bundle is opened with a passphrase or with identities");
  const age::HeaderInfo& header = file.info.header;
  if (header.kind == age::RecipientKind::x25519 && !identities)
    return fail(ExitCode::usage,
                "bundle {} is sealed to age recipients ({} X25519 stanza{}), not with a "
                "passphrase: give --identity FILE, an identity file holding the matching "
                "AGE-SECRET-KEY-1...",
                file.path.string(), header.x25519_stanzas, header.x25519_stanzas == 1 ? "" : "s");
  if (header.kind == age::RecipientKind::scrypt && identities)
    return fail(ExitCode::usage,
                "bundle {} is sealed with a passphrase, not to age recipients: give "
                "--passphrase-file FILE or --passphrase-fd N instead of --identity",
                file.path.string());
  if (!identities)
    return OpenKey::with_passphrase(
        KF_TRY(read_passphrase(source.passphrase, PassphrasePurpose::decrypt)));
  std::vector<age::X25519Identity> all;
  for (const auto& path : source.identity_files) {
    auto some = KF_TRY(age::read_identity_file(path));
    for (auto& identity : some) all.push_back(std::move(identity));
  }
  return OpenKey::with_identities(std::move(all));
}

Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file, const KeySource& source) {
  OpenKey key = KF_TRY(read_open_key(file, source));
  return open_checked_bundle(file, key);
}

Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file, const OpenKey& key) {
  auto opened = open_bundle(file.bytes, key);
  if (!opened) return std::unexpected(with_context(opened.error(), file.path.string()));
  return opened;
}

Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file,
                                         std::string_view passphrase) {
  return open_checked_bundle(file, OpenKey::with_passphrase(passphrase));
}

Result<OpenedBundleFile> open_bundle_file(const boost::filesystem::path& path,
                                          const KeySource& source) {
  CheckedBundleFile file = KF_TRY(check_bundle_file(path));
  OpenedBundle opened = KF_TRY(open_checked_bundle(file, source));
  return OpenedBundleFile{std::move(file.bytes), std::move(opened)};
}

}  // namespace kf::bundle
