#pragma once

// Internal to the inventory layer: the keys of [defaults] and [[node]] (and of Ansible's
// keyfleet_* variables), and how each is checked and stored.

#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "inventory/inventory.hpp"
#include "inventory/value.hpp"

namespace kf::inventory {

struct Field {
  std::string_view key;
  bool node_only;
  Result<void> (*apply)(const Value& value, std::string_view key, const Where& where,
                        NodeConfig& node);
};

const Field* find_field(std::string_view key);

// Every key, in documentation order; `in_defaults` leaves out the node-only ones.
std::vector<std::string_view> field_names(bool in_defaults);

// Checks `value` for `field` and stores it in `draft`, remembering where it was set. Messages call
// it `written` when given (an Ansible variable: "keyfleet_port", "ansible_port").
Result<void> apply_field(const Field& field, const Value& value, const Where& where, Draft& draft,
                         std::string_view written = {});

// The "unknown key" message with a "did you mean" or the list of allowed keys.
[[nodiscard]] std::unexpected<Error> fail_unknown_key(const Where& where, const Value& value,
                                                      std::string_view key, bool in_defaults);

// Names show up in terminals, JSON, log lines and file names: 1-253 letters, digits, '.', '_',
// ':' or '-', starting with a letter or digit.
bool valid_name(std::string_view name);
Result<std::string> node_name(const Value& value, const Where& where);

// `text` without control characters (a hook may hold newlines and tabs), or why not.
Result<void> check_plain(std::string_view text, bool multiline);

// A DNS name, an address or an ssh_config Host alias: no spaces, quotes or shell characters.
bool plausible_host(std::string_view host);

// "user@host:port,..." (as OpenSSH's ProxyJump: [user@]host[:port], [user@][v6]:port or
// ssh://[user@]host[:port]); "none" gives no hop. Hosts are aliases until resolved.
Result<std::vector<JumpHost>> parse_jump(std::string_view text);

// Lexical: "/a//b/" -> "/a/b". Refuses relative paths, "~", "." and "..", and "/" itself; the
// error is the reason alone.
Result<std::string> normalize_remote_path(std::string_view text);

}  // namespace kf::inventory
