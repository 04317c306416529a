#pragma once

#include <string>

namespace kf {

// Ctrl-C handling: the first SIGINT/SIGTERM sets a flag that long operations poll so that they stop
// starting new work, finish or roll back what is running, and report (exit 130). A second one
// ends the process at once: by the signal, or with exit 130 after writing the interrupt document
// if one is set -- unless a SecondInterruptHandled is alive, whose holder then ends the process
// itself, after printing what it has (a third one ends it at once all the same).
void install_interrupt_handler();
bool interrupted();
// How many interrupts arrived since the handler was installed (or cleared).
int interrupt_count();
void clear_interrupted();  // for tests

// What a second interrupt writes before it ends the process with 130: `document` on standard
// output and `error` on standard error (--json's document of a command stopped before it had
// anything to report). Set before the command runs; cleared once the command printed its own.
void set_interrupt_document(std::string document, std::string error);
void clear_interrupt_document();

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
