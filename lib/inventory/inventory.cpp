#include "inventory/inventory.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <set>

#include <boost/filesystem/operations.hpp>

#include "core/fd.hpp"
#include "inventory/readers.hpp"
#include "inventory/ssh_config.hpp"

namespace kf {

namespace fs = boost::filesystem;

namespace {

// Far beyond any real fleet (a node takes a few hundred bytes), small enough to hold in memory.
constexpr std::size_t kMaxInventorySize = std::size_t{16} << 20;

std::string lowercase(std::string text) {
  std::ranges::transform(text, text.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return text;
}

Result<std::string> read_inventory_file(const fs::path& path) {
  auto what = fmt::format("cannot read inventory {}", path.string());
  // Not O_NOFOLLOW: inventories are often symlinks into configuration management; pipes such as
  // <(generate-inventory) work too.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(ExitCode::usage, what);
  std::string text;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(ExitCode::usage, what);
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxInventorySize) {
      return fail(ExitCode::usage, "{}: larger than the limit of {} bytes", what,
                  kMaxInventorySize);
    }
  }
  return text;
}

const passwd* password_entry(passwd& entry, std::vector<char>& buffer) {
  passwd* found = nullptr;
  buffer.resize(16384);
  if (::getpwuid_r(::getuid(), &entry, buffer.data(), buffer.size(), &found) != 0) return nullptr;
  return found;
}

std::string home_directory() {
  if (const char* home = std::getenv("HOME"); home && *home) return home;
  passwd entry{};
  std::vector<char> buffer;
  if (const passwd* found = password_entry(entry, buffer); found && found->pw_dir) {
    return found->pw_dir;
  }
  return {};
}

// nullopt in the options: ~/.ssh/config when there is one. A file the operator named must exist.
Result<std::optional<inventory::SshConfig>> load_ssh_config(
    const LoadOptions& options, const inventory::SshConfig::Warn& warn) {
  if (options.ssh_config && *options.ssh_config == "none") return std::nullopt;
  if (options.ssh_config) {
    KF_TRY_ASSIGN(auto config, inventory::SshConfig::load(*options.ssh_config, false, warn));
    return config;
  }
  std::string home = home_directory();
  if (home.empty()) return std::nullopt;
  fs::path file = fs::path(home) / ".ssh" / "config";
  boost::system::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  KF_TRY_ASSIGN(auto config, inventory::SshConfig::load(file, true, warn));
  return config;
}

Result<Inventory> parse_with(std::string_view text, std::string_view origin,
                             const fs::path& base_dir, const LoadOptions& options,
                             bool read_ssh_config) {
  Inventory inventory{std::string(origin), InventoryFormat::toml, {}, {}, {}};
  auto warn = [&](std::string_view message) {
    inventory.warnings.emplace_back(message);
    if (options.warn) {
      options.warn(message);
    } else {
      std::cerr << "keyfleet: warning: " << message << '\n';
    }
  };
  if (auto bad = inventory::invalid_utf8_at(text)) {
    return fail(ExitCode::usage,
                "{}:{}: invalid UTF-8 (byte 0x{:02x}): the inventory must be UTF-8", origin,
                inventory::line_at(text, *bad), static_cast<unsigned char>(text[*bad]));
  }
  inventory.format =
      options.format.value_or(inventory::detect_format(fs::path(std::string(origin)), text));
  std::vector<inventory::Draft> drafts;
  switch (inventory.format) {
    case InventoryFormat::toml: {
      KF_TRY_ASSIGN(drafts, inventory::read_toml(text, origin, base_dir));
      break;
    }
    case InventoryFormat::ansible_ini: {
      KF_TRY_ASSIGN(drafts, inventory::read_ansible_ini(text, origin, base_dir));
      break;
    }
    case InventoryFormat::ansible_yaml: {
      KF_TRY_ASSIGN(drafts, inventory::read_ansible_yaml(text, origin, base_dir));
      break;
    }
  }
  std::optional<inventory::SshConfig> config;
  if (read_ssh_config) {
    KF_TRY_ASSIGN(config, load_ssh_config(options, warn));
  }
  if (config) inventory.ssh_config = config->path();
  KF_TRY_ASSIGN(inventory.nodes,
                inventory::finish_nodes(std::move(drafts), origin, config ? &*config : nullptr));
  return inventory;
}

}  // namespace

namespace inventory {

std::string local_user_name() {
  passwd entry{};
  std::vector<char> buffer;
  if (const passwd* found = password_entry(entry, buffer); found && found->pw_name) {
    return found->pw_name;
  }
  if (const char* user = std::getenv("USER"); user && *user) return user;
  return "root";
}

}  // namespace inventory

std::string_view to_string(DestLayout layout) {
  return layout == DestLayout::link ? "link" : "generations";
}

std::string expand_tilde(std::string_view path) {
  if (path != "~" && !path.starts_with("~/")) return std::string(path);
  std::string home = home_directory();
  if (home.empty()) return std::string(path);
  while (home.size() > 1 && home.ends_with('/')) home.pop_back();
  std::string_view rest = path.substr(1);  // "" or "/..."
  if (home == "/" && !rest.empty()) return std::string(rest);
  return home + std::string(rest);
}

Result<Inventory> parse_inventory(std::string_view text, std::string_view origin,
                                  const fs::path& base_dir) {
  return parse_with(text, origin, base_dir, LoadOptions{}, false);
}

Result<Inventory> parse_inventory(std::string_view text, std::string_view origin,
                                  const fs::path& base_dir, const LoadOptions& options) {
  return parse_with(text, origin, base_dir, options, true);
}

Result<Inventory> load_inventory(const fs::path& path, const LoadOptions& options) {
  KF_TRY_ASSIGN(std::string text, read_inventory_file(path));
  fs::path base = path.parent_path();
  if (base.is_relative()) {
    boost::system::error_code ec;
    fs::path cwd = fs::current_path(ec);
    if (!ec) base = base.empty() ? cwd : cwd / base;
  }
  return parse_inventory(text, path.string(), base, options);
}

std::vector<std::string> certificate_hosts(const Inventory& inventory) {
  std::vector<std::string> hosts;
  std::set<std::string> seen;
  auto add = [&](const std::string& host) {
    if (seen.insert(lowercase(host)).second) hosts.push_back(host);
  };
  for (const NodeConfig& node : inventory.nodes) {
    add(node.host);
    std::ranges::for_each(node.sans, add);
  }
  return hosts;
}

}  // namespace kf
