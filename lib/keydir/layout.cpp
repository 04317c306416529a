#include "keydir/layout.hpp"

#include "keydir/remote.hpp"

namespace kf::keydir {

KeyDir::KeyDir(std::string dest)
    : dest_(std::move(dest)),
      generations_(join_path(dest_, kGenerationsDir)),
      current_(join_path(dest_, kCurrentLink)),
      lock_(join_path(dest_, kLockFile)),
      pending_(join_path(dest_, kPendingFile)) {}

std::string KeyDir::history() const {
  return join_path(dest_, kHistoryFile);
}

std::string KeyDir::generation(std::uint64_t number) const {
  return join_path(generations_, generation_name(number));
}

std::string KeyDir::generation_entry(std::string_view name) const {
  return join_path(generations_, name);
}

std::string KeyDir::link_target(std::uint64_t number) {
  return link_target_of(generation_name(number));
}

std::string KeyDir::link_target_of(std::string_view entry_name) {
  return std::string(kGenerationsDir) + "/" + std::string(entry_name);
}

std::optional<std::uint64_t> KeyDir::generation_of_target(std::string_view target) {
  std::string prefix = std::string(kGenerationsDir) + "/";
  if (!target.starts_with(prefix)) return std::nullopt;
  return parse_generation_name(target.substr(prefix.size()));
}

}  // namespace kf::keydir
