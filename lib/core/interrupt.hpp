#pragma once

namespace kf {

// Ctrl-C handling: the first SIGINT/SIGTERM sets a flag that long operations poll so that they stop
// starting new work, finish or roll back what is running, and report (exit 130). A second one
// ends the process at once.
void install_interrupt_handler();
bool interrupted();
void clear_interrupted();  // for tests

}  // namespace kf
