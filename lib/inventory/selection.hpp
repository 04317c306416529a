#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "inventory/inventory.hpp"

namespace kf {

// The nodes a command works on, in inventory order, and how many the inventory has.
struct Selection {
  std::vector<NodeConfig> nodes;
  std::size_t total = 0;
};

// --limit and --exclude: comma-separated patterns, each matched against node names:
//   web1          a name
//   web*  w?b1    a glob (fnmatch: '*', '?', '[...]')
//   node[1-5,8]   a range, as pdsh and ClusterShell write it; node[01-10] keeps the zero padding,
//                 rack[1-2]-n[1-3] expands both
//   @db  @dc*     the nodes of a group (inventory `groups`, Ansible groups); globs allowed
//   !web3         in --limit only: leave out what it matches (as --exclude web3)
// An empty --limit selects every node. A pattern that matches no node is a usage error naming it
// (a mistyped --exclude must not quietly leave the node in), as is a selection left empty.
Result<Selection> select_nodes(const Inventory& inventory, std::string_view limit,
                               std::string_view exclude);

// The ranges of one pattern expanded: "node[01-03]" -> node01 node02 node03. A bracket that is
// not a list of numbers and number ranges ("[ab]") is left for fnmatch.
Result<std::vector<std::string>> expand_node_ranges(std::string_view pattern);

}  // namespace kf
