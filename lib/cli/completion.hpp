#pragma once

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace kf::cli {

// A completion script for `shell` (bash, zsh or fish), generated from the parser itself so that it
// names every command and option that exists, and nothing else.
std::string completion_script(CLI::App& app, std::string_view shell);

}  // namespace kf::cli
