#include <ctime>
#include <iostream>
#include <memory>

#include "bundle/age_keys.hpp"
#include "cli/audit.hpp"
#include "cli/commands.hpp"

namespace kf::cli {

namespace {

struct KeygenArgs {
  std::string out;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet keygen --out /root/.keyfleet-identity      (on the deploy host)\n"
    "      prints the recipient, age1..., for the security team's `bundle --recipient`\n"
    "  keyfleet push keys-gen2.age --inventory fleet.toml --identity /root/.keyfleet-identity\n"
    "\n"
    "The identity file is in age-keygen's format (`age -d -i FILE` reads it too): a comment with\n"
    "its creation time, one with its public key, and the secret key AGE-SECRET-KEY-1... It is\n"
    "created 0600 and never replaces anything (exit 4). Only the recipient leaves the host.\n\n";

Result<int> run_keygen(const KeygenArgs& args, Output& out) {
  out.set({{"file", args.out}});
  KF_TRY_ASSIGN(age::X25519Identity identity, age::generate_identity());
  auto written = age::write_identity_file(args.out, identity, std::time(nullptr));
  if (!written && written.error().code == ExitCode::refused)
    return fail(ExitCode::refused,
                "{} already exists: keyfleet never overwrites an identity (choose another "
                "--out, or remove the old one first)",
                args.out);
  KF_CHECK(written);
  std::string recipient = age::format_recipient(age::recipient_of(identity));
  audit_note().extra["recipient"] = recipient;
  out.set({{"recipient", recipient}});
  out.text() << recipient << '\n';
  if (!out.json()) {
    std::cerr << fmt::format("keyfleet: wrote identity {} (mode 0600); its recipient is above\n",
                             args.out);
  }
  return 0;
}

}  // namespace

Action setup_keygen(CLI::App& sub) {
  auto args = std::make_shared<KeygenArgs>();
  sub.add_option("--out", args->out,
                 "The identity file to create, 0600 (never replaced if it exists)")
      ->required()
      ->type_name("FILE");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args](Output& out) { return run_keygen(*args, out); };
}

}  // namespace kf::cli
