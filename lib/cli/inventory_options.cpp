#include "cli/inventory_options.hpp"

namespace kf::cli {

void add_inventory_options(CLI::App& sub, InventoryOptions& options) {
  sub.add_option("--inventory", options.inventory,
                 "The fleet's inventory: keyfleet TOML, or an Ansible INI or YAML inventory")
      ->required()
      ->type_name("FILE");
  sub.add_option("--limit", options.limit,
                 "Only these nodes: comma-separated names, globs (web*), ranges (node[01-10]), "
                 "@GROUP; !PATTERN leaves out")
      ->type_name("PATTERNS");
  sub.add_option("--exclude", options.exclude,
                 "Leave out these nodes (the same patterns as --limit)")
      ->type_name("PATTERNS");
  sub.add_option("--ssh-config", options.ssh_config,
                 "Read HostName, Port, User, IdentityFile, ProxyJump and ConnectTimeout for Host "
                 "aliases from FILE (default: ~/.ssh/config when it exists; 'none': no file)")
      ->type_name("FILE");
}

Result<Selection> load_selection(const InventoryOptions& options, Inventory* inventory) {
  LoadOptions load;
  if (!options.ssh_config.empty()) load.ssh_config = options.ssh_config;
  KF_TRY_ASSIGN(Inventory loaded, load_inventory(options.inventory, load));
  KF_TRY_ASSIGN(Selection selection, select_nodes(loaded, options.limit, options.exclude));
  if (inventory) *inventory = std::move(loaded);
  return selection;
}

}  // namespace kf::cli
