#include <vector>

#include "cli/command.hpp"
#include "cli/commands.hpp"

namespace kf::cli {

std::span<const Command> commands() {
  static const std::vector<Command> table = {
      // Add new commands here, in the order an operator uses them.
      {"create-keys", "Create a key set: CA, agent certificate, PKCS#12 stores", setup_create_keys},
  };
  return table;
}

}  // namespace kf::cli
