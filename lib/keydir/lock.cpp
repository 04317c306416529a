#include "keydir/lock.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/escape.hpp"
#include "keydir/node_scripts.hpp"

namespace kf::keydir {
namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

struct Greeting {
  bool held = false;
  std::optional<std::uint32_t> uid;
};

// "locked UID\n" or "unlocked UID\n" (UID may be empty; older holders said no more than the word).
std::optional<Greeting> parse_greeting(std::string_view line) {
  if (!line.ends_with('\n')) return std::nullopt;
  line.remove_suffix(1);
  std::string_view word = line.substr(0, line.find(' '));
  if (word != "locked" && word != "unlocked") return std::nullopt;
  Greeting greeting{word == "locked", std::nullopt};
  std::string_view digits = line.substr(word.size());
  if (digits.starts_with(' ')) digits.remove_prefix(1);
  std::uint32_t uid = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), uid);
  if (!digits.empty() && ec == std::errc() && end == digits.data() + digits.size()) {
    greeting.uid = uid;
  }
  return greeting;
}

}  // namespace

std::string layout_words(const KeyDir& dir) {
  return shell_quote(dir.generations()) + " " + shell_quote(dir.current());
}

std::string lock_command(const KeyDir& dir, int wait_seconds, std::optional<std::uint32_t> group) {
  return "sh -c " + shell_quote(scripts::lock_script()) + " keyfleet-lock " +
         shell_quote(dir.home()) + " " + std::to_string(wait_seconds) + " " + layout_words(dir) +
         " " + shell_quote(group ? std::to_string(*group) : "");
}

NodeResult<DestLock> DestLock::acquire(Remote& remote, const KeyDir& dir, int wait_seconds,
                                       const std::string& step,
                                       std::optional<std::uint32_t> group) {
  const std::string what = fmt::format("{}: locking {}", remote.node_name(), dir.lock());
  auto channel = remote.open_channel(lock_command(dir, wait_seconds, group));
  if (!channel) return std::unexpected(at_step(channel.error(), step));
  // The first line says whether the lock is ours and who we are there; the end of the output
  // first means it is not.
  auto first = (*channel)->read_until("\n");
  if (!first) return std::unexpected(at_step(first.error(), step));
  if (auto greeting = parse_greeting(*first)) {
    return DestLock(std::move(*channel), remote.node_name(), dir.lock(), greeting->held,
                    greeting->uid);
  }
  auto ended = (*channel)->finish();
  if (!ended) return std::unexpected(at_step(ended.error(), step));
  // What the node's shell said (or whatever runs there as `sh`): the node's words.
  std::string why = escape_untrusted(trimmed(ended->err), 300);
  if (why.empty()) why = fmt::format("the lock command exited with status {}", ended->exit_status);
  // 75: held elsewhere for the whole wait; 77: HOME or its .lock a symlink (scripts::lock_script).
  bool refused = ended->exit_status == 75 || ended->exit_status == 77;
  return node_fail(refused ? NodeStatus::refused : NodeStatus::failed, step, "{}: {}", what, why);
}

NodeResult<ExecResult> DestLock::request(std::span<const std::string> fields) {
  const std::string what =
      fmt::format("{}: {} under {}", node_, fields.empty() ? "" : fields[0], lock_);
  if (!channel_) return node_fail(NodeStatus::failed, "exec", "{}: the lock was released", what);
  bool one_line_each = std::none_of(fields.begin(), fields.end(), [](const std::string& field) {
    return field.find('\n') != std::string::npos;
  });
  if (fields.empty() || !one_line_each) {
    return node_fail(NodeStatus::failed, "exec", "{}: a request field holds a newline", what);
  }
  std::string lines;
  for (const auto& field : fields) lines += field + '\n';
  KF_CHECK(channel_->write(lines));
  // The answer ends with the line "keyfleet-status N"; nothing follows it until the next request.
  std::string out;
  for (;;) {
    KF_TRY_ASSIGN(std::string line, channel_->read_until("\n"));
    if (!line.ends_with('\n')) {
      const std::string said = escape_untrusted(trimmed(out + line), 300);
      return node_fail(NodeStatus::failed, "exec", "{}: the lock holder ended{}{}", what,
                       said.empty() ? "" : ": ", said);
    }
    std::string_view text(line.data(), line.size() - 1);
    if (!text.starts_with(scripts::kStatusPrefix)) {
      out += line;
      continue;
    }
    std::string_view digits = text.substr(scripts::kStatusPrefix.size());
    ExecResult result;
    auto [end, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), result.exit_status);
    if (ec != std::errc() || end != digits.data() + digits.size()) {
      return node_fail(NodeStatus::failed, "exec", "{}: unreadable answer '{}'", what,
                       escape_untrusted(text, 100));
    }
    result.out = std::move(out);
    if (!result.ok()) result.err = result.out;
    return result;
  }
}

NodeResult<std::map<std::string, std::string>> DestLock::sha256_files(
    std::span<const std::string> paths) {
  std::vector<std::string> fields = {"sha256-files", ""};
  for (const auto& path : paths) {
    // GNU sha256sum escapes a name holding a backslash or newline in its output.
    if (path.find_first_of("\n\\") == std::string::npos) fields.push_back(path);
  }
  if (fields.size() == 2) return std::map<std::string, std::string>{};
  fields[1] = std::to_string(fields.size() - 2);
  KF_TRY_ASSIGN(ExecResult answer, request(fields));
  // A non-zero status says some file could not be read: those are simply not in the answer.
  return parse_sha256_lines(answer.out, std::span(fields).subspan(2));
}

std::string parse_sha256sum(std::string_view output) {
  if (output.starts_with('\\')) output.remove_prefix(1);  // GNU escapes odd file names so
  if (output.size() < 64) return {};
  std::string digest;
  for (char c : output.substr(0, 64)) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
    digest += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (output.size() > 64 && output[64] != ' ') return {};
  return digest;
}

std::map<std::string, std::string> parse_sha256_lines(std::string_view output,
                                                      std::span<const std::string> paths) {
  std::map<std::string, std::string> digests;
  std::vector<std::string> twice;
  while (!output.empty()) {
    const std::size_t end = output.find('\n');
    std::string_view line = output.substr(0, end);
    output.remove_prefix(end == std::string_view::npos ? output.size() : end + 1);
    // An escaped name is never one asked for (sha256_files does not send those).
    if (line.starts_with('\\') || line.size() <= 66 || (line[65] != ' ' && line[65] != '*')) {
      continue;
    }
    std::string digest = parse_sha256sum(line);
    std::string_view name = line.substr(66);
    if (digest.empty() || std::find(paths.begin(), paths.end(), name) == paths.end()) continue;
    auto [it, inserted] = digests.emplace(name, digest);
    if (!inserted && it->second != digest) twice.emplace_back(name);
  }
  for (const auto& name : twice) digests.erase(name);
  return digests;
}

void DestLock::release() {
  if (!channel_) return;
  // The node's serve loop exits at end-of-file, which lets go of the lock; the end of its output
  // says so. Best effort: a lost connection has let go of it too.
  (void)channel_->finish();
  channel_.reset();
  held_ = false;
}

}  // namespace kf::keydir
