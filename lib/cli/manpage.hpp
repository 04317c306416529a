#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace kf::cli {

// A roff man page for keyfleet (`sub` null) or one of its commands, generated from the parser so
// the page always lists exactly the options that exist, with their help and defaults.
std::string man_page(CLI::App& app, const CLI::App* sub);

}  // namespace kf::cli
