#pragma once

#include <functional>
#include <span>
#include <string_view>

#include <CLI/CLI.hpp>

#include "core/error.hpp"

namespace kf::cli {

// What a command's setup returns: run after argv has been parsed into the options it bound.
// It returns the exit code of a finished run (0, or 1 when some nodes failed or differ); errors
// that stop the command come back as Error and main maps them to their exit code.
using Action = std::function<Result<int>()>;

struct Command {
  std::string_view name;
  std::string_view summary;
  // Adds the command's options to `sub` (bound to storage the Action owns) and returns the Action.
  Action (*setup)(CLI::App& sub);
};

// Every command, in the order `keyfleet help` lists them. Drives help, "did you mean" and the
// completion scripts.
std::span<const Command> commands();

// Builds the whole command line parser; exposed for the completion generator and tests.
// `actions` receives one Action per command, in registry order.
void build_app(CLI::App& app, std::vector<Action>& actions);

// The entry point behind bin/keyfleet: parse, dispatch, map errors to exit codes.
int run(int argc, char** argv);

}  // namespace kf::cli
