#include "fleet/push.hpp"

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <iostream>

#include "bundle/layout.hpp"
#include "core/files.hpp"
#include "fleet/keydir_remote.hpp"
#include "fleet/ssh_session.hpp"

namespace kf {

namespace {

constexpr std::string_view kManifestFile = "manifest.json";

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (auto nl = text.rfind('\n'); nl != std::string::npos) text.erase(0, nl + 1);
  return text;
}

// Hooks see what is being installed, so one script can serve every generation.
NodeResult<void> run_hook(Remote& remote, const NodeConfig& node, const std::string& step,
                          const std::string& command, std::uint64_t generation) {
  if (command.empty()) return {};
  std::string line = fmt::format(
      "KEYFLEET_STEP={} KEYFLEET_DEST={} KEYFLEET_GENERATION={}; "
      "export KEYFLEET_STEP KEYFLEET_DEST KEYFLEET_GENERATION; {}",
      step, shell_quote(node.dest), generation, command);
  auto result = remote.exec(line);
  if (!result) return std::unexpected(at_step(result.error(), step));
  if (!result->ok()) {
    std::string why = last_line(result->err);
    return node_fail(NodeStatus::failed, step, "{}: {} hook `{}` exited with status {}{}{}",
                     node.name, step, command, result->exit_status, why.empty() ? "" : ": ", why);
  }
  return {};
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The directory that would receive new entries for `path`: itself when it exists, else its parent.
NodeResult<std::string> writable_home(Remote& remote, const NodeConfig& node,
                                      const std::string& path, const std::string& step) {
  auto st = remote.stat(path);
  if (!st) return std::unexpected(at_step(st.error(), step));
  std::string dir = path;
  if (*st) {
    if ((*st)->type != FileType::directory) {
      return node_fail(NodeStatus::failed, step, "{}: {} is not a directory", node.name, path);
    }
  } else {
    dir = parent_of(path);
  }
  auto test = remote.exec("test -d " + shell_quote(dir) + " && test -w " + shell_quote(dir));
  if (!test) return std::unexpected(at_step(test.error(), step));
  if (!test->ok()) {
    return node_fail(NodeStatus::failed, step, "{}: {} is missing or not writable", node.name, dir);
  }
  return dir;
}

std::uint64_t installed_size(const bundle::OpenedBundle& bundle) {
  std::uint64_t total = bundle.manifest_bytes.size();
  for (const auto& file : bundle.files) total += file.data.size();
  return total;
}

NodeOutcome dry_run(Remote& remote, const NodeConfig& node, const PushPayload& payload,
                    std::optional<std::uint64_t> current) {
  auto fail = [&](NodeError e) { return NodeOutcome::from_error(std::move(e), current); };
  auto staging = writable_home(remote, node, node.staging, "staging");
  if (!staging) return fail(staging.error());
  auto dest = writable_home(remote, node, node.dest, "install");
  if (!dest) return fail(dest.error());
  std::uint64_t needed = payload.bundle->size + installed_size(*payload.bundle);
  auto space = remote.space(*dest);
  if (!space) return fail(at_step(space.error(), "install"));
  if (space->read_only || space->available < needed) {
    return fail(NodeError{
        NodeStatus::failed, "install",
        fmt::format("{}: {} has {} bytes free{}, the push needs {}", node.name, *dest,
                    space->available, space->read_only ? " and is read-only" : "", needed)});
  }
  return {NodeStatus::ok, "dry-run", "", current};
}

NodeResult<void> stage_and_check(Remote& remote, const NodeConfig& node,
                                 const PushPayload& payload) {
  KF_CHECK(keydir::ensure_dir(remote, node.staging, 0700, "staging"));
  std::string dir = keydir::join(node.staging, random_hex(8));
  if (auto made = remote.mkdir(dir, 0700); !made) {
    return std::unexpected(at_step(made.error(), "staging"));
  }
  std::string staged = keydir::join(dir, kStagedBundleName);
  if (auto up = remote.upload(staged, payload.bundle_bytes, 0600); !up) {
    return std::unexpected(at_step(up.error(), "upload"));
  }
  const std::string request[] = {"sha256", staged};
  auto sum = remote.run_locked(node.dest, request, "sha256sum -- " + shell_quote(staged));
  if (!sum) return std::unexpected(at_step(sum.error(), "digest"));
  if (!sum->ok()) {
    return node_fail(NodeStatus::failed, "digest", "{}: sha256sum {} exited with status {}: {}",
                     node.name, staged, sum->exit_status, last_line(sum->err));
  }
  std::string digest = parse_sha256sum(sum->out);
  if (digest != payload.bundle->sha256) {
    return node_fail(NodeStatus::failed, "digest",
                     "{}: the staged copy {} has SHA-256 {}, the bundle has {}", node.name, staged,
                     digest.empty() ? "(unreadable sha256sum output)" : digest,
                     payload.bundle->sha256);
  }
  return {};
}

}  // namespace

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

NodeOutcome push_node(Remote& remote, const NodeConfig& node, const PushPayload& payload,
                      const PushOptions& options) {
  const auto& bundle = *payload.bundle;
  const std::uint64_t generation = bundle.manifest.generation;
  auto current = keydir::read_current(remote, node.dest, "install");
  if (!current) return NodeOutcome::from_error(current.error());
  auto fail = [&](NodeError e) { return NodeOutcome::from_error(std::move(e), *current); };

  if (*current && **current >= generation &&
      !(options.allow_downgrade && **current != generation)) {
    return {NodeStatus::unchanged, "current", "", *current};
  }
  if (options.dry_run) return dry_run(remote, node, payload, *current);

  // Cleanup takes the same lock: it never wipes a copy that is still being staged. The lock
  // holder on the node also runs the digest and the switch, so the push starts one shell there.
  if (auto locked = remote.lock_dest(node.dest, "staging"); !locked) return fail(locked.error());
  DestLock lock(remote);
  if (auto staged = stage_and_check(remote, node, payload); !staged) return fail(staged.error());
  if (options.no_install) return {NodeStatus::ok, "digest", "", *current};

  if (!node.pre.empty()) {
    // A pre hook may take its time (stopping a service): no cleanup should wait on it. The
    // switch then takes the lock again by itself.
    remote.unlock_dest();
    if (auto pre = run_hook(remote, node, "pre", node.pre, generation); !pre) {
      return fail(pre.error());
    }
  }
  std::vector<keydir::RemoteFile> files;
  files.push_back({std::string(kManifestFile), 0644, bundle.manifest_bytes});
  for (const auto& file : bundle.files) files.push_back({file.name, file.mode, file.data});
  if (auto installed = keydir::install_generation(remote, node.dest, generation, *current, files);
      !installed) {
    return fail(installed.error());
  }
  remote.unlock_dest();
  // From here on the node is on the new generation, whatever a hook says.
  auto after = [&](NodeError e) { return NodeOutcome::from_error(std::move(e), generation); };
  if (auto post = run_hook(remote, node, "post", node.post, generation); !post) {
    return after(post.error());
  }
  if (auto check = run_hook(remote, node, "check", node.check, generation); !check) {
    return after(check.error());
  }
  return {NodeStatus::ok, "install", "", generation};
}

PendingBundle open_in_background(const bundle::CheckedBundleFile& file, bundle::OpenKey key) {
  return std::async(
             std::launch::async,
             [&file, key = std::move(key)] { return bundle::open_checked_bundle(file, key); })
      .share();
}

NodeOutcome push_over_ssh(const NodeConfig& node, std::span<const std::uint8_t> bundle_bytes,
                          const PendingBundle& bundle, const PushOptions& options) {
  auto unopened = [] {
    return NodeOutcome{NodeStatus::skipped, "bundle", "the bundle could not be opened",
                       std::nullopt};
  };
  const bool decrypted = bundle.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  if (decrypted && !bundle.get()) return unopened();
  auto session = SshSession::connect(node, Deadline::after_seconds(node.timeout));
  if (!session) return NodeOutcome::from_error(session.error());
  session->off_the_clock([&] { bundle.wait(); });
  const auto& opened = bundle.get();
  if (!opened) {
    session->close();
    return unopened();
  }
  NodeOutcome outcome = push_node(*session, node, PushPayload{bundle_bytes, &*opened}, options);
  session->close();
  return outcome;
}

std::vector<NodeReport> push_fleet(std::span<const NodeConfig> nodes,
                                   std::span<const std::uint8_t> bundle_bytes,
                                   const PendingBundle& bundle, const PushOptions& options,
                                   const ScheduleOptions& schedule) {
  return run_fleet(nodes, schedule, [&](const NodeConfig& node) {
    return push_over_ssh(node, bundle_bytes, bundle, options);
  });
}

Result<void> confirm_or_refuse(std::string_view command, std::string_view question, bool yes) {
  if (yes) return {};
  if (::isatty(STDIN_FILENO) != 1 || ::isatty(STDERR_FILENO) != 1) {
    return fail(ExitCode::refused,
                "{}: confirmation needed and there is no terminal to ask on: pass --yes ({})",
                command, question);
  }
  std::cerr << question << " [y/N] " << std::flush;
  std::string answer;
  std::getline(std::cin, answer);
  if (answer == "y" || answer == "Y" || answer == "yes" || answer == "YES") return {};
  return fail(ExitCode::refused, "{}: not confirmed; nothing was done", command);
}

}  // namespace kf
