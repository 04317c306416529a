#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <iostream>
#include <vector>

#include "cli/audit.hpp"
#include "cli/command.hpp"
#include "cli/completion.hpp"
#include "core/interrupt.hpp"
#include "core/secret.hpp"
#include "core/suggest.hpp"

namespace kf::cli {
namespace {

constexpr std::string_view kExitCodes =
    "Exit codes:\n"
    "  0    success\n"
    "  1    finished, but some nodes failed or differ (or a local operation failed)\n"
    "  2    usage or configuration error\n"
    "  3    integrity or authentication failure: tampered or truncated bundle, wrong passphrase,\n"
    "       unsafe archive entry, host key mismatch, authentication refused\n"
    "  4    refused for safety: would overwrite without --force, another key set, generation\n"
    "       downgrade, lock held, confirmation missing\n"
    "  130  interrupted (Ctrl-C): running nodes are waited for, the rest skipped; a second\n"
    "       Ctrl-C stops at once with the report so far\n"
    "push, rotate, verify, status, cleanup and rollback: 3 if any node failed its host key or\n"
    "authentication check (or the bundle is not authentic), else 4 if any node was refused, else\n"
    "1 if any node failed, else 0.\n";

void print_error(std::string_view message) {
  std::cerr << "keyfleet: error: " << message << '\n';
}

std::vector<std::string_view> command_names() {
  std::vector<std::string_view> names;
  for (const auto& command : commands()) names.push_back(command.name);
  names.push_back("help");
  names.push_back("completion");
  return names;
}

const Command* find_command(std::string_view name) {
  for (const auto& command : commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

// Prints `error` on stderr and, with --json, the document that carries it; returns its exit code.
int report_error(Output& out, const Error& error) {
  print_error(error.message);
  out.finish(to_int(error.code), &error);
  return to_int(error.code);
}

// The output of a command line the parser refused: with --json, a document for the command named
// (null when none is, or help and completion, which print nothing for scripts), so that a script
// that asked for JSON always gets one.
Output refused_output(int argc, char** argv, const std::vector<CLI::App*>& chain) {
  bool json = json_requested(argc, argv);
  const Command* command = chain.empty() ? nullptr : find_command(chain.front()->get_name());
  if (command == nullptr) return Output("", json, nlohmann::ordered_json::object());
  std::string name;
  for (CLI::App* sub : chain) name += (name.empty() ? "" : " ") + sub->get_name();
  return Output(name, json, json_skeleton(*command));
}

// "keyfleet creat-keys": name the command the operator most likely meant.
std::optional<int> reject_unknown_command(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return std::nullopt;
  std::string_view word = argv[1];
  auto names = command_names();
  if (std::find(names.begin(), names.end(), word) != names.end()) return std::nullopt;
  std::string message = fmt::format("unknown command '{}'", word);
  if (auto guess = closest_match(word, names))
    message += fmt::format(": did you mean '{}'?", *guess);
  Output out = refused_output(argc, argv, {});
  int code = report_error(out, Error{ExitCode::usage, message});
  std::cerr << "Run 'keyfleet help' for the list of commands.\n";
  return code;
}

std::string json_help(const Command& command) {
  std::string fields = "command, exit_code, error";
  nlohmann::ordered_json skeleton = json_skeleton(command);
  for (const auto& [key, value] : skeleton.items()) fields += ", " + key;
  return "Print one JSON document on standard output, also on errors (docs/json.md): " + fields;
}

// The command's document: "inventory show" for `inventory`'s subcommand.
Output command_output(const Command& command, CLI::App& sub) {
  std::string name(command.name);
  CLI::App* leaf = &sub;
  for (CLI::App* inner : sub.get_subcommands()) {
    name += " " + inner->get_name();
    leaf = inner;
  }
  const CLI::Option* json = leaf->get_option_no_throw("--json");
  return Output(name, json != nullptr && json->count() > 0, json_skeleton(command));
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// The first word a command did not take: an option it lacks (with the closest one it has, or a
// word on its positional argument when the option was named after it, as in `push --bundle F`),
// or one argument too many.
std::string stray_argument_message(const CLI::App& sub, const std::string& word) {
  if (!word.starts_with("-")) {
    return fmt::format("unexpected argument '{}' for '{}'", word, sub.get_name());
  }
  std::string name = word.substr(0, word.find('='));
  std::string message = fmt::format("unknown option '{}' for '{}'", name, sub.get_name());
  std::vector<std::string> names;
  for (const CLI::Option* opt : sub.get_options()) {
    if (opt->get_positional() && opt->get_lnames().empty() && "--" + opt->get_name() == name) {
      return message +
             fmt::format(": the {} is given without an option name, as in 'keyfleet {} {} ...'",
                         opt->get_name(), sub.get_name(), upper(opt->get_name()));
    }
    for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
  }
  std::vector<std::string_view> views(names.begin(), names.end());
  if (auto guess = closest_match(name, views))
    message += fmt::format(": did you mean '{}'?", *guess);
  return message;
}

// "bundle is required" reads like an option was missed; say where the argument goes.
std::optional<std::string> missing_positional_message(const CLI::App& sub) {
  for (const CLI::Option* opt : sub.get_options()) {
    if (opt->get_positional() && opt->get_required() && opt->count() == 0) {
      return fmt::format("'{}' needs the {}: keyfleet {} {} [OPTIONS]", sub.get_name(),
                         opt->get_name(), sub.get_name(), upper(opt->get_name()));
    }
  }
  return std::nullopt;
}

}  // namespace

void build_app(CLI::App& app, std::vector<Action>& actions) {
  app.name("keyfleet");
  app.description(
      "keyfleet rotates the TLS key material of a cluster's agents: it creates a key set, seals "
      "it\n"
      "in an encrypted bundle, pushes identical copies to every node over SSH, installs them\n"
      "atomically, verifies every node against the manifest and wipes the temporary copies.");
  app.set_version_flag("--version", std::string("keyfleet ") + KEYFLEET_VERSION);
  app.require_subcommand(0, 1);
  app.footer(std::string("Run 'keyfleet COMMAND --help' for a command's options.\n\n") +
             std::string(kExitCodes));
  for (const auto& command : commands()) {
    CLI::App* sub = app.add_subcommand(std::string(command.name), std::string(command.summary));
    sub->footer(std::string(kExitCodes));
    actions.push_back(command.setup(*sub));
    if (is_audited(command.name)) add_audit_options(*sub);
    std::vector<CLI::App*> leaves = sub->get_subcommands({});
    if (leaves.empty()) leaves.push_back(sub);
    for (CLI::App* leaf : leaves) leaf->add_flag("--json")->description(json_help(command));
  }
}

int run(int argc, char** argv) {
  ::umask(077);
  disable_core_dumps();
  install_interrupt_handler();

  if (auto code = reject_unknown_command(argc, argv)) return *code;

  CLI::App app;
  std::vector<Action> actions;
  build_app(app, actions);

  std::string help_topic;
  CLI::App* help = app.add_subcommand("help", "Show help for keyfleet or for one command");
  help->add_option("command", help_topic, "The command to explain");
  std::string shell;
  CLI::App* completion = app.add_subcommand("completion", "Print a shell completion script");
  completion->add_option("shell", shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string message = e.what();
    // The innermost command given (`inventory show`): its options are the ones to suggest.
    std::vector<CLI::App*> chain;
    for (CLI::App* sub = &app; !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().front();
      chain.push_back(sub);
    }
    if (!chain.empty()) {
      CLI::App* sub = chain.back();
      // CLI11 checks required options before it complains about unknown ones, and lists the
      // extras backwards; the first stray word ("--nmae") is the thing to report.
      auto extras = sub->remaining();
      if (!extras.empty()) {
        message = stray_argument_message(*sub, extras.front());
      } else if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
        message = missing_positional_message(*sub).value_or(message);
      }
    }
    Output out = refused_output(argc, argv, chain);
    int code = report_error(out, Error{ExitCode::usage, message});
    std::string where = "keyfleet";
    for (CLI::App* sub : chain) where += " " + sub->get_name();
    std::cerr << "Run '" << where << " --help' for usage.\n";
    return code;
  }

  if (help->parsed()) {
    if (help_topic.empty()) {
      // App::help() would describe the selected subcommand ("help") instead of keyfleet.
      std::cout << app.get_formatter()->make_help(&app, "keyfleet", CLI::AppFormatMode::Normal);
      return 0;
    }
    for (CLI::App* sub : app.get_subcommands({})) {
      if (sub->get_name() == help_topic) {
        std::cout << sub->help("keyfleet");  // "keyfleet CMD" in the usage line, as CMD --help
        return 0;
      }
    }
    std::string message = fmt::format("help: unknown command '{}'", help_topic);
    auto names = command_names();
    if (auto guess = closest_match(help_topic, names)) {
      message += fmt::format(": did you mean '{}'?", *guess);
    }
    print_error(message);
    return to_int(ExitCode::usage);
  }
  if (completion->parsed()) {
    std::cout << completion_script(app, shell);
    return 0;
  }

  auto all = commands();
  for (std::size_t i = 0; i < all.size(); ++i) {
    CLI::App* sub = app.get_subcommand(std::string(all[i].name));
    if (!sub->parsed()) continue;
    Output out = command_output(all[i], *sub);
    Result<int> result;
    try {
      result = run_audited(all[i].name, argc, argv, [&] { return actions[i](out); });
    } catch (const std::exception& e) {
      // The edge of every command, as main() is: the document is printed all the same.
      result = fail(ExitCode::failure, "internal error: {}", e.what());
    }
    if (!result) return report_error(out, result.error());
    out.finish(*result, nullptr);
    return *result;
  }

  std::cerr << app.help();
  return to_int(ExitCode::usage);
}

}  // namespace kf::cli
