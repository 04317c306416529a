#include "cli/seal_key_options.hpp"

#include "bundle/age_keys.hpp"

namespace kf::cli {

void add_seal_key_options(CLI::App& sub, SealKeyOptions& options,
                          const std::string& work_factor_help) {
  add_passphrase_options(sub, options.passphrase);
  sub.add_option("--recipient", options.recipients,
                 "Seal to this age X25519 public key (age1...) instead of a passphrase; "
                 "repeatable, any one identity opens the bundle")
      ->type_name("AGE1")
      ->allow_extra_args(false);
  sub.add_option("--recipients-file", options.recipients_files,
                 "Seal to every age1... recipient in FILE (one per line, # comments; repeatable)")
      ->type_name("FILE")
      ->allow_extra_args(false);
  options.work_factor_option =
      sub.add_option("--work-factor", options.work_factor, work_factor_help)
          ->check(CLI::Range(bundle::kMinWorkFactor, age::kMaxWorkFactor))
          ->type_name("N")
          ->capture_default_str();
}

Result<void> check_seal_key_options(const SealKeyOptions& options) {
  if (options.to_recipients() && has_passphrase(options.passphrase.source())) {
    return fail(ExitCode::usage,
                "--recipient/--recipients-file and --passphrase-file/--passphrase-fd cannot be "
                "used together: age seals a file with a passphrase or to recipients, never both");
  }
  if (options.to_recipients() && options.work_factor_option != nullptr &&
      options.work_factor_option->count() > 0) {
    return fail(ExitCode::usage,
                "--work-factor applies to passphrase bundles only, not to --recipient");
  }
  return bundle::check_work_factor(options.work_factor);
}

namespace {

Result<std::vector<age::X25519Recipient>> read_recipients(const SealKeyOptions& options) {
  std::vector<age::X25519Recipient> out;
  for (const auto& text : options.recipients) {
    auto recipient = age::parse_recipient(text);
    if (!recipient) return std::unexpected(with_context(recipient.error(), "--recipient"));
    out.push_back(*recipient);
  }
  for (const auto& file : options.recipients_files) {
    KF_TRY_ASSIGN(auto some, age::read_recipients_file(file));
    out.insert(out.end(), some.begin(), some.end());
  }
  return out;
}

}  // namespace

Result<bundle::SealKey> read_seal_key(const SealKeyOptions& options) {
  if (!options.to_recipients()) {
    KF_TRY_ASSIGN(SecretString passphrase,
                  read_passphrase(options.passphrase.source(), PassphrasePurpose::encrypt));
    return bundle::SealKey{bundle::ScryptSeal{std::move(passphrase), options.work_factor}};
  }
  KF_TRY_ASSIGN(auto recipients, read_recipients(options));
  return bundle::SealKey::to_recipients(std::move(recipients));
}

}  // namespace kf::cli
