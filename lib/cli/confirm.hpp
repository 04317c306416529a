#pragma once

#include <string_view>

#include "core/error.hpp"

namespace kf::cli {

// Asks on the terminal "<question> [y/N]" unless `yes`; without a terminal (stdin and stderr)
// and without `yes` it is refused (exit 4) with a hint to pass --yes. A "no" is refused too.
Result<void> confirm_or_refuse(std::string_view command, std::string_view question, bool yes);

// Whether confirm_or_refuse could ask: stdin and stderr are a terminal.
bool can_ask();

}  // namespace kf::cli
