#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "core/error.hpp"
#include "fleet/node_report.hpp"
#include "fleet/run.hpp"
#include "inventory/inventory.hpp"

namespace kf::cli {

// The options every fleet command shares (--inventory, --parallel, --json, and --yes for those
// that change nodes), declared once, as passphrase_options.hpp is for the bundle's key.
struct FleetOptions {
  std::string inventory;
  std::size_t parallel = 32;
  bool json = false;
  bool yes = false;

  // `confirms`: the command changes nodes and asks first (--yes).
  void add_to(CLI::App& sub, bool confirms);
  [[nodiscard]] Result<Inventory> load() const;
  // The scheduler and connection settings, with the live progress line on stderr.
  [[nodiscard]] FleetRunOptions run_options(ProgressLine& progress) const;
};

}  // namespace kf::cli
