#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace kf::cli {

// A roff man page for keyfleet (`sub` null) or one of its commands, generated from the parser so
// the page always lists exactly the options that exist, with their help and defaults.
// A nested command (`inventory show`) gets its own page, keyfleet-inventory-show(1).
std::string man_page(CLI::App& app, const CLI::App* sub);

// "keyfleet-push", "keyfleet-inventory-show": the page's name, without the section.
std::string man_page_name(const CLI::App& sub);

}  // namespace kf::cli
