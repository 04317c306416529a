#pragma once

// Internal to the inventory layer: each format's reader turns a file into drafts (every key the
// file sets, checked, with its line); finish_inventory then applies the ssh_config, the defaults
// that depend on other keys and the checks across keys and nodes.

#include <optional>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "inventory/inventory.hpp"
#include "inventory/value.hpp"

namespace kf::inventory {

class SshConfig;

Result<std::vector<Draft>> read_toml(std::string_view text, std::string_view origin,
                                     const boost::filesystem::path& base_dir);
Result<std::vector<Draft>> read_ansible_ini(std::string_view text, std::string_view origin,
                                            const boost::filesystem::path& base_dir);
Result<std::vector<Draft>> read_ansible_yaml(std::string_view text, std::string_view origin,
                                             const boost::filesystem::path& base_dir);

// .toml, .ini, .yml/.yaml; otherwise by the content (the first line that says something).
InventoryFormat detect_format(const boost::filesystem::path& name, std::string_view text);

// The byte offset of the first byte that is not valid UTF-8 (overlong forms and surrogates
// included), if any; and the 1-based line of an offset.
std::optional<std::size_t> invalid_utf8_at(std::string_view text);
unsigned line_at(std::string_view text, std::size_t offset);

// The user running keyfleet (password database), for %u and jump hosts without a user.
std::string local_user_name();

// `config` may be null (no ssh_config read).
Result<std::vector<NodeConfig>> finish_nodes(std::vector<Draft> drafts, std::string_view origin,
                                             const SshConfig* config);

}  // namespace kf::inventory
