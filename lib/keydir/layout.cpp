#include "keydir/layout.hpp"

#include <algorithm>

#include "core/time.hpp"
#include "keydir/remote.hpp"

namespace kf::keydir {

KeyDir::KeyDir(std::string dest, DestLayout layout, std::vector<PathPattern> runtime)
    : dest_(std::move(dest)), layout_(layout), runtime_(std::move(runtime)) {
  if (layout_ == DestLayout::link) {
    home_ = dest_ + std::string(kLinkHomeSuffix);
    generations_ = home_;
    current_ = dest_;
    link_dir_ = parent_path(dest_);
    const std::string_view name = std::string_view(dest_).substr(dest_.find_last_of('/') + 1);
    link_prefix_ = std::string(name) + std::string(kLinkHomeSuffix) + "/";
  } else {
    home_ = dest_;
    generations_ = join_path(dest_, kGenerationsDir);
    current_ = join_path(dest_, kCurrentLink);
    link_dir_ = dest_;
    link_prefix_ = std::string(kGenerationsDir) + "/";
  }
  lock_ = join_path(home_, kLockFile);
  pending_ = join_path(home_, kPendingFile);
}

KeyDir KeyDir::of(const NodeConfig& node) {
  return KeyDir(node.dest, node.layout, node.runtime_files);
}

std::string KeyDir::history() const {
  return join_path(home_, kHistoryFile);
}

std::string KeyDir::generation(std::uint64_t number) const {
  return join_path(generations_, generation_name(number));
}

std::string KeyDir::generation_entry(std::string_view name) const {
  return join_path(generations_, name);
}

std::string KeyDir::link_temp(std::string_view name) const {
  return join_path(home_, name);
}

std::string KeyDir::adopted_path(std::int64_t unix_time) const {
  std::string stamp = rfc3339_utc(static_cast<std::time_t>(unix_time));
  std::erase_if(stamp, [](char c) { return c == '-' || c == ':'; });
  return join_path(home_, std::string(kAdoptedPrefix) + stamp);
}

std::string KeyDir::link_target(std::uint64_t number) const {
  return link_target_of(generation_name(number));
}

std::string KeyDir::link_target_of(std::string_view entry_name) const {
  return link_prefix_ + std::string(entry_name);
}

std::optional<std::uint64_t> KeyDir::generation_of_target(std::string_view target) const {
  if (!target.starts_with(link_prefix_)) return std::nullopt;
  return parse_generation_name(target.substr(link_prefix_.size()));
}

std::string KeyDir::resolve_target(std::string_view target) const {
  return lexically_normal(target.starts_with('/') ? std::string(target)
                                                  : join_path(link_dir_, target));
}

bool KeyDir::names_generations(std::string_view target) const {
  const std::string path = resolve_target(target);
  return path == generations_ ||
         (path.starts_with(generations_) && path[generations_.size()] == '/');
}

EntryKind KeyDir::classify(std::string_view name, bool is_directory, bool is_symlink) const {
  if (is_directory && parse_generation_name(name)) return EntryKind::generation;
  if (name.starts_with(kTempPrefix)) return EntryKind::temp;
  if (home_ != generations_) return EntryKind::other;
  if (name.starts_with(kLinkTempPrefix) && is_symlink) return EntryKind::link_temp;
  if (name == kLockFile) return EntryKind::lock;
  if (name == kPendingFile) return EntryKind::pending;
  if (name == kHistoryFile) return EntryKind::history;
  if (name.starts_with(kAdoptedPrefix) && name.size() > kAdoptedPrefix.size()) {
    return EntryKind::adopted;
  }
  return EntryKind::other;
}

bool KeyDir::is_runtime(std::string_view path, bool is_directory) const {
  return excluded(runtime_, path, is_directory);
}

std::string lexically_normal(std::string_view path) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0; start <= path.size();) {
    std::size_t end = std::min(path.find('/', start), path.size());
    std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string out;
  for (auto part : parts) {
    out += '/';
    out += part;
  }
  return out.empty() ? "/" : out;
}

}  // namespace kf::keydir
