#include "bundle/bundle_file.hpp"

#include <utility>

#include "bundle/age_keys.hpp"

namespace kf::bundle {

bool has_key(const KeySource& source) {
  return has_passphrase(source.passphrase) || !source.identity_files.empty();
}

Result<CheckedBundleFile> check_bundle_file(const boost::filesystem::path& path) {
  KF_TRY_ASSIGN(std::vector<std::uint8_t> bytes, read_bundle_file(path));
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
  if (!identities) {
    KF_TRY_ASSIGN(SecretString passphrase,
                  read_passphrase(source.passphrase, PassphrasePurpose::decrypt));
    return OpenKey::with_passphrase(std::move(passphrase));
  }
  std::vector<age::X25519Identity> all;
  for (const auto& path : source.identity_files) {
    KF_TRY_ASSIGN(auto some, age::read_identity_file(path));
    for (auto& identity : some) all.push_back(std::move(identity));
  }
  return OpenKey::with_identities(std::move(all));
}

Result<OpenedBundle> open_checked_bundle(const CheckedBundleFile& file, const KeySource& source) {
  KF_TRY_ASSIGN(OpenKey key, read_open_key(file, source));
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
  KF_TRY_ASSIGN(CheckedBundleFile file, check_bundle_file(path));
  KF_TRY_ASSIGN(OpenedBundle opened, open_checked_bundle(file, source));
  return OpenedBundleFile{std::move(file.bytes), std::move(opened)};
}

}  // namespace kf::bundle
