#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "bundle/bundle_file.hpp"
#include "cli/bundle_key_options.hpp"
#include "cli/commands.hpp"

namespace kf::cli {

namespace fs = boost::filesystem;
namespace {

struct InspectArgs {
  std::string file;
  BundleKeyOptions key;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet inspect keys-gen2.age\n"
    "      checks the age header; prints the SHA-256, size and how it is sealed (scrypt work\n"
    "      factor, or the number of X25519 recipients)\n"
    "  keyfleet inspect keys-gen2.age --passphrase-file ~/.keyfleet-pass\n"
    "      also decrypts, authenticates and validates every entry, and prints the manifest\n"
    "  keyfleet inspect keys-gen2.age --identity ~/.keyfleet-identity\n"
    "      the same for a bundle sealed to age recipients\n"
    "\n"
    "inspect never prompts for a passphrase and never writes anything.\n\n";

std::string sealing(const age::HeaderInfo& header) {
  if (header.kind == age::RecipientKind::scrypt)
    return fmt::format("scrypt passphrase, work factor {}", header.work_factor);
  std::string out = fmt::format("{} X25519 recipient{}", header.x25519_stanzas,
                                header.x25519_stanzas == 1 ? "" : "s");
  if (header.other_stanzas > 0)
    out += fmt::format(" ({} stanza{} of unknown type skipped)", header.other_stanzas,
                       header.other_stanzas == 1 ? "" : "s");
  return out;
}

void print_human(std::ostream& out, const fs::path& path, const bundle::BundleInfo& info,
                 const bundle::OpenedBundle* opened) {
  out << fmt::format("bundle        {}\n", path.string())
      << fmt::format("size          {} bytes\n", info.size)
      << fmt::format("sha256        {}\n", info.sha256)
      << fmt::format("format        age v1, {}\n", sealing(info.header));
  if (opened == nullptr) {
    out << (info.header.kind == age::RecipientKind::scrypt
                ? "contents      encrypted (give --passphrase-file or --passphrase-fd to "
                  "check and show them)\n"
                : "contents      encrypted (give --identity FILE to check and show them)\n");
    return;
  }
  const Manifest& m = opened->manifest;
  std::string hosts;
  for (const auto& h : m.hosts) hosts += (hosts.empty() ? "" : ", ") + h;
  out << "contents      authentic; every entry matches the manifest\n"
      << fmt::format("generation    {}\n", m.generation)
      << fmt::format("created       {}\n", m.created)
      << fmt::format("key type      {}\n", m.key_type)
      << fmt::format("not after     {}\n", m.not_after) << fmt::format("hosts         {}\n", hosts)
      << fmt::format("ca            {}\n", m.ca_fingerprint)
      << fmt::format("agent         {}\n", m.agent_fingerprint) << "files\n";
  for (const auto& f : m.files) {
    out << fmt::format("  {:04o} {:>8}  {:<16} {}\n", f.mode, f.size, f.name, f.sha256);
  }
}

Result<int> run_inspect(const InspectArgs& args, Output& out) {
  KF_TRY_ASSIGN(auto file, bundle::check_bundle_file(args.file));
  const bundle::BundleInfo& info = file.info;
  const bool scrypt = info.header.kind == age::RecipientKind::scrypt;
  out.set({{"path", file.path.string()},
           {"size", info.size},
           {"sha256", info.sha256},
           {"sealed_with", scrypt ? "scrypt" : "x25519"},
           {"work_factor", scrypt ? nlohmann::ordered_json(info.header.work_factor)
                                  : nlohmann::ordered_json(nullptr)},
           {"x25519_recipients", info.header.x25519_stanzas},
           {"authenticated", false}});
  std::optional<bundle::OpenedBundle> opened;
  // inspect never prompts: without a passphrase source or an identity it shows only the header.
  if (bundle::KeySource source = args.key.source(); bundle::has_key(source)) {
    KF_TRY_ASSIGN(opened, bundle::open_checked_bundle(file, source));
    out.set({{"authenticated", true}, {"manifest", to_json(opened->manifest)}});
  }
  print_human(out.text(), file.path, file.info, opened ? &*opened : nullptr);
  return 0;
}

}  // namespace

Action setup_inspect(CLI::App& sub) {
  auto args = std::make_shared<InspectArgs>();
  sub.add_option("bundle", args->file, "The bundle to inspect")->required()->type_name("FILE");
  add_bundle_key_options(sub, args->key);
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& out) { return run_inspect(*args, out); };
}

}  // namespace kf::cli
