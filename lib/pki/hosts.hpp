#pragma once

#include <span>
#include <string>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"

namespace kf {

// Validates every host (RFC 1123 name or IP literal; a bad one is a usage error naming it) and
// drops repeats, keeping the first spelling and the order given. Repeats are expected, not
// mistakes: an inventory's node names and their sans overlap, and --host/--hosts combine with it.
// DNS names compare case-insensitively and addresses by value ("::1" and "0::1" are one SAN).
Result<std::vector<std::string>> normalize_hosts(std::span<const std::string> hosts);

// `hosts` followed by every name the inventory at `inventory` gives the certificate (each node's
// host, then its sans); just `hosts` when `inventory` is empty. Inventory errors keep their exit
// code and name the file and line.
Result<std::vector<std::string>> add_inventory_hosts(std::vector<std::string> hosts,
                                                     const boost::filesystem::path& inventory);

}  // namespace kf
