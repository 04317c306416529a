#include <sys/stat.h>

#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "bundle/age_keys.hpp"
#include "bundle/bundle.hpp"
#include "cli/audit.hpp"
#include "cli/commands.hpp"
#include "cli/seal_key_options.hpp"

namespace kf::cli {

namespace fs = boost::filesystem;
namespace {

struct BundleArgs {
  std::string keys;
  std::string out;
  SealKeyOptions seal;
  bool include_ca_key = false;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet bundle --keys keys/ --out keys-gen2.age\n"
    "      asks for a new passphrase twice on the terminal\n"
    "  keyfleet bundle --keys keys/ --out keys-gen2.age --passphrase-file ~/.keyfleet-pass\n"
    "  keyfleet bundle --keys keys/ --out keys-gen2.age --recipient age1...\n"
    "      sealed to the deploy host's public key: only its identity file opens it\n"
    "  age -d keys-gen2.age | tar -t      (emergency access with the standard age tool)\n"
    "\n"
    "The bundle is age v1 (an scrypt passphrase, or one X25519 stanza per --recipient) around a\n"
    "tar of manifest.json and the key set's files, created with mode 0600. A passphrase and\n"
    "recipients never seal the same bundle. ca.key stays out unless --include-ca-key. An\n"
    "existing --out is never replaced (exit 4). The key set must be exactly what its manifest\n"
    "records (exit 3).\n"
    "See docs/bundle-format.md.\n\n";

Result<int> run_bundle(const BundleArgs& args, Output& output) {
  fs::path out = args.out;
  KF_CHECK(check_seal_key_options(args.seal));
  // Everything that can be refused is checked before the operator types a passphrase.
  if (struct stat st{}; ::lstat(out.c_str(), &st) == 0) {
    return fail(ExitCode::refused,
                "{} already exists: keyfleet never overwrites a bundle (choose "
                "another --out, or remove the old one first)",
                out.string());
  }
  KF_TRY_ASSIGN(bundle::KeySet keyset, bundle::load_keyset(args.keys, args.include_ca_key));
  KF_TRY_ASSIGN(bundle::SealKey key, read_seal_key(args.seal));
  KF_TRY_ASSIGN(bundle::MadeBundle made, bundle::make_bundle(keyset, key));
  KF_CHECK(bundle::write_bundle_file(out, made.bytes));
  audit_note().bundle = out.string();
  audit_note().bundle_sha256 = made.sha256;
  audit_note().keyset = made.manifest.keyset;
  audit_note().generation = made.manifest.generation;

  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& f : made.manifest.files) files.push_back(f.name);
  nlohmann::ordered_json recipients = nlohmann::ordered_json::array();
  if (const auto* seal = std::get_if<bundle::RecipientSeal>(&key.key))
    for (const auto& r : seal->recipients) recipients.push_back(age::format_recipient(r));
  output.set(
      {{"path", out.string()},
       {"sha256", made.sha256},
       {"generation", made.manifest.generation},
       {"size", made.bytes.size()},
       {"sealed_with", args.seal.to_recipients() ? "x25519" : "scrypt"},
       {"work_factor", args.seal.to_recipients() ? nlohmann::ordered_json(nullptr)
                                                 : nlohmann::ordered_json(args.seal.work_factor)},
       {"recipients", recipients},
       {"files", files}});
  std::string names;
  for (const auto& f : made.manifest.files) names += (names.empty() ? "" : ", ") + f.name;
  output.text() << fmt::format("Wrote {} ({} bytes, mode 0600)\n", out.string(), made.bytes.size())
                << fmt::format("  generation  {}\n", made.manifest.generation)
                << fmt::format("  files       {}\n", names)
                << fmt::format("  sha256      {}\n", made.sha256);
  for (const auto& r : recipients)
    output.text() << fmt::format("  recipient   {}\n", r.get<std::string>());
  if (args.include_ca_key) {
    std::cerr << "keyfleet: note: this bundle holds ca.key, the CA's private key: guard it\n";
  }
  return 0;
}

}  // namespace

Action setup_bundle(CLI::App& sub) {
  auto args = std::make_shared<BundleArgs>();
  sub.add_option("--keys", args->keys, "The key set directory made by create-keys")
      ->required()
      ->type_name("DIR");
  sub.add_option("--out", args->out, "The bundle file to create (never replaced if it exists)")
      ->required()
      ->type_name("FILE");
  add_seal_key_options(sub, args->seal,
                       "scrypt work factor log2(N): 18 takes about a second; every step up "
                       "doubles it (passphrase bundles only)");
  sub.add_flag("--include-ca-key", args->include_ca_key,
               "Also bundle ca.key, the CA's private key (left out by default)");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& output) { return run_bundle(*args, output); };
}

}  // namespace kf::cli
