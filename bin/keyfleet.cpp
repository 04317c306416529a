// keyfleet: rotate the TLS key material of a cluster's agents.
#include <exception>
#include <iostream>

#include "cli/command.hpp"

int main(int argc, char** argv) {
  try {
    return kf::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "keyfleet: error: internal error: " << e.what() << '\n';
    return 1;
  }
}
