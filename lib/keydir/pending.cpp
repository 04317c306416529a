#include "keydir/pending.hpp"

#include <nlohmann/json.hpp>

#include "core/secret.hpp"

namespace kf::keydir {

std::string serialize(const PendingHooks& pending) {
  nlohmann::ordered_json j{
      {"generation", pending.generation}, {"hooks", pending.hooks}, {"command", pending.command}};
  return j.dump() + "\n";
}

std::optional<PendingHooks> parse_pending(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto generation = j.find("generation");
  auto hooks = j.find("hooks");
  auto command = j.find("command");
  if (generation == j.end() || !generation->is_number_unsigned() || hooks == j.end() ||
      !hooks->is_array() || command == j.end() || !command->is_string()) {
    return std::nullopt;
  }
  PendingHooks out;
  out.generation = generation->get<std::uint64_t>();
  out.command = command->get<std::string>();
  for (const auto& hook : *hooks) {
    if (!hook.is_string()) return std::nullopt;
    std::string name = hook.get<std::string>();
    if (name != "post" && name != "check") return std::nullopt;
    out.hooks.push_back(std::move(name));
  }
  return out;
}

NodeResult<void> write_pending(Remote& remote, const KeyDir& dir, const PendingHooks& pending,
                               const std::string& step) {
  auto write = [&]() -> NodeResult<void> {
    KF_CHECK(clear_pending(remote, dir, step));
    const std::string text = serialize(pending);
    KF_CHECK(remote.upload(dir.pending(), as_bytes(text), 0600));
    return remote.fsync_dir(dir.home());
  };
  if (auto written = write(); !written) return std::unexpected(at_step(written.error(), step));
  return {};
}

NodeResult<void> clear_pending(Remote& remote, const KeyDir& dir, const std::string& step) {
  auto gone = [&]() -> NodeResult<void> {
    KF_TRY_ASSIGN(auto st, remote.lstat(dir.pending()));
    if (!st) return {};
    KF_CHECK(remote.unlink(dir.pending()));
    return remote.fsync_dir(dir.home());
  };
  if (auto cleared = gone(); !cleared) return std::unexpected(at_step(cleared.error(), step));
  return {};
}

}  // namespace kf::keydir
