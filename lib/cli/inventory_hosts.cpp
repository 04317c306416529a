#include "cli/inventory_hosts.hpp"

#include "inventory/inventory.hpp"

namespace kf::cli {

Result<std::vector<std::string>> add_inventory_hosts(std::vector<std::string> hosts,
                                                     const boost::filesystem::path& inventory) {
  if (inventory.empty()) return hosts;
  KF_TRY_ASSIGN(auto loaded, load_inventory(inventory));
  auto names = certificate_hosts(loaded);
  hosts.insert(hosts.end(), names.begin(), names.end());
  return hosts;
}

}  // namespace kf::cli
