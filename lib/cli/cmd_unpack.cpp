#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "bundle/bundle_file.hpp"
#include "cli/audit.hpp"
#include "cli/bundle_key_options.hpp"
#include "cli/commands.hpp"
#include "core/escape.hpp"
#include "keydir/local_install.hpp"

namespace kf::cli {

namespace {

struct UnpackArgs {
  std::string file;
  std::string dest;
  BundleKeyOptions key;
  std::size_t keep = keydir::kDefaultKeep;
  bool allow_downgrade = false;
  bool replace_keyset = false;
  std::string owner;
  std::string layout = "generations";
  std::vector<std::string> runtime_files;
  bool adopt = false;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet unpack keys-gen2.age --dest /etc/keyfleet/agent\n"
    "  keyfleet unpack keys-gen2.age --dest /etc/keyfleet/agent --owner agent:agent \\\n"
    "      --passphrase-file /root/.keyfleet-pass\n"
    "  keyfleet unpack keys-gen2.age --dest /etc/keyfleet/agent --identity /root/.kf-identity\n"
    "  # the exact path a service reads, taken over from what is there (kept aside)\n"
    "  keyfleet unpack kt.kfb --dest /var/lib/keytrustee/.keytrustee --layout link --adopt \\\n"
    "      --runtime-file random_seed --runtime-file 'S.gpg-agent*'\n"
    "\n"
    "Layout: DEST/generations/NNNNNN/ holds each generation; DEST/current is a relative symlink\n"
    "to the installed one (services read DEST/current/agent.crt); DEST/.lock is held while\n"
    "installing (a second unpack exits 4). Nothing is written unless the whole bundle is\n"
    "authentic and every entry matches its manifest (exit 3). The switch is a rename: a crash\n"
    "leaves current on the old generation or the new one, never a mix.\n"
    "Unpack decides as push does (see `keyfleet push --help`), from what DEST holds:\n"
    "  installed    the bundle's generation is written and made current\n"
    "  unchanged    current already holds exactly this bundle (every file checked): exit 0\n"
    "  repaired     current was broken, or a file of it edited, deleted or chmod'ed\n"
    "  reactivated  the generation was there intact (after a rollback): current moves only\n"
    "Refused (exit 4), nothing changed: current is another key set, or this generation with\n"
    "other contents (--replace-keyset installs and removes the other key set's generations);\n"
    "current is newer than the bundle (--allow-downgrade); DEST/.lock is held.\n"
    "--owner chowns the new generation; DEST and DEST/generations, when unpack creates them, get\n"
    "the owner's group and mode 0710 so the owner can reach DEST/current/.\n"
    "--layout link (as the inventory's layout): DEST itself is the link, switched to\n"
    "DEST.generations/NNNNNN, where the generations and DEST/.lock's equivalent live. A DEST that\n"
    "is not keyfleet's is refused (exit 4) until --adopt moves it to\n"
    "DEST.generations/adopted-<UTC time>, kept, as the link takes its place. --runtime-file\n"
    "PATTERN (rsync-style, repeatable): files the service writes there, never compared nor\n"
    "installed.\n\n";

void print_human(std::ostream& out, const keydir::InstallReport& r) {
  std::string headline = r.action == "unchanged"     ? "Unchanged: generation {} in {}"
                         : r.action == "repaired"    ? "Repaired generation {} in {}"
                         : r.action == "reactivated" ? "Reactivated generation {} in {}"
                                                     : "Installed generation {} into {}";
  out << fmt::format(fmt::runtime(headline), r.generation, r.dest.string())
      << (r.reused && r.action == "installed" ? " (its complete directory was already there)" : "")
      << '\n';
  if (!r.detail.empty()) out << fmt::format("  found     {}\n", escape_untrusted(r.detail, 400));
  out << fmt::format("  link      {} -> {}\n", r.link, r.link_target)
      << fmt::format("  previous  {}\n", r.previous ? generation_name(*r.previous) : "none");
  if (!r.adopted.empty())
    out << fmt::format("  adopted   what was at {} is now {}\n", r.link, r.adopted);
  std::string files;
  for (const auto& f : r.files) files += (files.empty() ? "" : ", ") + f;
  out << fmt::format("  files     {}\n", files);
  if (!r.pruned.empty()) {
    std::string pruned;
    for (auto g : r.pruned) pruned += (pruned.empty() ? "" : ", ") + generation_name(g);
    out << fmt::format("  pruned    {}\n", pruned);
  }
  if (!r.removed_foreign.empty()) {
    std::string removed;
    for (auto g : r.removed_foreign) removed += (removed.empty() ? "" : ", ") + generation_name(g);
    out << fmt::format("  removed   {} (the other key set's)\n", removed);
  }
}

Result<int> run_unpack(const UnpackArgs& args, Output& out) {
  keydir::LocalInstallOptions options;
  options.keep = args.keep;
  options.allow_downgrade = args.allow_downgrade;
  options.replace_keyset = args.replace_keyset;
  if (!args.owner.empty()) {
    KF_TRY_ASSIGN(options.owner, keydir::parse_owner(args.owner));
  }
  options.layout = args.layout == "link" ? DestLayout::link : DestLayout::generations;
  options.adopt = args.adopt;
  KF_TRY_ASSIGN(options.runtime_files, parse_patterns(args.runtime_files, "--runtime-file"));
  if (options.adopt && options.layout != DestLayout::link) {
    return fail(ExitCode::usage, "--adopt takes over DEST itself: it needs --layout link");
  }
  audit_note().bundle = args.file;
  KF_TRY_ASSIGN(auto file, bundle::open_bundle_file(args.file, args.key.source()));
  audit_note().bundle_sha256 = file.bundle.sha256;
  audit_note().keyset = file.bundle.manifest.keyset;
  audit_note().generation = file.bundle.manifest.generation;
  KF_TRY_ASSIGN(auto report, keydir::install_bundle(file.bundle, args.dest, options));

  for (const auto& w : report.warnings) std::cerr << "keyfleet: warning: " << w << '\n';
  out.set({{"dest", report.dest.string()},
           {"action", report.action},
           {"detail", report.detail.empty() ? nlohmann::ordered_json(nullptr)
                                            : nlohmann::ordered_json(report.detail)},
           {"generation", report.generation},
           {"previous", report.previous ? nlohmann::ordered_json(*report.previous)
                                        : nlohmann::ordered_json(nullptr)},
           {"files", report.files},
           {"pruned", report.pruned},
           {"removed_foreign", report.removed_foreign},
           {"reused", report.reused},
           {"adopted", report.adopted.empty() ? nlohmann::ordered_json(nullptr)
                                              : nlohmann::ordered_json(report.adopted)},
           {"warnings", report.warnings}});
  print_human(out.text(), report);
  return 0;
}

}  // namespace

Action setup_unpack(CLI::App& sub) {
  auto args = std::make_shared<UnpackArgs>();
  sub.add_option("bundle", args->file, "The bundle to install")->required()->type_name("FILE");
  sub.add_option("--dest", args->dest, "The node's key directory (created 0700 if missing)")
      ->required()
      ->type_name("DIR");
  add_bundle_key_options(sub, args->key);
  sub.add_option("--keep", args->keep,
                 "Generations to keep; current and the one before it are never deleted")
      ->check(CLI::Range(keydir::kMinKeep, std::size_t{999999}))
      ->type_name("N")
      ->capture_default_str();
  sub.add_flag("--allow-downgrade", args->allow_downgrade,
               "Install a generation older than the current one");
  sub.add_flag("--replace-keyset", args->replace_keyset,
               "Install over another key set and remove its generations");
  sub.add_option("--owner", args->owner, "chown the installed files to USER:GROUP")
      ->type_name("USER:GROUP");
  sub.add_option("--layout", args->layout,
                 "generations: DEST/current -> DEST/generations/NNNNNN; link: DEST itself -> "
                 "DEST.generations/NNNNNN")
      ->check(CLI::IsMember({"generations", "link"}))
      ->capture_default_str();
  sub.add_flag("--adopt", args->adopt,
               "With --layout link: move a DEST keyfleet does not manage to "
               "DEST.generations/adopted-<time> (kept), then install");
  sub.add_option("--runtime-file", args->runtime_files,
                 "A file the service writes into DEST (rsync pattern): never compared nor "
                 "installed")
      ->type_name("PATTERN");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& out) { return run_unpack(*args, out); };
}

}  // namespace kf::cli
