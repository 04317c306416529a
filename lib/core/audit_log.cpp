#include "core/audit_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <utility>

#include <openssl/evp.h>
#include <boost/filesystem/operations.hpp>

#include "core/fd.hpp"
#include "core/files.hpp"
#include "core/lock.hpp"

namespace kf::audit {
namespace {

// A log grows by a record per command: years of them fit far below this.
constexpr std::size_t kMaxLogSize = std::size_t{256} << 20;
constexpr std::string_view kHashKey = ",\"hash\":\"";
// Concurrent runs finish their records in milliseconds; this only bounds a stuck one.
constexpr std::chrono::seconds kLockWait{10};

fs::path lock_path(const fs::path& path) {
  return path.string() + ".lock";
}

std::string home() {
  const char* home = std::getenv("HOME");
  return home != nullptr ? home : "";
}

// What the line's "hash" covers: everything before `,"hash":"`, closed with '}'.
std::optional<std::pair<std::string, std::string>> split_hash(std::string_view line) {
  std::size_t at = line.rfind(kHashKey);
  if (at == std::string_view::npos || !line.ends_with("\"}")) return std::nullopt;
  std::string_view hash = line.substr(at + kHashKey.size());
  hash.remove_suffix(2);
  return std::pair{std::string(line.substr(0, at)) + "}", std::string(hash)};
}

// The log's last line (without its newline), read from its end; empty when the log is empty.
Result<std::string> last_line(int fd, const fs::path& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail_errno(fmt::format("cannot stat {}", path.string()));
  std::string tail;
  off_t end = st.st_size;
  while (end > 0) {
    off_t start = std::max<off_t>(0, end - 65536);
    std::string chunk(static_cast<std::size_t>(end - start), '\0');
    ssize_t got = ::pread(fd, chunk.data(), chunk.size(), start);
    if (got != static_cast<ssize_t>(chunk.size())) {
      return fail_errno(fmt::format("cannot read {}", path.string()));
    }
    tail.insert(0, chunk);
    end = start;
    std::string_view body = tail;
    if (body.ends_with('\n')) body.remove_suffix(1);
    if (std::size_t nl = body.rfind('\n'); nl != std::string_view::npos) {
      return std::string(body.substr(nl + 1));
    }
  }
  if (tail.ends_with('\n')) tail.pop_back();
  return tail;
}

}  // namespace

std::string sha256_text(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    std::abort();  // SHA-256 of memory cannot fail
  }
  return to_hex(std::span<const std::uint8_t>(digest, len));
}

fs::path default_path() {
  if (const char* env = std::getenv("KEYFLEET_AUDIT_LOG"); env != nullptr && *env != '\0') {
    return env;
  }
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state == '/') {
    return fs::path(state) / "keyfleet" / "audit.jsonl";
  }
  return fs::path(home()) / ".local" / "state" / "keyfleet" / "audit.jsonl";
}

Result<void> prepare(const fs::path& path) {
  fs::path dir = path.parent_path();
  if (!dir.empty()) {
    // Missing parents too (~/.local/state on a fresh account), each 0700.
    std::vector<fs::path> missing;
    for (fs::path p = dir; !p.empty() && !fs::exists(fs::symlink_status(p)); p = p.parent_path()) {
      missing.push_back(p);
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) KF_CHECK(make_dir(*it, 0700));
  }
  Fd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
  if (!fd && errno == ENOENT) {
    auto made = create_exclusive(path, 0600);
    // Another run made it in between: open that one.
    if (made) return {};
    fd.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!fd) {
    return fail_errno(ExitCode::usage,
                      fmt::format("cannot open the audit log {} for appending", path.string()));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return fail(ExitCode::usage, "the audit log {} is not a regular file", path.string());
  }
  return {};
}

Result<void> append(const fs::path& path, nlohmann::ordered_json record) {
  KF_CHECK(prepare(path));
  KF_TRY_ASSIGN(FileLock lock, FileLock::acquire(lock_path(path), kLockWait));
  Fd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("cannot open the audit log {}", path.string()));
  KF_TRY_ASSIGN(std::string previous, last_line(fd.get(), path));
  record["prev"] = previous.empty() ? std::string(kGenesis) : sha256_text(previous);
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.pop_back();  // the closing brace: "hash" comes last and covers everything before it
  line += std::string(kHashKey) + sha256_text(line + "}") + "\"}\n";
  KF_CHECK(write_all(
      fd.get(), std::span(reinterpret_cast<const std::uint8_t*>(line.data()), line.size()), path));
  return fsync_fd(fd.get(), path);
}

Result<std::vector<Line>> read_lines(const fs::path& path) {
  KF_TRY_ASSIGN(auto bytes, read_file(path, kMaxLogSize));
  std::vector<Line> lines;
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::size_t number = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    ++number;
    lines.push_back({number, std::string(text.substr(0, nl))});
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  }
  return lines;
}

Result<std::size_t> verify_chain(const std::vector<Line>& lines, std::string_view origin) {
  std::string previous;
  for (const Line& line : lines) {
    auto broken = [&](std::string_view why) {
      return fail(ExitCode::integrity, "{}:{}: {}", origin, line.number, why);
    };
    auto record = nlohmann::json::parse(line.text, nullptr, false);
    if (record.is_discarded() || !record.is_object()) {
      return broken("not a JSON record (edited, or a write cut short)");
    }
    auto split = split_hash(line.text);
    if (!split || !record.contains("hash") || record["hash"] != split->second ||
        sha256_text(split->first) != split->second) {
      return broken("the record was edited: its \"hash\" does not match its content");
    }
    const std::string want = line.number == 1 ? std::string(kGenesis) : sha256_text(previous);
    if (!record.contains("prev") || record["prev"] != want) {
      return broken(line.number == 1
                        ? "the first record does not start the chain: records before it were "
                          "removed"
                        : fmt::format("the chain is broken: \"prev\" does not match line {} (a "
                                      "record was edited, removed or inserted)",
                                      line.number - 1));
    }
    previous = line.text;
  }
  return lines.size();
}

}  // namespace kf::audit
