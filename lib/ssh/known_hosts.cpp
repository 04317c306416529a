#include "ssh/known_hosts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "core/escape.hpp"
#include "core/fd.hpp"
#include "ssh/host_patterns.hpp"
#include "ssh/ssh_key_blob.hpp"

namespace kf::known_hosts {
namespace {

using ssh_key::certified_type;
using ssh_key::decode_base64;
using ssh_key::PublicKey;
using ssh_key::read_blob;

enum class Marker { none, cert_authority, revoked, invalid };

bool blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view skip_blanks(std::string_view s) {
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view next_token(std::string_view& s) {
  std::size_t end = 0;
  while (end < s.size() && !blank(s[end])) ++end;
  std::string_view token = s.substr(0, end);
  s = skip_blanks(s.substr(end));
  return token;
}

// OpenSSH's check_markers: one marker at most, followed by blanks. (OpenSSH ends a marker at the
// first space of the rest of the line, so it skips "@revoked<TAB>host ...": keyfleet honours it.)
Marker read_marker(std::string_view& s, std::string& why) {
  Marker marker = Marker::none;
  while (!s.empty() && s.front() == '@') {
    std::size_t end = 0;
    while (end < s.size() && !blank(s[end])) ++end;
    std::string_view text = s.substr(0, end);
    if (marker != Marker::none || end == s.size()) {
      why = marker != Marker::none ? "a line has one marker at most" : "nothing after the marker";
      return Marker::invalid;
    }
    if (text == "@cert-authority") {
      marker = Marker::cert_authority;
    } else if (text == "@revoked") {
      marker = Marker::revoked;
    } else {
      why = fmt::format("'{}' is not a marker (only @revoked and @cert-authority are)",
                        escape_untrusted(text, 40));
      return Marker::invalid;
    }
    s = skip_blanks(s.substr(end));
  }
  return marker;
}

// sshkey_read: a known type name, blanks, the base64 blob up to the next blank.
std::optional<PublicKey> read_key(std::string_view s) {
  std::string_view type = next_token(s);
  if (s.empty()) return std::nullopt;  // nothing after the type
  std::string_view base64 = next_token(s);
  auto blob = decode_base64(base64);
  if (!blob) return std::nullopt;
  return read_blob(type, *blob);
}

struct Checker {
  Checker(std::string_view file_name, std::string lookup, const HostKey& presented)
      : file(file_name), name(std::move(lookup)), key(presented) {}

  std::string_view file;
  std::string name;  // the lookup name
  const HostKey& key;
  Lookup result;
  std::size_t revoked_line = 0;
  std::size_t ok_line = 0;
  std::size_t changed_line = 0;
  std::string changed_type;
  std::size_t other_line = 0;
  std::string other_type;
  bool ca_noted = false;
  std::string hmac_error;

  void note(std::size_t line, std::string_view what) {
    result.notes.push_back(fmt::format("{}:{}: {}", escape_untrusted(file), line, what));
  }

  host_patterns::Match matches(std::string_view field) {
    if (field.starts_with('|')) {
      auto hashed = host_patterns::match_hashed(name, field, hmac_error);
      return hashed.value_or(false) ? host_patterns::Match::yes : host_patterns::Match::no;
    }
    return host_patterns::match_list(name, field);
  }

  void line(std::size_t number, std::string_view s) {
    s = skip_blanks(s);
    if (s.empty() || s.front() == '#') return;
    std::string why;
    Marker marker = read_marker(s, why);
    if (marker == Marker::invalid) {
      note(number, "line skipped: " + why);
      return;
    }
    std::string_view hosts = next_token(s);
    bool for_this_host = matches(hosts) == host_patterns::Match::yes;
    if (marker == Marker::cert_authority) {
      if (for_this_host && !ca_noted) {
        note(number,
             "a @cert-authority line names this host, but keyfleet does not check host "
             "certificates: the line is not used, only plain host keys are");
        ca_noted = true;
      }
      return;
    }
    if (marker == Marker::none && !for_this_host) return;
    auto line_key = s.empty() || s.front() == '#' ? std::nullopt : read_key(s);
    if (!line_key) {
      if (marker == Marker::revoked) {
        note(number, "a @revoked line was skipped: its key cannot be read");
      } else {
        note(number, fmt::format("a line for {} was skipped: its key type or key cannot be read",
                                 escape_untrusted(name)));
      }
      return;
    }
    bool same = line_key->type == key.type && line_key->blob == key.blob;
    if (marker == Marker::revoked) {
      if (same && revoked_line == 0) revoked_line = number;
      return;
    }
    if (line_key->certificate) {
      note(number, fmt::format("a line for {} lists a certificate, which keyfleet does not check: "
                               "the line is not used",
                               escape_untrusted(name)));
      return;
    }
    if (same) {
      if (ok_line == 0) ok_line = number;
    } else if (line_key->type == key.type) {
      if (changed_line == 0) {
        changed_line = number;
        changed_type = line_key->type;
      }
    } else if (other_line == 0) {
      other_line = number;
      other_type = line_key->type;
    }
  }

  Lookup finish() && {
    if (!hmac_error.empty()) {
      result.notes.push_back(
          fmt::format("{}: hashed host names were not checked: HMAC-SHA1 is not available: {}",
                      escape_untrusted(file), hmac_error));
    }
    auto decide = [&](Verdict verdict, std::size_t line, std::string type) {
      result.verdict = verdict;
      result.line = line;
      result.line_key_type = std::move(type);
    };
    if (revoked_line != 0) {
      decide(Verdict::revoked, revoked_line, key.type);
    } else if (ok_line != 0) {
      decide(Verdict::ok, ok_line, key.type);
    } else if (changed_line != 0) {
      decide(Verdict::changed, changed_line, changed_type);
    } else if (other_line != 0) {
      decide(Verdict::other_type, other_line, other_type);
    }
    return std::move(result);
  }
};

std::string_view file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "something other than a file";
}

}  // namespace

Result<HostKey> host_key_from_blob(std::string_view type, std::span<const std::uint8_t> blob) {
  std::string name(type);
  if (name == "rsa-sha2-256" || name == "rsa-sha2-512") name = "ssh-rsa";
  if (certified_type(name)) {
    return fail(ExitCode::integrity,
                "the node presented a host certificate ({}): keyfleet checks plain host keys "
                "only",
                escape_untrusted(name, 64));
  }
  auto parsed = read_blob(name, blob);
  if (!parsed) {
    return fail(ExitCode::integrity, "the node's host key is not a well-formed {} key",
                escape_untrusted(name, 64));
  }
  return HostKey{std::move(parsed->type), std::move(parsed->blob)};
}

Result<HostKey> parse_host_key(std::string_view type, std::string_view base64) {
  auto blob = decode_base64(base64);
  if (!blob) return fail(ExitCode::integrity, "the node's host key is not valid base64");
  return host_key_from_blob(type, *blob);
}

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok:
      return "ok";
    case Verdict::revoked:
      return "revoked";
    case Verdict::changed:
      return "changed";
    case Verdict::other_type:
      return "other-type";
    case Verdict::unknown:
      break;
  }
  return "unknown";
}

std::string lookup_name(std::string_view host, int port) {
  std::string name = host_patterns::lowercase(host);
  return port == 22 ? name : fmt::format("[{}]:{}", name, port);
}

Lookup check(std::string_view text, std::string_view file, std::string_view host, int port,
             const HostKey& key) {
  Checker checker(file, lookup_name(host, port), key);
  std::size_t number = 0;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    line = line.substr(0, line.find('\0'));  // ssh reads each line as a C string
    if (line.ends_with('\r')) line.remove_suffix(1);
    checker.line(number, line);
  }
  return std::move(checker).finish();
}

Result<std::string> read_file(const boost::filesystem::path& file) {
  std::string name = fmt::format("known_hosts file {}", escape_untrusted(file.string()));
  // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
  Fd fd(::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return fail(ExitCode::usage, "cannot read {}: it does not exist", name);
    return fail_errno(ExitCode::usage, fmt::format("cannot read {}", name));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(ExitCode::usage, "cannot stat " + name);
  if (!S_ISREG(st.st_mode)) {
    return fail(ExitCode::usage, "cannot read {}: it is {}, not a regular file", name,
                file_kind(st.st_mode));
  }
  auto too_large = [&] {
    return fail(ExitCode::usage, "cannot read {}: it is larger than {} MiB", name,
                kMaxFileSize >> 20);
  };
  if (static_cast<std::uint64_t>(st.st_size) > kMaxFileSize) return too_large();
  // Up to one byte past the limit, to see a file that grew past it since fstat.
  std::string text;
  std::array<char, 65536> chunk{};
  while (text.size() <= kMaxFileSize) {
    ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(ExitCode::usage, "cannot read " + name);
    if (n == 0) return text;
    text.append(chunk.data(), static_cast<std::size_t>(n));
  }
  return too_large();
}

Result<Lookup> check_file(const boost::filesystem::path& file, std::string_view host, int port,
                          const HostKey& key) {
  KF_TRY_ASSIGN(std::string text, read_file(file));
  return check(text, file.string(), host, port, key);
}

}  // namespace kf::known_hosts
