#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "bundle/bundle_file.hpp"
#include "cli/bundle_key_options.hpp"
#include "cli/commands.hpp"
#include "core/escape.hpp"

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
  // Authentic means made by whoever holds the key, not harmless on a terminal: every string of
  // the manifest is shown escaped.
  const Manifest& m = opened->manifest;
  auto list = [](const std::vector<std::string>& items) {
    std::string text;
    for (const auto& item : items) text += (text.empty() ? "" : ", ") + escape_untrusted(item);
    return text;
  };
  out << "contents      authentic; every entry matches the manifest\n"
      << fmt::format("generation    {}\n", m.generation);
  if (!m.keyset.empty()) out << fmt::format("key set       {}\n", m.keyset);
  out << fmt::format("created       {}\n", escape_untrusted(m.created));
  if (m.imported()) {
    // Existing files (create-keys --import, pull): no certificate fields to show.
    out << "kind          imported (existing files, as they were)\n";
    if (!m.exclude.empty()) out << fmt::format("excluded      {}\n", list(m.exclude));
  } else {
    out << fmt::format("key type      {}\n", escape_untrusted(m.key_type))
        << fmt::format("not after     {}\n", escape_untrusted(m.not_after))
        << fmt::format("hosts         {}\n", list(m.hosts))
        << fmt::format("ca            {}\n", escape_untrusted(m.ca_fingerprint))
        << fmt::format("agent         {}\n", escape_untrusted(m.agent_fingerprint));
    // A generation of rotate --new-ca: which phase, and every CA its trust store holds.
    if (m.ca_phase) out << fmt::format("ca phase      {}\n", to_string(*m.ca_phase));
    if (!m.trusted_cas.empty()) out << fmt::format("trusted cas   {}\n", list(m.trusted_cas));
  }
  if (!m.secrets.empty()) out << fmt::format("secrets       {}\n", list(m.secrets));
  if (!m.directories.empty()) out << "directories\n";
  for (const auto& d : m.directories) {
    out << fmt::format("  {:04o}            {}/\n", d.mode, escape_untrusted(d.name));
  }
  out << "files\n";
  for (const auto& f : m.files) {
    out << fmt::format("  {:04o} {:>8}  {:<16} {}\n", f.mode, f.size, escape_untrusted(f.name),
                       f.sha256);
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
