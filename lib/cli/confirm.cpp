#include "cli/confirm.hpp"

#include <unistd.h>

#include <iostream>
#include <string>

#include "cli/output.hpp"
#include "core/interrupt.hpp"

namespace kf::cli {

Result<void> confirm_or_refuse(std::string_view command, std::string_view question, bool yes) {
  if (yes) return {};
  if (!can_ask()) {
    return fail(ExitCode::refused,
                "{}: confirmation needed and there is no terminal to ask on: pass --yes ({})",
                command, question);
  }
  print_host_key_notes();  // what the operator should know before saying yes
  std::cerr << question << " [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  if (interrupted()) {
    std::cerr << '\n';  // the question's line was left open
    return fail(ExitCode::interrupted, "{}: interrupted at the question; nothing was done",
                command);
  }
  if (answer == "y" || answer == "Y" || answer == "yes" || answer == "YES") return {};
  return fail(ExitCode::refused, "{}: not confirmed; nothing was done", command);
}

bool can_ask() {
  return ::isatty(STDIN_FILENO) == 1 && ::isatty(STDERR_FILENO) == 1;
}

}  // namespace kf::cli
