#include "fleet/push.hpp"

#include <cctype>
#include <chrono>

#include "core/files.hpp"
#include "fleet/hooks.hpp"
#include "keydir/install.hpp"
#include "keydir/lock.hpp"
#include "keydir/node_state.hpp"
#include "keydir/prune.hpp"

namespace kf {

namespace {

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (auto nl = text.rfind('\n'); nl != std::string::npos) text.erase(0, nl + 1);
  return text;
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
    dir = parent_path(path);
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

NodeResult<void> ensure_dir(Remote& remote, const std::string& path, const std::string& step) {
  auto st = remote.lstat(path);
  if (!st) return std::unexpected(at_step(st.error(), step));
  if (*st) {
    if ((*st)->type == FileType::directory) return {};
    return node_fail(NodeStatus::failed, step, "{}: {} exists and is not a directory",
                     remote.node_name(), path);
  }
  if (auto made = remote.mkdir(path, 0700); !made)
    return std::unexpected(at_step(made.error(), step));
  return {};
}

NodeResult<void> stage_and_check(Remote& remote, keydir::DestLock& lock, const NodeConfig& node,
                                 const PushPayload& payload) {
  KF_CHECK(ensure_dir(remote, node.staging, "staging"));
  std::string dir = join_path(node.staging, random_hex(8));
  if (auto made = remote.mkdir(dir, 0700); !made) {
    return std::unexpected(at_step(made.error(), "staging"));
  }
  std::string staged = join_path(dir, kStagedBundleName);
  if (auto up = remote.upload(staged, payload.bundle_bytes, 0600); !up) {
    return std::unexpected(at_step(up.error(), "upload"));
  }
  const std::string request[] = {"sha256", staged};
  auto sum = lock.request(request);
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

namespace {

// Whether the node needs nothing: already on the bundle's generation or a newer one.
bool up_to_date(const keydir::NodeState& state, std::uint64_t generation,
                const PushOptions& options) {
  if (!state.current) return false;
  std::uint64_t current = *state.current;
  return current >= generation && !(options.allow_downgrade && current != generation);
}

NodeResult<keydir::NodeState> read_state(Remote& remote, const keydir::KeyDir& dir,
                                         const std::string& step) {
  KF_TRY_ASSIGN(auto state, keydir::read_node_state(remote, dir, {false}, step));
  if (state.current_kind != keydir::CurrentKind::absent &&
      state.current_kind != keydir::CurrentKind::generation) {
    return node_fail(NodeStatus::failed, step, "{}: {}: {}; refusing to replace it",
                     remote.node_name(), dir.current(), state.describe_current());
  }
  return state;
}

}  // namespace

NodeOutcome push_node(Remote& remote, const NodeConfig& node, const PushPayload& payload,
                      const PushOptions& options) {
  const auto& bundle = *payload.bundle;
  const std::uint64_t generation = bundle.manifest.generation;
  const keydir::KeyDir dir(node.dest);
  auto state = read_state(remote, dir, "read");
  if (!state) return NodeOutcome::from_error(state.error());
  auto fail = [&](NodeError e) { return NodeOutcome::from_error(std::move(e), state->current); };
  if (up_to_date(*state, generation, options)) {
    return {NodeStatus::unchanged, "current", "", state->current};
  }
  if (options.dry_run) return dry_run(remote, node, payload, state->current);

  // Cleanup and rollback take the same lock: nothing else changes DEST while this push stages,
  // installs and runs its hooks. Its holder on the node also runs the digest and the switch, so
  // the push starts one shell there.
  auto lock = keydir::DestLock::acquire(remote, dir, node.lock_timeout, "staging");
  if (!lock) return fail(lock.error());
  // Under the lock: another push may have been first.
  state = read_state(remote, dir, "read");
  if (!state) return NodeOutcome::from_error(state.error());
  if (up_to_date(*state, generation, options)) {
    return {NodeStatus::unchanged, "current", "", state->current};
  }
  if (auto removed = keydir::remove_leftovers(remote, dir, *state, "staging"); !removed) {
    return fail(removed.error());
  }
  if (auto staged = stage_and_check(remote, *lock, node, payload); !staged) {
    return fail(staged.error());
  }
  if (options.no_install) return {NodeStatus::ok, "digest", "", state->current};

  if (auto pre = run_hook(remote, node, "pre", node.pre, generation); !pre) {
    return fail(pre.error());
  }
  keydir::InstallOptions install;
  install.lock_wait = node.lock_timeout;
  if (auto installed = keydir::install_generation(
          remote, &*lock, dir, *state, keydir::GenerationContent::of(bundle), install, "install");
      !installed) {
    return fail(installed.error());
  }
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

std::vector<NodeReport> push_fleet(std::span<const NodeConfig> nodes,
                                   std::span<const std::uint8_t> bundle_bytes,
                                   const PendingBundle& bundle, const PushOptions& options,
                                   const FleetRunOptions& run) {
  auto unopened = [] {
    return NodeOutcome{NodeStatus::skipped, "bundle", "the bundle could not be opened",
                       std::nullopt};
  };
  FleetRunOptions push_run = run;
  push_run.before_connect = [&](const NodeConfig&) -> std::optional<NodeOutcome> {
    const bool decrypted = bundle.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    if (decrypted && !bundle.get()) return unopened();
    return std::nullopt;
  };
  return run_on_nodes(nodes, push_run, [&](Remote& remote, const NodeConfig& node) {
    remote.off_the_clock([&] { bundle.wait(); });
    const auto& opened = bundle.get();
    if (!opened) return unopened();
    return push_node(remote, node, PushPayload{bundle_bytes, &*opened}, options);
  });
}

}  // namespace kf
