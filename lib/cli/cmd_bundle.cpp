#include <sys/stat.h>

#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "bundle/bundle.hpp"
#include "cli/commands.hpp"
#include "cli/passphrase_options.hpp"

namespace kf::cli {

namespace fs = boost::filesystem;
namespace {

struct BundleArgs {
  std::string keys;
  std::string out;
  PassphraseOptions passphrase;
  bool include_ca_key = false;
  int work_factor = age::kDefaultWorkFactor;
  bool json = false;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet bundle --keys keys/ --out keys-gen2.age\n"
    "      asks for a new passphrase twice on the terminal\n"
    "  keyfleet bundle --keys keys/ --out keys-gen2.age --passphrase-file ~/.keyfleet-pass\n"
    "  age -d keys-gen2.age | tar -t      (emergency access with the standard age tool)\n"
    "\n"
    "The bundle is age v1 (scrypt passphrase) around a tar of manifest.json and the key set's\n"
    "files, created with mode 0600. ca.key stays out unless --include-ca-key. An existing --out\n"
    "is never replaced (exit 4). The key set must be exactly what its manifest records (exit 3).\n"
    "See docs/bundle-format.md.\n\n";

Result<int> run_bundle(const BundleArgs& args) {
  fs::path out = args.out;
  KF_CHECK(bundle::check_work_factor(args.work_factor));
  // Everything that can be refused is checked before the operator types a passphrase.
  if (struct stat st{}; ::lstat(out.c_str(), &st) == 0) {
    return fail(ExitCode::refused,
                "{} already exists: keyfleet never overwrites a bundle (choose "
                "another --out, or remove the old one first)",
                out.string());
  }
  bundle::KeySet keyset = KF_TRY(bundle::load_keyset(args.keys, args.include_ca_key));
  SecretString passphrase =
      KF_TRY(read_passphrase(args.passphrase.source(), PassphrasePurpose::encrypt));
  bundle::MadeBundle made =
      KF_TRY(bundle::make_bundle(keyset, passphrase.view(), args.work_factor));
  KF_CHECK(bundle::write_bundle_file(out, made.bytes));

  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : made.manifest.files) files.push_back(f.name);
  if (args.json) {
    std::cout << nlohmann::json{{"path", out.string()},
                                {"sha256", made.sha256},
                                {"generation", made.manifest.generation},
                                {"size", made.bytes.size()},
                                {"work_factor", args.work_factor},
                                {"files", files}}
                     .dump(2)
              << '\n';
  } else {
    std::string names;
    for (const auto& f : made.manifest.files) names += (names.empty() ? "" : ", ") + f.name;
    std::cout << fmt::format("Wrote {} ({} bytes, mode 0600)\n", out.string(), made.bytes.size())
              << fmt::format("  generation  {}\n", made.manifest.generation)
              << fmt::format("  files       {}\n", names)
              << fmt::format("  sha256      {}\n", made.sha256);
  }
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
  add_passphrase_options(sub, args->passphrase);
  sub.add_flag("--include-ca-key", args->include_ca_key,
               "Also bundle ca.key, the CA's private key (left out by default)");
  sub.add_option("--work-factor", args->work_factor,
                 "scrypt work factor log2(N): 18 takes about a second; every step up doubles it")
      ->check(CLI::Range(bundle::kMinWorkFactor, age::kMaxWorkFactor))
      ->type_name("N")
      ->capture_default_str();
  sub.add_flag("--json", args->json, "Print one JSON document: path, sha256, generation, files");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args] { return run_bundle(*args); };
}

}  // namespace kf::cli
