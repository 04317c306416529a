#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli/inventory_options.hpp"
#include "core/error.hpp"
#include "fleet/node_report.hpp"
#include "fleet/run.hpp"
#include "inventory/selection.hpp"

namespace kf::cli {

// The options every fleet command shares (--inventory, --limit, --exclude, --ssh-config,
// --parallel, --json, and --yes for those that change nodes), declared once, as
// bundle_key_options.hpp is for the bundle's key.
struct FleetOptions {
  InventoryOptions inventory;
  std::size_t parallel = 32;
  bool json = false;
  bool yes = false;

  // `confirms`: the command changes nodes and asks first (--yes).
  void add_to(CLI::App& sub, bool confirms);
  // The inventory's nodes that --limit and --exclude select; its warnings go to stderr.
  [[nodiscard]] Result<Selection> load() const;
  // The scheduler and connection settings, with the live progress line on stderr.
  [[nodiscard]] FleetRunOptions run_options(ProgressLine& progress) const;
};

}  // namespace kf::cli
