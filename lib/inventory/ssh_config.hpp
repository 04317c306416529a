#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"

namespace kf::inventory {

// One value an ssh_config gives, and the line that gave it ("/home/op/.ssh/config:12").
struct SshSetting {
  std::string value;
  std::string origin;
};

// What an ssh_config says about one host: the first value obtained for each keyword keyfleet
// reads (OpenSSH's rule), tokens not yet expanded. Port is a number, ConnectTimeout seconds or
// "none", ProxyJump as written (checked).
struct SshHost {
  std::optional<SshSetting> hostname, port, user, identity_file, proxy_jump, connect_timeout;
};

// The subset of OpenSSH's client configuration (readconf.c) that says where a host is and how to
// log in: HostName, Port, User, IdentityFile, ProxyJump and ConnectTimeout, under Host blocks
// (patterns with '*', '?' and '!' negation, several per line), with Include (globs, relative to
// ~/.ssh), case-insensitive keywords, "Key Value" and "Key=Value", quoted arguments. Every other
// keyword is ignored, host key checking options above all: keyfleet's checking is not
// configurable. A Match block is not supported: a warning names its line and its options are not
// applied.
class SshConfig {
 public:
  using Warn = std::function<void(std::string_view)>;

  // Reads `file` and what it includes. `is_default` (~/.ssh/config) also refuses a file that
  // others may write, as OpenSSH does; included files are always checked so.
  static Result<SshConfig> load(const boost::filesystem::path& file, bool is_default,
                                const Warn& warn);

  // `host` as the inventory wrote it (matched case-sensitively, as OpenSSH matches its argument).
  [[nodiscard]] SshHost lookup(std::string_view host) const;

  [[nodiscard]] const std::string& path() const { return path_; }

  struct File;  // the parsed entries of one file and of those it includes

 private:
  std::string path_;
  std::shared_ptr<const File> root_;
};

// OpenSSH's match_pattern: '*' any run of characters, '?' one character, case-sensitive.
bool ssh_pattern_match(std::string_view text, std::string_view pattern);

// OpenSSH's convtime: "90", "90s", "1m30s", "2h"; nullopt when invalid.
std::optional<long long> ssh_convtime(std::string_view text);

// Expands %h %p %r %n %d %u and %% in `text` (HostName: %h alone); an unknown token is an error.
struct SshTokens {
  std::string host;        // %h
  std::string port;        // %p
  std::string user;        // %r
  std::string alias;       // %n
  std::string home;        // %d
  std::string local_user;  // %u
};
Result<std::string> ssh_expand_tokens(std::string_view text, const SshTokens& tokens,
                                      std::string_view allowed);

}  // namespace kf::inventory
