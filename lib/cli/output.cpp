#include "cli/output.hpp"

#include <iostream>
#include <string_view>

#include <fmt/format.h>

#include "core/interrupt.hpp"
#include "ssh/ssh_session.hpp"

namespace kf::cli {

namespace {

constexpr std::string_view kInterrupted = "interrupted (Ctrl-C)";

std::string dump(const nlohmann::ordered_json& doc) {
  // Node errors may carry any bytes: replaced, never an exception that loses the document.
  return doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + '\n';
}

}  // namespace

Output::Output(std::string command, bool json, nlohmann::ordered_json skeleton)
    : command_(std::move(command)), json_(json), fields_(std::move(skeleton)) {
  if (!fields_.is_object()) fields_ = nlohmann::ordered_json::object();
  if (json_) {
    // A second Ctrl-C before the command has a report of its own still gets its one document.
    Error error{ExitCode::interrupted, std::string(kInterrupted)};
    nlohmann::ordered_json doc = document(to_int(ExitCode::interrupted), &error);
    if (doc.contains("interrupted")) doc["interrupted"] = true;
    set_interrupt_document(dump(doc), fmt::format("\nkeyfleet: error: {}\n", kInterrupted));
  }
}

Output::~Output() {
  if (json_ && !finished_) clear_interrupt_document();
}

void Output::set(const nlohmann::ordered_json& fields) {
  for (const auto& [key, value] : fields.items()) fields_[key] = value;
}

nlohmann::ordered_json Output::document(int exit_code, const Error* error) const {
  nlohmann::ordered_json doc = {
      {"command",
       command_.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(command_)},
      {"exit_code", exit_code},
      {"error", error == nullptr ? nlohmann::ordered_json(nullptr)
                                 : nlohmann::ordered_json{{"message", error->message}}},
  };
  for (const auto& [key, value] : fields_.items()) doc[key] = value;
  return doc;
}

void Output::finish(int exit_code, const Error* error) {
  if (json_ && !finished_) {
    clear_interrupt_document();
    std::cout << dump(document(exit_code, error));
  }
  finished_ = true;
  std::cout.flush();
  print_host_key_notes();
}

bool json_requested(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") return false;
    if (arg == "--json") return true;
  }
  return false;
}

void print_host_key_notes() {
  for (const std::string& note : command_host_key_notes().take()) {
    std::cerr << "keyfleet: warning: " << note << '\n';
  }
}

}  // namespace kf::cli
