#include <ctime>
#include <memory>

#include "bundle/bundle_file.hpp"
#include "cli/bundle_key_options.hpp"
#include "cli/commands.hpp"
#include "cli/fleet_options.hpp"
#include "core/files.hpp"
#include "fleet/verify.hpp"
#include "fleet/verify_served.hpp"

namespace kf::cli {

namespace {

struct VerifyArgs {
  FleetOptions fleet;
  std::string bundle;
  std::string manifest;
  BundleKeyOptions key;
  bool served = false;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet verify --inventory fleet.toml --manifest keys/manifest.json\n"
    "  keyfleet verify --inventory fleet.toml --bundle keys-gen2.age --passphrase-file pass\n"
    "  keyfleet verify --inventory fleet.toml --bundle keys-gen2.age --identity identity.txt\n"
    "  keyfleet verify --inventory fleet.toml        # do all nodes agree?\n"
    "  keyfleet verify --inventory fleet.toml --served   # and does each agent serve its keys?\n"
    "\n"
    "Each node's DEST/current is read over one SSH connection: every file is read back over\n"
    "SFTP and hashed here; names, sizes, modes (from lstat; only regular files count) and\n"
    "SHA-256 digests are compared with the manifest, as is the installed manifest.json.\n"
    "ca.key: bundles carry it only when made with --include-ca-key. When the expected manifest\n"
    "lists ca.key and the node's installed manifest.json does not, the node is held to the\n"
    "manifest without ca.key; a node whose manifest lists it must hold it.\n"
    "Without --manifest or --bundle, the generation and files most nodes hold (ties: the newer\n"
    "generation) are the reference, and the odd nodes out are named; only complete generations\n"
    "(every file as the node's own manifest.json lists it) count, and an incomplete one is a\n"
    "mismatch.\n"
    "With the inventory's layout = \"link\", a node whose DEST is a real directory keyfleet does\n"
    "not manage (the source of a `pull`) is compared by content: ok when every file matches\n"
    "(the detail says it is unmanaged; it has no generation and never votes). Paths the\n"
    "manifest's `exclude` (an import's --exclude-path) or the node's `runtime_files` name are\n"
    "left out on both sides.\n"
    "Statuses: ok, mismatch (the files are named), missing (nothing installed), stale (older\n"
    "generation), damaged (current missing while generations exist, dangling, not a symlink, or\n"
    "not a link to a generation with a valid manifest: push repairs it), pending-hooks (the\n"
    "files match but the post/check hooks of the last switch never ran, DEST/.pending: the next\n"
    "push or rollback runs them), unreachable, hostkey, auth, timeout, failed.\n"
    "--served also connects to each node's `probe` endpoint (inventory `probe = \"HOST:PORT\"`)\n"
    "over TLS from this machine and checks that the agent serves the installed agent.crt,\n"
    "chained to the installed ca.crt, with the endpoint's host in its SANs: served-ok,\n"
    "served-stale (another certificate; the generation it belongs to is named),\n"
    "served-untrusted, served-unreachable (all exit 1). With --bundle, the bundle's agent\n"
    "certificate is offered when the agent asks for a client certificate.\n"
    "Exit: 3 a host key or authentication failure (or a --bundle not authentic); else 4 some\n"
    "node refused (its DEST, or DEST.generations, a symlink or not a directory); else 1 some\n"
    "node is not ok; else 0.\n\n";

Result<std::optional<bundle::OpenedBundle>> expected_bundle(const VerifyArgs& args) {
  if (args.bundle.empty()) return std::nullopt;
  KF_TRY_ASSIGN(auto file, bundle::open_bundle_file(args.bundle, args.key.source()));
  return std::move(file.bundle);
}

Result<int> run_verify(const VerifyArgs& args, Output& out) {
  KF_TRY_ASSIGN(Selection selection, args.fleet.load());
  std::optional<Manifest> expected;
  std::optional<bundle::OpenedBundle> opened_bundle;  // for --served: its client certificate
  std::string bundle_sha256;
  if (!args.manifest.empty()) {
    auto read = read_file(args.manifest, 1u << 20);
    if (!read) {
      // A manifest the operator named that cannot be read is a usage error, not a node failure.
      return fail(ExitCode::usage, "--manifest: {}", read.error().message);
    }
    auto text = std::move(*read);
    KF_TRY_ASSIGN(
        expected,
        parse_manifest(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()),
                       args.manifest, ExitCode::usage));
  } else {
    KF_TRY_ASSIGN(opened_bundle, expected_bundle(args));
    if (opened_bundle) {
      expected = opened_bundle->manifest;
      bundle_sha256 = opened_bundle->sha256;
    }
  }

  FleetReport header{
      "verify", expected ? std::optional(expected->generation) : std::nullopt, bundle_sha256, {}};
  header.inventory_nodes = selection.total;
  FleetReporter fleet(args.fleet, out, "verify", std::move(header));
  FleetVerification verified;
  if (args.served) {
    ServedVerifyOptions served;
    served.bundle = opened_bundle ? &*opened_bundle : nullptr;
    served.now = std::time(nullptr);
    verified = verify_fleet_served(selection.nodes, expected, served, fleet.run_options());
  } else {
    verified = verify_fleet(selection.nodes, expected, fleet.run_options());
  }
  fleet.report().generation = verified.generation;
  fleet.report().nodes = std::move(verified.nodes);
  ReportOutput output;
  // A node that holds no generation of keyfleet's but the right files says so (escaped by the
  // library).
  output.node_detail = [](std::size_t, const NodeReport& node) { return node.detail; };
  return fleet.finish(output);
}

}  // namespace

Action setup_verify(CLI::App& sub) {
  auto args = std::make_shared<VerifyArgs>();
  args->fleet.add_to(sub, false);
  auto* bundle =
      sub.add_option(
             "--bundle", args->bundle,
             "Compare with the manifest inside this bundle (needs its passphrase or identity)")
          ->type_name("FILE");
  auto* manifest = sub.add_option("--manifest", args->manifest,
                                  "Compare with this manifest.json (as create-keys wrote it)")
                       ->type_name("FILE");
  bundle->excludes(manifest);
  sub.add_flag("--served", args->served,
               "Also check that each node's agent serves the installed certificate (inventory "
               "`probe`)");
  add_bundle_key_options(sub, args->key);
  args->key.passphrase.file_option->needs(bundle);
  args->key.passphrase.fd_option->needs(bundle);
  args->key.identity_option->needs(bundle);
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& out) { return run_verify(*args, out); };
}

}  // namespace kf::cli
