#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "core/error.hpp"
#include "inventory/selection.hpp"

namespace kf::cli {

// --inventory, --limit, --exclude and --ssh-config, for every command that works on nodes.
struct InventoryOptions {
  std::string inventory;
  std::string limit;
  std::string exclude;
  std::string ssh_config;  // empty: ~/.ssh/config when it exists; "none": none
};

void add_inventory_options(CLI::App& sub, InventoryOptions& options);

// The inventory, read with the ssh_config the options name, and the nodes they select.
Result<Selection> load_selection(const InventoryOptions& options, Inventory* inventory = nullptr);

}  // namespace kf::cli
