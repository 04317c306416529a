#pragma once

#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/output.hpp"
#include "core/error.hpp"

namespace kf::cli {

// What a command's setup returns: run after argv has been parsed into the options it bound. It
// prints through `out` and returns the exit code of a finished run (0, or what its nodes say);
// errors that stop the command come back as Error, and run() prints them and maps them to their
// exit code.
using Action = std::function<Result<int>(Output& out)>;

struct Command {
  std::string_view name;
  std::string_view summary;
  // Adds the command's options to `sub` (bound to storage the Action owns) and returns the Action.
  // run() adds --json itself: to `sub`, or to each of its subcommands when it has some.
  Action (*setup)(CLI::App& sub);
  // The command's own fields of its --json document, in order (docs/json.md): after a fleet
  // command's report fields (interrupted, generation, bundle_sha256, summary, nodes) when `fleet`.
  std::vector<std::string_view> json_fields = {};
  bool fleet = false;
};

// Every command, in the order `keyfleet help` lists them. Drives help, "did you mean" and the
// completion scripts.
std::span<const Command> commands();

// The fields a command's document starts with: each of json_fields null, after an empty fleet
// report for a fleet command.
[[nodiscard]] nlohmann::ordered_json json_skeleton(const Command& command);

// Builds the whole command line parser; exposed for the completion generator and tests.
// `actions` receives one Action per command, in registry order.
void build_app(CLI::App& app, std::vector<Action>& actions);

// The entry point behind bin/keyfleet: parse, dispatch, print the --json document, map errors to
// exit codes.
int run(int argc, char** argv);

}  // namespace kf::cli
