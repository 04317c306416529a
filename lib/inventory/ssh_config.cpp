// A reading of OpenSSH's client configuration that follows readconf.c for the lines it reads.
#include "inventory/ssh_config.hpp"

#include <fcntl.h>
#include <glob.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/fd.hpp"
#include "inventory/inventory.hpp"
#include "inventory/inventory_schema.hpp"
#include "inventory/readers.hpp"

namespace kf::inventory {

namespace fs = boost::filesystem;

namespace {

struct Entry {
  enum class Kind { host, match, include, option };
  Kind kind = Kind::option;
  std::string keyword;            // option: lower case
  std::vector<std::string> args;  // host: patterns; option: its one value
  std::vector<std::shared_ptr<const SshConfig::File>> included;
  std::string origin;  // FILE:LINE
};

}  // namespace

struct SshConfig::File {
  std::vector<Entry> entries;
};

namespace {

// As readconf.c: a config may include itself through a glob, so the depth is bounded.
constexpr int kMaxDepth = 16;
constexpr std::size_t kMaxSize = std::size_t{4} << 20;

constexpr std::string_view kRead[] = {"hostname",     "port",      "user",
                                      "identityfile", "proxyjump", "connecttimeout"};

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

// misc.c argv_split with comments ending the line: quotes group, backslash escapes a quote, a
// backslash or (outside quotes) a space.
Result<std::vector<std::string>> split_args(std::string_view s) {
  std::vector<std::string> args;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ' || s[i] == '\t') {
      ++i;
      continue;
    }
    if (s[i] == '#') break;
    std::string arg;
    char quote = 0;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (c == '\\' && i + 1 < s.size() &&
          (s[i + 1] == '\'' || s[i + 1] == '"' || s[i + 1] == '\\' ||
           (quote == 0 && s[i + 1] == ' '))) {
        arg += s[++i];
      } else if (quote == 0 && (c == ' ' || c == '\t')) {
        break;
      } else if (quote == 0 && (c == '"' || c == '\'')) {
        quote = c;
      } else if (quote != 0 && c == quote) {
        quote = 0;
      } else {
        arg += c;
      }
    }
    if (quote != 0) return fail(ExitCode::usage, "invalid quotes");
    args.push_back(std::move(arg));
  }
  return args;
}

Result<int> ssh_port(std::string_view text) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec == std::errc{} && end == text.data() + text.size() && port > 0 && port <= 65535) {
    return port;
  }
  servent entry{};
  servent* found = nullptr;
  char buffer[1024];
  std::string name(text);
  if (::getservbyname_r(name.c_str(), "tcp", &entry, buffer, sizeof buffer, &found) == 0 && found) {
    return ntohs(static_cast<std::uint16_t>(found->s_port));
  }
  return fail(ExitCode::usage, "bad port '{}'", text);
}

class Parser {
 public:
  explicit Parser(const SshConfig::Warn& warn) : warn_(warn) {}

  // `check_owner`: refuse a file others may write (OpenSSH: ~/.ssh/config and every include).
  Result<std::shared_ptr<const SshConfig::File>> read(const fs::path& path, bool check_owner,
                                                      int depth);

 private:
  Result<void> parse_line(std::string_view line, const std::string& origin,
                          std::vector<Entry>& entries, int depth);
  Result<Entry> include(const std::vector<std::string>& args, const std::string& origin, int depth);

  const SshConfig::Warn& warn_;
};

Result<std::string> read_config(const fs::path& path, bool check_owner) {
  auto what = fmt::format("cannot read ssh_config {}", path.string());
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(ExitCode::usage, what);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(ExitCode::usage, what);
  if (S_ISDIR(st.st_mode)) return fail(ExitCode::usage, "{}: it is a directory", what);
  // OpenSSH refuses such a file too ("Bad owner or permissions"): someone else could point our
  // connections elsewhere.
  if (check_owner && ((st.st_uid != 0 && st.st_uid != ::getuid()) || (st.st_mode & 022) != 0)) {
    return fail(ExitCode::usage,
                "{}: bad owner or permissions: it must belong to you (or root) and not be "
                "writable by group or others (chmod go-w)",
                what);
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(ExitCode::usage, what);
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > kMaxSize) {
      return fail(ExitCode::usage, "{}: larger than the limit of {} bytes", what, kMaxSize);
    }
  }
  return text;
}

Result<std::shared_ptr<const SshConfig::File>> Parser::read(const fs::path& path, bool check_owner,
                                                            int depth) {
  if (depth > kMaxDepth) {
    return fail(ExitCode::usage, "ssh_config {}: includes nested deeper than {} files",
                path.string(), kMaxDepth);
  }
  KF_TRY_ASSIGN(std::string text, read_config(path, check_owner));
  if (auto bad = invalid_utf8_at(text)) {
    return fail(ExitCode::usage, "{}:{}: invalid UTF-8 (byte 0x{:02x})", path.string(),
                line_at(text, *bad), static_cast<unsigned char>(text[*bad]));
  }
  auto file = std::make_shared<SshConfig::File>();
  std::size_t start = 0;
  unsigned number = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++number;
    KF_CHECK(parse_line(std::string_view(text).substr(start, end - start),
                        fmt::format("{}:{}", path.string(), number), file->entries, depth));
    start = end + 1;
  }
  return file;
}

Result<Entry> Parser::include(const std::vector<std::string>& args, const std::string& origin,
                              int depth) {
  Entry entry{Entry::Kind::include, "include", {}, {}, origin};
  for (const std::string& arg : args) {
    if (arg.empty()) return fail(ExitCode::usage, "{}: Include: empty argument", origin);
    // Relative to ~/.ssh, as for a user configuration (ssh -F included).
    std::string pattern = arg.starts_with('~')   ? expand_tilde(arg)
                          : arg.starts_with('/') ? arg
                                                 : expand_tilde("~/.ssh/" + arg);
    glob_t found{};
    int status = ::glob(pattern.c_str(), 0, nullptr, &found);
    std::vector<std::string> paths(found.gl_pathv, found.gl_pathv + found.gl_pathc);
    ::globfree(&found);
    if (status == GLOB_NOMATCH) continue;
    if (status != 0) return fail(ExitCode::usage, "{}: Include: cannot list {}", origin, pattern);
    for (const std::string& path : paths) {
      auto read = this->read(path, true, depth + 1);
      if (!read) return std::unexpected(with_context(read.error(), origin + ": Include"));
      entry.included.push_back(std::move(*read));
    }
  }
  return entry;
}

Result<void> Parser::parse_line(std::string_view line, const std::string& origin,
                                std::vector<Entry>& entries, int depth) {
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  if (line.empty() || line.front() == '#') return {};
  // The keyword ends at white space or '='; one '=' (with blanks around it) may separate it from
  // its arguments (misc.c strdelim).
  std::size_t end = 0;
  while (end < line.size() && !is_space(line[end]) && line[end] != '=' && line[end] != '"') ++end;
  std::string keyword = lowercase(line.substr(0, end));
  std::string_view rest = line.substr(end);
  while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
  if (rest.starts_with('=')) rest.remove_prefix(1);
  while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);

  bool reads = keyword == "host" || keyword == "match" || keyword == "include" ||
               std::ranges::find(kRead, keyword) != std::end(kRead);
  if (!reads) return {};  // not ours: StrictHostKeyChecking, UserKnownHostsFile, ...
  auto bad = [&](std::string_view why) {
    return fail(ExitCode::usage, "{}: {}: {}", origin, keyword, why);
  };
  if (rest.empty()) return bad("no argument");
  auto split = split_args(rest);
  if (!split) return bad(split.error().message);
  std::vector<std::string> args = std::move(*split);
  if (args.empty()) return bad("no argument");

  if (keyword == "host") {
    if (std::ranges::any_of(args, [](const auto& a) { return a.empty() || a == "!"; })) {
      return bad("empty pattern");
    }
    entries.push_back(Entry{Entry::Kind::host, keyword, std::move(args), {}, origin});
    return {};
  }
  if (keyword == "match") {
    std::string message = fmt::format(
        "{}: 'Match' is not supported by keyfleet: the options of this block are not applied "
        "(use Host blocks)",
        origin);
    if (warn_) warn_(message);
    entries.push_back(Entry{Entry::Kind::match, keyword, {}, {}, origin});
    return {};
  }
  if (keyword == "include") {
    KF_TRY_ASSIGN(auto entry, include(args, origin, depth));
    entries.push_back(std::move(entry));
    return {};
  }
  std::string value;
  if (keyword == "proxyjump") {
    // OpenSSH reads the rest of the line, not its words.
    std::string_view raw = rest.substr(0, rest.find('#'));
    while (!raw.empty() && is_space(raw.back())) raw.remove_suffix(1);
    if (auto hops = parse_jump(raw); !hops) return bad(hops.error().message);
    value = std::string(raw);
  } else {
    if (args.size() > 1) return bad("extra arguments at end of line");
    value = args.front();
    if (value.empty()) return bad("empty argument");
    if (keyword == "port") {
      auto port = ssh_port(value);
      if (!port) return bad(port.error().message);
      value = std::to_string(*port);
    } else if (keyword == "connecttimeout" && lowercase(value) != "none") {
      auto seconds = ssh_convtime(value);
      if (!seconds) return bad(fmt::format("invalid time value '{}'", value));
      value = std::to_string(*seconds);
    } else if (keyword == "connecttimeout") {
      value = "none";
    }
  }
  entries.push_back(Entry{Entry::Kind::option, keyword, {std::move(value)}, {}, origin});
  return {};
}

bool host_matches(const std::vector<std::string>& patterns, std::string_view host) {
  bool matched = false;
  for (std::string_view pattern : patterns) {
    bool negated = pattern.starts_with('!');
    if (negated) pattern.remove_prefix(1);
    if (!ssh_pattern_match(host, pattern)) continue;
    if (negated) return false;  // a negated match vetoes the whole Host line
    matched = true;
  }
  return matched;
}

void set_first(SshHost& out, const Entry& entry) {
  std::optional<SshSetting>* slot = nullptr;
  if (entry.keyword == "hostname") slot = &out.hostname;
  if (entry.keyword == "port") slot = &out.port;
  if (entry.keyword == "user") slot = &out.user;
  if (entry.keyword == "identityfile") slot = &out.identity_file;
  if (entry.keyword == "proxyjump") slot = &out.proxy_jump;
  if (entry.keyword == "connecttimeout") slot = &out.connect_timeout;
  if (slot && !*slot) *slot = SshSetting{entry.args.front(), entry.origin};
}

// readconf.c's activep: a Host line sets it, an Include passes it into the included files (which
// match nothing at all when the Include sits in an inactive block) and restores it after.
void walk(const SshConfig::File& file, std::string_view host, bool& active, bool never,
          SshHost& out) {
  for (const Entry& entry : file.entries) {
    switch (entry.kind) {
      case Entry::Kind::host:
        active = !never && host_matches(entry.args, host);
        break;
      case Entry::Kind::match:
        active = false;
        break;
      case Entry::Kind::include: {
        bool outer = active;
        for (const auto& included : entry.included) {
          walk(*included, host, active, never || !outer, out);
          active = outer;
        }
        break;
      }
      case Entry::Kind::option:
        if (active) set_first(out, entry);
        break;
    }
  }
}

}  // namespace

Result<SshConfig> SshConfig::load(const fs::path& file, bool is_default, const Warn& warn) {
  Parser parser(warn);
  SshConfig config;
  config.path_ = file.string();
  KF_TRY_ASSIGN(config.root_, parser.read(file, is_default, 0));
  return config;
}

SshHost SshConfig::lookup(std::string_view host) const {
  SshHost out;
  bool active = true;
  if (root_) walk(*root_, host, active, false, out);
  return out;
}

bool ssh_pattern_match(std::string_view text, std::string_view pattern) {
  // Greedy with one backtrack point: the classic linear-space wildcard match.
  std::size_t t = 0, p = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++t;
      ++p;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::optional<long long> ssh_convtime(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total = 0;
  bool seen_seconds = false;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    std::string_view number = text.substr(start, i - start);
    if (number.empty()) return std::nullopt;
    double value = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc{} || end != number.data() + number.size()) return std::nullopt;
    double unit = 1;
    char suffix = i < text.size() ? text[i] : 's';
    switch (suffix) {
      case 's':
      case 'S':
        if (seen_seconds) return std::nullopt;
        seen_seconds = true;
        break;
      case 'm':
      case 'M':
        unit = 60;
        break;
      case 'h':
      case 'H':
        unit = 3600;
        break;
      case 'd':
      case 'D':
        unit = 86400;
        break;
      case 'w':
      case 'W':
        unit = 7 * 86400;
        break;
      default:
        return std::nullopt;
    }
    if (number.contains('.') && (unit > 1 || number.back() == '.')) return std::nullopt;
    total += value * unit;
    if (i < text.size()) ++i;
  }
  if (total > 2147483647.0) return std::nullopt;
  return static_cast<long long>(total);
}

Result<std::string> ssh_expand_tokens(std::string_view text, const SshTokens& tokens,
                                      std::string_view allowed) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 1 == text.size()) return fail(ExitCode::usage, "'{}': '%' at the end", text);
    char token = text[++i];
    if (token == '%') {
      out += '%';
      continue;
    }
    const std::string* value = nullptr;
    switch (token) {
      case 'h':
        value = &tokens.host;
        break;
      case 'p':
        value = &tokens.port;
        break;
      case 'r':
        value = &tokens.user;
        break;
      case 'n':
        value = &tokens.alias;
        break;
      case 'd':
        value = &tokens.home;
        break;
      case 'u':
        value = &tokens.local_user;
        break;
      default:
        break;
    }
    if (!value || !allowed.contains(token)) {
      return fail(ExitCode::usage, "'{}': keyfleet does not expand '%{}' here (only {})", text,
                  token, [&] {
                    std::string list;
                    for (char c : allowed) list += fmt::format("%{} ", c);
                    return list + "%%";
                  }());
    }
    out += *value;
  }
  return out;
}

}  // namespace kf::inventory
