#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "bundle/bundle_file.hpp"
#include "cli/commands.hpp"
#include "cli/passphrase_options.hpp"

namespace kf::cli {

namespace fs = boost::filesystem;
namespace {

struct InspectArgs {
  std::string file;
  PassphraseOptions passphrase;
  bool json = false;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet inspect keys-gen2.age\n"
    "      checks the age header; prints the SHA-256, size and scrypt work factor\n"
    "  keyfleet inspect keys-gen2.age --passphrase-file ~/.keyfleet-pass\n"
    "      also decrypts, authenticates and validates every entry, and prints the manifest\n"
    "\n"
    "inspect never prompts for a passphrase and never writes anything.\n\n";

void print_human(const fs::path& path, const bundle::BundleInfo& info,
                 const bundle::OpenedBundle* opened) {
  std::cout << fmt::format("bundle        {}\n", path.string())
            << fmt::format("size          {} bytes\n", info.size)
            << fmt::format("sha256        {}\n", info.sha256)
            << fmt::format("format        age v1, scrypt passphrase, work factor {}\n",
                           info.header.work_factor);
  if (opened == nullptr) {
    std::cout << "contents      encrypted (give --passphrase-file or --passphrase-fd to check and "
                 "show them)\n";
    return;
  }
  const Manifest& m = opened->manifest;
  std::string hosts;
  for (const auto& h : m.hosts) hosts += (hosts.empty() ? "" : ", ") + h;
  std::cout << "contents      authentic; every entry matches the manifest\n"
            << fmt::format("generation    {}\n", m.generation)
            << fmt::format("created       {}\n", m.created)
            << fmt::format("key type      {}\n", m.key_type)
            << fmt::format("not after     {}\n", m.not_after)
            << fmt::format("hosts         {}\n", hosts)
            << fmt::format("ca            {}\n", m.ca_fingerprint)
            << fmt::format("agent         {}\n", m.agent_fingerprint) << "files\n";
  for (const auto& f : m.files) {
    std::cout << fmt::format("  {:04o} {:>8}  {:<16} {}\n", f.mode, f.size, f.name, f.sha256);
  }
}

Result<int> run_inspect(const InspectArgs& args) {
  auto file = KF_TRY(bundle::check_bundle_file(args.file));
  std::optional<bundle::OpenedBundle> opened;
  // inspect never prompts: without a passphrase source it shows only the header.
  if (PassphraseSource source = args.passphrase.source(); has_passphrase(source)) {
    opened = KF_TRY(bundle::open_checked_bundle(file, source));
  }
  if (args.json) {
    const bundle::BundleInfo& info = file.info;
    nlohmann::json doc{{"path", file.path.string()},
                       {"size", info.size},
                       {"sha256", info.sha256},
                       {"work_factor", info.header.work_factor},
                       {"authenticated", opened.has_value()},
                       {"manifest", nullptr}};
    if (opened) doc["manifest"] = to_json(opened->manifest);
    std::cout << doc.dump(2) << '\n';
  } else {
    print_human(file.path, file.info, opened ? &*opened : nullptr);
  }
  return 0;
}

}  // namespace

Action setup_inspect(CLI::App& sub) {
  auto args = std::make_shared<InspectArgs>();
  sub.add_option("bundle", args->file, "The bundle to inspect")->required()->type_name("FILE");
  add_passphrase_options(sub, args->passphrase);
  sub.add_flag("--json", args->json,
               "Print one JSON document: path, size, sha256, work_factor, authenticated, manifest");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args] { return run_inspect(*args); };
}

}  // namespace kf::cli
