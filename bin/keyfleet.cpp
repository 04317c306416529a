// keyfleet: rotate the TLS key material of a cluster's agents.
#include <exception>
#include <iostream>

#include "cli/audit.hpp"
#include "cli/command.hpp"

int main(int argc, char** argv) {
  try {
    return kf::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "keyfleet: error: internal error: " << e.what() << '\n';
    // A run that changed nodes before it threw is still on the record.
    kf::cli::audit_after_throw(std::string("internal error: ") + e.what());
    return 1;
  }
}
