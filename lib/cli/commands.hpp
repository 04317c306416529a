#pragma once

#include "cli/command.hpp"

// One setup function per command; each lives in its own cli/cmd_<name>.cpp.
namespace kf::cli {

}  // namespace kf::cli
