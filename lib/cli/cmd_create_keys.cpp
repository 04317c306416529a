#include <algorithm>
#include <iostream>
#include <memory>

#include <fmt/ranges.h>
#include <boost/filesystem/operations.hpp>

#include "cli/audit.hpp"
#include "cli/commands.hpp"
#include "cli/inventory_hosts.hpp"
#include "core/escape.hpp"
#include "pki/cert.hpp"
#include "pki/hosts.hpp"
#include "pki/keyset.hpp"

namespace kf::cli {
namespace {

struct CreateKeysArgs {
  std::string out;
  std::vector<std::string> host;
  std::vector<std::string> hosts;
  std::string inventory;
  std::string key_type{key_type_name(kDefaultKeyType)};
  int days = kDefaultDays;
  int ca_days = kDefaultCaDays;
  CLI::Option* ca_days_option = nullptr;
  std::string cn;
  std::string org;
  bool keep_ca = false;
  bool force = false;
  std::string import_dir;
  std::vector<std::string> exclude;
  std::vector<std::string> secrets;
  std::vector<std::string> keep_secrets;
};

constexpr std::string_view kFooter =
    "Examples:\n"
    "  keyfleet create-keys --out /etc/keyfleet/new --hosts node1,node2,10.0.0.3\n"
    "  keyfleet create-keys --out /etc/keyfleet/new --inventory fleet.toml --key-type ec-p384\n"
    "  # a host name changed: new agent certificate, same CA (the nodes' trust stays)\n"
    "  keyfleet create-keys --out /etc/keyfleet/new --inventory fleet.toml --force --keep-ca\n"
    "  # after a compromise: everything new, the old set goes to DIR/archive/NNNNNN\n"
    "  keyfleet create-keys --out /etc/keyfleet/new --inventory fleet.toml --force\n"
    "  # existing key material (a GnuPG home, a Key Trustee directory) as the next generation\n"
    "  keyfleet create-keys --out /srv/keyfleet/kt --import /var/lib/keytrustee/.keytrustee \\\n"
    "      --exclude-path .ssl --exclude-path '*.bak' --force\n"
    "  # a random 32-byte secret beside the TLS set, kept as it is in the next generation\n"
    "  keyfleet create-keys --out /etc/keyfleet/new --inventory fleet.toml --secret rootkey:32\n"
    "  keyfleet create-keys --out /etc/keyfleet/new --inventory fleet.toml --force \\\n"
    "      --keep-ca --keep-secret rootkey\n"
    "\n"
    "The key set: ca.crt, ca.key (the cluster CA), agent.crt, agent.key (the identity every node\n"
    "shares; its subjectAltName lists every host), keystore.p12 (agent key and chain),\n"
    "truststore.p12 (CA only), storepass (their password) and manifest.json (generation, hosts,\n"
    "fingerprints, SHA-256 of every file). Private keys, stores and storepass are 0600.\n"
    "\n"
    "--import DIR takes every regular file and directory of DIR (dotfiles too, 8 levels deep at\n"
    "most) instead: each name is checked; symlinks, devices, FIFOs, hard-linked duplicates and\n"
    "modes wider than 0644 (files) or 0755 (directories) are refused, naming the file. The\n"
    "manifest keeps each file's size, mode and SHA-256; the copies in --out are 0600 (0700 for\n"
    "directories), and a node gets the recorded modes. --exclude-path takes rsync patterns: "
    "'.ssl'\n"
    "(that name at any depth), '*.bak', '/top-only' (anchored), 'cache/' (directories only).\n"
    "--secret NAME[:BYTES] adds a file of BYTES (16-1024, default 32) random bytes, 0600; the\n"
    "manifest holds its digest, never its value.\n";

constexpr std::string_view describe(std::string_view name) {
  if (name == "ca.crt") return "CA certificate";
  if (name == "ca.key") return "CA private key";
  if (name == "agent.crt") return "agent certificate";
  if (name == "agent.key") return "agent private key";
  if (name == "keystore.p12") return "PKCS#12: agent key, certificate and CA";
  if (name == "truststore.p12") return "PKCS#12: CA certificate";
  if (name == "storepass") return "password of both stores";
  return "";
}

// "/tmp/k/" and "k" both print as "/tmp/k".
boost::filesystem::path absolute_dir(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return boost::filesystem::absolute(path).lexically_normal();
}

void print_imported(std::ostream& text, const CreatedKeyset& created,
                    const boost::filesystem::path& out) {
  const Manifest& m = created.manifest;
  text << fmt::format("Wrote key set generation {} (imported, {} files) to {}\n", m.generation,
                      m.files.size(), out.string());
  for (const auto& d : m.directories) {
    text << fmt::format("  {:<24}{:04o}  directory\n", escape_untrusted(d.name + "/"), d.mode);
  }
  for (const auto& file : m.files) {
    bool secret = std::find(m.secrets.begin(), m.secrets.end(), file.name) != m.secrets.end();
    text << fmt::format("  {:<24}{:04o}  {} bytes{}\n", escape_untrusted(file.name), file.mode,
                        file.size, secret ? ", random secret" : "");
  }
  for (const auto& path : created.excluded) {
    text << fmt::format("  excluded: {}\n", escape_untrusted(path));
  }
  if (created.archived_to) {
    text << fmt::format("Archived the previous set to {}\n",
                        absolute_dir(created.archived_to->string()).string());
  }
  text << "Modes are the source's (a node gets them); the copies here are 0600/0700.\n";
  text << "Next: seal it with 'keyfleet bundle' and install it with 'keyfleet push'.\n";
}

void print_human(std::ostream& text, const CreatedKeyset& created,
                 const boost::filesystem::path& out) {
  const Manifest& m = created.manifest;
  text << fmt::format("Wrote key set generation {} ({}) to {}\n", m.generation, m.key_type,
                      out.string());
  for (const auto& file : m.files) {
    if (!describe(file.name).empty()) {
      text << fmt::format("  {:<16}{:04o}  {}\n", file.name, file.mode, describe(file.name));
    }
  }
  for (const auto& name : m.secrets) {
    text << fmt::format("  {:<16}0600  random secret ({} bytes)\n", name, m.find(name)->size);
  }
  text << fmt::format("  {:<16}0644  {}\n", kManifestName,
                      "generation, hosts, fingerprints, digests");
  if (created.archived_to) {
    text << fmt::format("Archived the previous set to {}\n",
                        absolute_dir(created.archived_to->string()).string());
  }
  text << fmt::format("Hosts:      {}\n", fmt::join(m.hosts, ", "));
  text << fmt::format("CA:         {} ({})\n", m.ca_fingerprint, created.ca_kept ? "kept" : "new");
  text << fmt::format("Agent:      {}\n", m.agent_fingerprint);
  text << fmt::format("Not after:  {} (agent certificate)\n", m.not_after);
  text << "Next: seal it with 'keyfleet bundle' and install it with 'keyfleet push'.\n";
}

}  // namespace

Action setup_create_keys(CLI::App& sub) {
  auto args = std::make_shared<CreateKeysArgs>();
  sub.footer(std::string(kFooter) + "\n" + sub.get_footer());
  // Checked by create_keyset rather than ->required(): CLI11 would report a missing --out before
  // an unknown option, and the operator's typo is the more useful message.
  sub.add_option("--out", args->out,
                 "Directory to write the key set to (required; created 0700; refused if group "
                 "or others can write it)")
      ->type_name("DIR");
  sub.add_option("--host", args->host,
                 "A node's DNS name or IP address, for the subjectAltName (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  sub.add_option("--hosts", args->hosts, "Comma-separated node names or addresses")
      ->type_name("A,B,C")
      ->delimiter(',')
      ->allow_extra_args(false);
  sub.add_option("--inventory", args->inventory,
                 "TOML inventory: every node's host and sans (see docs/inventory.md)")
      ->type_name("FILE");
  std::vector<std::string> key_types(key_type_names().begin(), key_type_names().end());
  sub.add_option("--key-type", args->key_type, "Key type of the CA and the agent")
      ->check(CLI::IsMember(key_types))
      ->capture_default_str();
  // A range rather than CLI::PositiveNumber: its message names the limits an operator can use.
  sub.add_option("--days", args->days, "Validity of the agent certificate in days")
      ->check(CLI::Range(1, kMaxDays))
      ->capture_default_str();
  args->ca_days_option = sub.add_option("--ca-days", args->ca_days, "Validity of a new CA in days")
                             ->check(CLI::Range(1, kMaxDays))
                             ->capture_default_str();
  sub.add_option(
         "--cn", args->cn,
         "Common name of the agent certificate (default: the first host, taking --host, then "
         "--hosts, then the inventory)")
      ->type_name("NAME");
  sub.add_option("--org", args->org, "Organization (O) of the certificates")->type_name("NAME");
  sub.add_flag("--keep-ca", args->keep_ca,
               "Reuse the CA in DIR (after a host name change: the nodes' trust stays)");
  sub.add_flag("--force", args->force,
               "Replace a key set in DIR; the old one is moved to DIR/archive/NNNNNN");
  auto* import = sub.add_option("--import", args->import_dir,
                                "Take the key set from the files of DIR (nested, dotfiles too) "
                                "instead of making a TLS set")
                     ->type_name("DIR");
  sub.add_option("--exclude-path", args->exclude,
                 "With --import: leave out what this rsync pattern matches (repeatable)")
      ->type_name("PATTERN")
      ->allow_extra_args(false)
      ->needs(import);
  sub.add_option("--secret", args->secrets,
                 "Add a random secret file of BYTES (16-1024, default 32), new in every "
                 "generation (repeatable)")
      ->type_name("NAME[:BYTES]")
      ->allow_extra_args(false);
  sub.add_option("--keep-secret", args->keep_secrets,
                 "Carry the secret NAME over from the set --force replaces (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  for (const char* name : {"--host", "--hosts", "--inventory", "--key-type", "--days", "--ca-days",
                           "--cn", "--org", "--keep-ca"}) {
    import->excludes(sub.get_option(name));
  }

  return [args](Output& output) -> Result<int> {
    CreateKeysOptions options;
    options.out = args->out;
    // In this order: --host, --hosts, the inventory. The first is the CN unless --cn says.
    std::vector<std::string> given = args->host;
    given.insert(given.end(), args->hosts.begin(), args->hosts.end());
    KF_TRY_ASSIGN(options.hosts, add_inventory_hosts(std::move(given), args->inventory));
    KF_TRY_ASSIGN(options.key_type, parse_key_type(args->key_type));
    options.days = args->days;
    if (args->ca_days_option->count() > 0) options.ca_days = args->ca_days;
    options.common_name = args->cn;
    options.organization = args->org;
    options.keep_ca = args->keep_ca;
    options.force = args->force;
    if (!args->import_dir.empty()) options.import_dir = args->import_dir;
    options.exclude = args->exclude;
    for (const auto& text : args->secrets) {
      KF_TRY_ASSIGN(auto spec, parse_secret_spec(text));
      options.secrets.push_back(std::move(spec));
    }
    options.keep_secrets = args->keep_secrets;
    if (!args->inventory.empty()) note_inventory(args->inventory);
    KF_TRY_ASSIGN(auto created, create_keyset(options));
    audit_note().keyset = created.manifest.keyset;
    audit_note().generation = created.manifest.generation;
    audit_note().extra["out"] = absolute_dir(args->out).string();
    auto out = absolute_dir(args->out);
    output.set({{"out", out.string()},
                {"archived_to",
                 created.archived_to
                     ? nlohmann::ordered_json(absolute_dir(created.archived_to->string()).string())
                     : nlohmann::ordered_json(nullptr)},
                {"manifest", to_json(created.manifest)}});
    if (created.manifest.imported()) {
      print_imported(output.text(), created, out);
    } else {
      print_human(output.text(), created, out);
    }
    return 0;
  };
}

}  // namespace kf::cli
