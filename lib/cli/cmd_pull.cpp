#include <iostream>
#include <memory>

#include <boost/filesystem/operations.hpp>

#include "cli/audit.hpp"
#include "cli/commands.hpp"
#include "core/escape.hpp"
#include "fleet/pull.hpp"

namespace kf::cli {
namespace {

struct PullArgs {
  std::string inventory;
  std::string ssh_config;
  std::string node;
  PullOptions options;
  std::string out;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  # The Key Trustee KMS migration: the active host's key directory, without its TLS copy\n"
    "  keyfleet pull --inventory kms.toml --node kms1 \\\n"
    "      --path /var/lib/kms-keytrustee/keytrustee/.keytrustee \\\n"
    "      --out /srv/keyfleet/kt --exclude-path .ssl\n"
    "  # the next generation of the same key directory (the old one is archived)\n"
    "  keyfleet pull --inventory kms.toml --node kms1 --path /var/lib/keytrustee/.keytrustee \\\n"
    "      --out /srv/keyfleet/kt --force\n"
    "\n"
    "The node is reached as every fleet command reaches it (the inventory's user, identity and\n"
    "known_hosts, strictly). Links in the directories above --path are followed once, as the\n"
    "node resolves them (/var/lib -> /data/var/lib), and everything is read under that real\n"
    "path, which the output names; --path itself must be a real directory, and every entry\n"
    "under it is listed without following a symlink and\n"
    "held to the rules of create-keys --import: regular files and directories only (symlinks,\n"
    "devices, FIFOs refused, each named), checked names, modes at most 0644/0755. Every file is\n"
    "read over SFTP and its SHA-256 is computed on the node too (sha256sum): any difference is\n"
    "exit 3 and nothing is written. The files land in --out 0600 (directories 0700) as the next\n"
    "generation of that key directory; the manifest keeps the node's modes. Then: bundle, push.\n"
    "Exit: 0 written; 2 usage; 3 host key, authentication or digest mismatch; 4 --out holds a\n"
    "set (add --force); 1 other failures.\n\n";

Result<const NodeConfig*> find_node(const Inventory& inventory, const std::string& name) {
  for (const auto& node : inventory.nodes) {
    if (node.name == name) return &node;
  }
  return fail(ExitCode::usage, "--node {}: no such node in {}", escape_untrusted(name),
              inventory.origin);
}

void print_human(std::ostream& text, const PulledKeyset& pulled,
                 const boost::filesystem::path& out) {
  const Manifest& m = pulled.created.manifest;
  text << fmt::format(
      "Pulled {}:{} as key set generation {} ({} files, digests checked on the node) to "
      "{}\n",
      pulled.node, escape_untrusted(pulled.path), m.generation, m.files.size(), out.string());
  if (pulled.resolved != pulled.path) {
    text << fmt::format("  read from {}, the real directory (links above --path followed)\n",
                        escape_untrusted(pulled.resolved));
  }
  for (const auto& d : m.directories) {
    text << fmt::format("  {:<24}{:04o}  directory\n", escape_untrusted(d.name + "/"), d.mode);
  }
  for (const auto& f : m.files) {
    text << fmt::format("  {:<24}{:04o}  {} bytes\n", escape_untrusted(f.name), f.mode, f.size);
  }
  for (const auto& path : pulled.created.excluded) {
    text << fmt::format("  excluded: {}\n", escape_untrusted(path));
  }
  if (pulled.created.archived_to) {
    text << fmt::format("Archived the previous set to {}\n", pulled.created.archived_to->string());
  }
  text << "Next: seal it with 'keyfleet bundle' and install it with 'keyfleet push'.\n";
}

Result<int> run_pull(PullArgs& args, Output& output) {
  LoadOptions load;
  if (!args.ssh_config.empty()) load.ssh_config = args.ssh_config;
  KF_TRY_ASSIGN(Inventory inventory, load_inventory(args.inventory, load));
  note_inventory(args.inventory);
  KF_TRY_ASSIGN(const NodeConfig* node, find_node(inventory, args.node));
  args.options.out = args.out;
  auto out = boost::filesystem::absolute(args.out).lexically_normal();
  audit_note().extra["node"] = args.node;
  audit_note().extra["path"] = args.options.path;
  audit_note().extra["out"] = out.string();
  KF_TRY_ASSIGN(PulledKeyset pulled, pull_keyset(*node, args.options));
  audit_note().keyset = pulled.created.manifest.keyset;
  audit_note().generation = pulled.created.manifest.generation;
  output.set({{"node", pulled.node},
              {"path", pulled.path},
              {"resolved_path", pulled.resolved},
              {"out", out.string()},
              {"archived_to", pulled.created.archived_to
                                  ? nlohmann::ordered_json(pulled.created.archived_to->string())
                                  : nlohmann::ordered_json(nullptr)},
              {"manifest", to_json(pulled.created.manifest)}});
  print_human(output.text(), pulled, out);
  return 0;
}

}  // namespace

Action setup_pull(CLI::App& sub) {
  auto args = std::make_shared<PullArgs>();
  sub.add_option("--inventory", args->inventory,
                 "The fleet's inventory: how to reach --node (TOML, Ansible INI or YAML)")
      ->required()
      ->type_name("FILE");
  sub.add_option("--node", args->node, "The node to read from, by its inventory name")
      ->required()
      ->type_name("NAME");
  sub.add_option("--path", args->options.path, "The directory to read on the node (absolute)")
      ->required()
      ->type_name("DIR");
  sub.add_option("--out", args->out,
                 "Key directory to write the key set to (created 0700), as create-keys --out")
      ->required()
      ->type_name("KEYDIR");
  sub.add_option("--exclude-path", args->options.exclude,
                 "Leave out what this rsync pattern matches ('.ssl', '*.bak', '/x', 'dir/'; "
                 "repeatable)")
      ->type_name("PATTERN")
      ->allow_extra_args(false);
  sub.add_flag("--force", args->options.force,
               "Replace the key set in KEYDIR; the old one is moved to KEYDIR/archive/NNNNNN");
  sub.add_option("--ssh-config", args->ssh_config,
                 "Read Host aliases from FILE (default: ~/.ssh/config when it exists; 'none')")
      ->type_name("FILE");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& output) { return run_pull(*args, output); };
}

}  // namespace kf::cli
