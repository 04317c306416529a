#pragma once

#include <string>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"

namespace kf::cli {

// `hosts` followed by every name the inventory at `inventory` gives the certificate (each node's
// host, then its sans): what `create-keys --inventory` puts in the agent certificate. Just `hosts`
// when `inventory` is empty. Inventory errors keep their exit code and name the file and line.
Result<std::vector<std::string>> add_inventory_hosts(std::vector<std::string> hosts,
                                                     const boost::filesystem::path& inventory);

}  // namespace kf::cli
