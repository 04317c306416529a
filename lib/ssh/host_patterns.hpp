#pragma once

#include <optional>
#include <string>
#include <string_view>

// Host name matching as OpenSSH's match.c and hostfile.c do it, for known_hosts.
namespace kf::host_patterns {

// ASCII lowercase: how OpenSSH compares host names.
std::string lowercase(std::string_view s);

// One pattern: `*` any run, `?` any one character, nothing else special; case-sensitive.
bool match_pattern(std::string_view s, std::string_view pattern);

enum class Match { no, yes, negated };

// A comma-separated list whose patterns may start with `!` (match_hostname): `negated` as soon
// as a negated pattern matches, whatever else does. `name` is lowercase; patterns are compared
// lowercased. A pattern longer than OpenSSH's 1022 characters makes the whole list not match.
Match match_list(std::string_view name, std::string_view list);

// A hashed name `|1|salt|hash`: does HMAC-SHA1(salt, name) give `hash`? nullopt for a field
// OpenSSH cannot read as a hash (its line is skipped), and when HMAC-SHA1 fails, with OpenSSL's
// words in `hmac_error`.
std::optional<bool> match_hashed(std::string_view name, std::string_view field,
                                 std::string& hmac_error);

}  // namespace kf::host_patterns
