#pragma once

namespace kf {

// Ctrl-C handling: the first SIGINT/SIGTERM sets a flag that long operations poll so that they stop
// starting new work, finish or roll back what is running, and report (exit 130). A second one
// ends the process at once, by the signal -- unless a SecondInterruptHandled is alive, whose
// holder then ends the process itself, after printing what it has (a third one ends it at once
// all the same).
void install_interrupt_handler();
bool interrupted();
// How many interrupts arrived since the handler was installed (or cleared).
int interrupt_count();
void clear_interrupted();  // for tests

// While one lives, a second interrupt only counts: the holder polls interrupt_count() and ends the
// process itself. For the fleet scheduler, which prints the report so far before it exits.
class SecondInterruptHandled {
 public:
  SecondInterruptHandled();
  SecondInterruptHandled(const SecondInterruptHandled&) = delete;
  SecondInterruptHandled& operator=(const SecondInterruptHandled&) = delete;
  ~SecondInterruptHandled();
};

}  // namespace kf
