#pragma once

#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace kf::cli {

// What a command prints on standard output. For people: text, as the command goes. With --json:
// exactly one document, printed by app.cpp whatever happens -- success, an error before any work,
// a usage error, a second Ctrl-C (docs/json.md):
//   {"command", "exit_code", "error": null or {"message"}, ...the command's own fields}
// The command's fields start as its skeleton (every field null; a fleet command's report empty)
// and the command sets them as it learns them, so that a document has the same keys however far
// the command got. Commands never print to std::cout themselves. Until the document is printed, a
// second Ctrl-C prints the skeleton's, with exit_code 130 (core/interrupt.hpp).
class Output {
 public:
  // `command`: "push", "inventory show"; empty for an unknown command (null in the document).
  Output(std::string command, bool json, nlohmann::ordered_json skeleton);
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  ~Output();

  [[nodiscard]] const std::string& command() const { return command_; }
  [[nodiscard]] bool json() const { return json_; }
  // The command's own fields, in document order.
  [[nodiscard]] nlohmann::ordered_json& fields() { return fields_; }
  // Sets each of `fields`' members, keeping the document's order of those already there.
  void set(const nlohmann::ordered_json& fields);
  // Text for people: std::cout, or with --json a stream that drops everything.
  [[nodiscard]] std::ostream& text() { return json_ ? discard_ : std::cout; }

  [[nodiscard]] nlohmann::ordered_json document(int exit_code, const Error* error) const;
  // With --json prints the document; flushes standard output either way. Only the first call
  // prints: the document of a command is one.
  void finish(int exit_code, const Error* error);

 private:
  std::string command_;
  bool json_;
  nlohmann::ordered_json fields_;
  std::ostream discard_{nullptr};
  bool finished_ = false;
};

// `--json` on the command line before any "--": the parser may not have got as far as the flag.
[[nodiscard]] bool json_requested(int argc, const char* const* argv);

// The host-key notes of this run not printed yet (ssh/ssh_session.hpp, HostKeyNotes), each as a
// "keyfleet: warning:" line on stderr: before a question, and when the command's output is done.
void print_host_key_notes();

}  // namespace kf::cli
