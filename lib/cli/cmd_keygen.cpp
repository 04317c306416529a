#include <ctime>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "bundle/age_keys.hpp"
#include "cli/audit.hpp"
#include "cli/commands.hpp"

namespace kf::cli {

namespace {

struct KeygenArgs {
  std::string out;
  bool json = false;
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

Result<int> run_keygen(const KeygenArgs& args) {
  auto made = [&]() -> Result<std::string> {
    age::X25519Identity identity = KF_TRY(age::generate_identity());
    auto written = age::write_identity_file(args.out, identity, std::time(nullptr));
    if (!written && written.error().code == ExitCode::refused)
      return fail(ExitCode::refused,
                  "{} already exists: keyfleet never overwrites an identity (choose another "
                  "--out, or remove the old one first)",
                  args.out);
    KF_CHECK(written);
    return age::format_recipient(age::recipient_of(identity));
  }();
  if (made) audit_note().extra["recipient"] = *made;
  if (args.json) {
    nlohmann::json doc{
        {"command", "keygen"},
        {"exit_code", made ? 0 : to_int(made.error().code)},
        {"error", made ? nlohmann::json(nullptr) : nlohmann::json(made.error().message)},
        {"recipient", made ? nlohmann::json(*made) : nlohmann::json(nullptr)},
        {"file", args.out}};
    std::cout << doc.dump(2) << '\n';
  }
  if (!made) return std::unexpected(made.error());
  if (!args.json) {
    std::cout << *made << '\n';
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
  sub.add_flag("--json", args->json,
               "Print one JSON document: command, exit_code, error, recipient, file");
  sub.footer(std::string(kExamples) + sub.get_footer());
  return [args] { return run_keygen(*args); };
}

}  // namespace kf::cli
