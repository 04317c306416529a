#include "fleet/rotate_phase.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "core/files.hpp"
#include "core/time.hpp"
#include "fleet/rotate.hpp"
#include "keydir/crash_point.hpp"
#include "pki/generation.hpp"
#include "pki/keyset_ca_phase.hpp"

namespace kf::rotate_detail {
namespace {

using rotation::Mode;
using rotation::PhaseRecord;
using rotation::PhaseState;

bool exists_nofollow(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// What DIR's current generation was before `phase`: the previous phase's, or the one the
// rotation started from.
std::uint64_t generation_before(const rotation::Journal& j, const PhaseRecord& phase) {
  const PhaseRecord* before = nullptr;
  for (const auto& p : j.phases) {
    if (p.name == phase.name) break;
    before = &p;
  }
  return before != nullptr ? before->generation : j.from_generation;
}

const PhaseRecord* phase_before(const rotation::Journal& j, const PhaseRecord& phase) {
  const PhaseRecord* before = nullptr;
  for (const auto& p : j.phases) {
    if (p.name == phase.name) return before;
    before = &p;
  }
  return nullptr;
}

CreateKeysOptions key_options(const PhaseContext& c, const Manifest& previous) {
  CreateKeysOptions o = c.request.key_options;
  o.out = c.request.keys;
  o.force = true;
  o.keep_ca = false;
  o.held_lock = &c.lock;
  if (c.request.key_type) {
    o.key_type = *c.request.key_type;
  } else if (auto type = parse_key_type(previous.key_type)) {
    o.key_type = *type;
  }
  for (const auto& name : previous.secrets) {
    const ManifestFile* listed = previous.find(name);
    if (c.journal.snapshot().mode == Mode::emergency) {
      // A compromise: every secret made anew, of the same size.
      o.secrets.push_back({name, listed != nullptr ? std::optional(listed->size) : std::nullopt});
    } else if (std::find(o.keep_secrets.begin(), o.keep_secrets.end(), name) ==
               o.keep_secrets.end()) {
      o.keep_secrets.push_back(name);
    }
  }
  return o;
}

// The phase's key set in DIR: found (an earlier run made it), or made now from the generation
// before it. Anything else means the directory changed outside the rotation.
Result<void> ensure_keyset(const PhaseContext& c, const rotation::Journal& j,
                           const PhaseRecord& phase) {
  const fs::path& dir = c.request.keys;
  const std::uint64_t before = generation_before(j, phase);
  KF_TRY_ASSIGN(auto state, keyset_dir::inspect(dir));
  if (!state.has_manifest) {
    // Killed while it wrote the phase's key set, after archiving the one before: that one comes
    // back, and the key set is made again.
    auto restored = keyset_dir::restore_archived(dir, before);
    if (!restored) {
      return std::unexpected(with_context(
          restored.error(), fmt::format("{}: no manifest.json, and the key set of generation {} "
                                        "cannot be put back",
                                        dir.string(), before)));
    }
    KF_TRY_ASSIGN(state, keyset_dir::inspect(dir));
  }
  if (!state.manifest) return std::unexpected(state.manifest.error());
  const Manifest& m = *state.manifest;
  const bool lineage = j.keyset.empty() || m.keyset == j.keyset;
  if (m.generation == phase.generation && lineage &&
      (!phase.ca_phase() || m.ca_phase == phase.ca_phase())) {
    return {};  // made by an earlier run
  }
  if (m.generation != before || !lineage) {
    return fail(ExitCode::refused,
                "{} holds generation {}{}, where rotation {} expects {} (or {}, the {} phase's): "
                "the key directory was changed outside the rotation; look at it, then run rotate "
                "--abandon",
                dir.string(), m.generation, lineage ? "" : " of another key set", j.id, before,
                phase.generation, phase.name);
  }
  CreateKeysOptions o = key_options(c, m);
  Result<CreatedKeyset> created = fail(ExitCode::failure, "no key set made");
  switch (j.mode) {
    case Mode::keep_ca:
      o.keep_ca = true;
      created = create_keyset(o);
      break;
    case Mode::emergency:
      created = create_keyset(o);
      break;
    case Mode::new_ca:
      created = create_ca_phase_keyset(o, *phase.ca_phase());
      break;
  }
  if (!created) {
    return std::unexpected(with_context(created.error(), fmt::format("{} phase", phase.name)));
  }
  if (created->manifest.generation != phase.generation) {
    return fail(ExitCode::failure, "{}: made generation {} where rotation {} planned {}",
                dir.string(), created->manifest.generation, j.id, phase.generation);
  }
  return {};
}

// The phase's bundle in DIR, replacing one an earlier run left (sealed again: push needs its
// bytes and its opened contents, and rotate never decrypts what it sealed).
Result<void> write_local_bundle(const fs::path& path, const bundle::MadeBundle& made) {
  if (exists_nofollow(path)) KF_CHECK(wipe_file(path));
  return bundle::write_bundle_file(path, made.bytes);
}

std::vector<NodeReport> skipped_all(std::span<const NodeConfig> nodes, const std::string& why) {
  std::vector<NodeReport> out;
  for (const auto& node : nodes) {
    out.push_back({node.name, node.host, NodeStatus::skipped, {}, why, {}, 0});
  }
  return out;
}

std::vector<std::string> names_not_ok(const std::vector<NodeReport>& reports) {
  std::vector<std::string> names;
  for (const auto& r : reports) {
    if (!is_success(r.status)) names.push_back(r.name);
  }
  return names;
}

}  // namespace

std::string bundle_name(std::uint64_t generation) {
  return fmt::format("rotation-{}.kfb", generation_name(generation));
}

Result<PhaseRun> run_phase(const PhaseContext& c, const std::string& name,
                           std::vector<std::string>& warnings) {
  const rotation::Journal j = c.journal.snapshot();
  const PhaseRecord* found = j.phase(name);
  if (found == nullptr) return fail(ExitCode::failure, "rotation {} has no phase {}", j.id, name);
  const PhaseRecord phase = *found;
  const fs::path& dir = c.request.keys;
  PhaseRun out;
  out.phase = phase.name;
  out.generation = phase.generation;
  if (c.hooks.on_phase_start) c.hooks.on_phase_start(phase.name, phase.generation);

  FleetRunOptions run = c.run;
  if (j.mode == Mode::emergency) run.schedule.rolling = false;  // a flag day
  const PhaseRecord* before = phase_before(j, phase);
  const bool checked = phase.ca_phase() == CaPhase::leaf || phase.ca_phase() == CaPhase::retire;
  // The check and the work share each node's connection when every node fits at once.
  SessionPool pool;
  const bool pooled = checked && c.request.canary == 0 && !run.schedule.rolling &&
                      c.nodes.size() <= run.schedule.parallel;
  if (pooled) run.connect = pool.connector(run.connect);
  auto interrupted = [&] { return run.schedule.interrupted && run.schedule.interrupted(); };

  if (checked && before != nullptr) {
    out.nodes = run_on_nodes(c.nodes, run, [&](Remote& remote, const NodeConfig& node) {
      return check_node_phase(remote, node, *before, phase);
    });
    if (interrupted()) return out;
    for (auto& r : out.nodes) {
      if (r.status == NodeStatus::skipped) continue;
      NodeOutcome seen =
          unreadable_for_phase({r.status, r.step, r.error, r.generation, r.detail}, *before, phase);
      r.status = seen.status;
      r.step = seen.step;
      r.error = seen.error;
    }
    if (!all_succeeded(out.nodes)) {
      out.refused = true;
      const std::string why = fmt::format("not started: {} refused: {} not on {}", phase.name,
                                          fold_names(names_not_ok(out.nodes)), before->name);
      for (auto& r : out.nodes) {
        if (is_success(r.status)) r = {r.name, r.host, NodeStatus::skipped, {}, why, {}, 0};
      }
      pool.close();
      return out;
    }
  }

  // The key set, its bundle and the journal: off the pooled sessions' clocks.
  Result<bundle::SealedKeySet> sealed = fail(ExitCode::failure, "not sealed");
  Result<void> prepared;
  pool.off_the_clock([&] {
    prepared = [&]() -> Result<void> {
      KF_CHECK(ensure_keyset(c, j, phase));
      keydir::crash_point("rotate-keyset-made");
      KF_TRY_ASSIGN(bundle::KeySet keyset, bundle::load_keyset(dir, false));
      sealed = bundle::seal_keyset(keyset, c.key);
      if (!sealed) return std::unexpected(sealed.error());
      const std::string manifest_sha256 = sha256_hex(sealed->opened.manifest_bytes);
      if (!phase.manifest_sha256.empty() && phase.manifest_sha256 != manifest_sha256) {
        return fail(
            ExitCode::refused,
            "{}: generation {}'s manifest is not the one rotation {} pushed before (SHA-256 "
            "{}, recorded {}): the key set was changed outside the rotation; --abandon it",
            dir.string(), phase.generation, j.id, manifest_sha256, phase.manifest_sha256);
      }
      KF_CHECK(write_local_bundle(dir / bundle_name(phase.generation), sealed->made));
      return c.journal.update([&](rotation::Journal& journal) {
        for (auto& p : journal.phases) {
          if (p.name != phase.name) continue;
          p.state = PhaseState::running;
          if (p.started.empty()) p.started = rfc3339_utc(std::time(nullptr));
          p.manifest_sha256 = manifest_sha256;
          p.bundle = bundle_name(phase.generation);
          p.bundle_sha256 = sealed->made.sha256;
        }
      });
    }();
    if (prepared) keydir::crash_point("rotate-sealed");
  });
  if (!prepared) {
    pool.close();
    return std::unexpected(prepared.error());
  }
  out.bundle_sha256 = sealed->made.sha256;

  std::set<std::string> done_before;
  for (const auto& [node, record] : phase.nodes) {
    if (record.done) done_before.insert(node);
  }
  std::mutex recorded_mutex;
  std::set<std::string> recorded;
  auto work = [&](std::span<const NodeConfig> subset) {
    return run_on_nodes<CleanupReceipt>(
        subset, run,
        [&](Remote& remote, const NodeConfig& node, std::optional<CleanupReceipt>& receipt) {
          PhaseNodeWork w{&sealed->opened, sealed->made.bytes, j.mode == Mode::emergency,
                          done_before.contains(node.name)};
          NodeOutcome outcome = rotate_node(remote, node, w, receipt);
          c.journal.record_node(phase.name, node.name, outcome);
          std::lock_guard lock(recorded_mutex);
          recorded.insert(node.name);
          return outcome;
        });
  };
  auto add = [&](FleetRun<CleanupReceipt> part) {
    for (std::size_t i = 0; i < part.reports.size(); ++i) {
      out.nodes.push_back(std::move(part.reports[i]));
      out.receipts.push_back(std::move(part.values[i]));
    }
  };
  out.nodes.clear();
  const std::size_t canary = std::min(c.request.canary, c.nodes.size());
  if (canary > 0) {
    add(work(c.nodes.first(canary)));
    const std::vector<std::string> failed = names_not_ok(out.nodes);
    if (!failed.empty() || interrupted()) {
      const std::string why = interrupted()
                                  ? "not started: interrupted (Ctrl-C)"
                                  : fmt::format("not started: the canary {} failed (--canary {})",
                                                fold_names(failed), canary);
      for (auto& r : skipped_all(c.nodes.subspan(canary), why)) {
        out.nodes.push_back(std::move(r));
        out.receipts.emplace_back();
      }
    } else {
      add(work(c.nodes.subspan(canary)));
    }
  } else {
    add(work(c.nodes));
  }
  pool.close();
  // A node that failed before its work started (its connection) is recorded too.
  for (const auto& r : out.nodes) {
    if (r.status == NodeStatus::skipped || recorded.contains(r.name)) continue;
    c.journal.record_node(phase.name, r.name, {r.status, r.step, r.error, r.generation, {}});
  }

  const rotation::Journal recorded_now = c.journal.snapshot();
  const rotation::PhaseRecord* now = recorded_now.phase(phase.name);
  if (all_succeeded(out.nodes) && !interrupted() && now != nullptr &&
      recorded_now.not_done(*now).empty()) {
    auto done = c.journal.update([&](rotation::Journal& journal) {
      for (auto& p : journal.phases) {
        if (p.name != phase.name) continue;
        p.state = PhaseState::done;
        p.finished = rfc3339_utc(std::time(nullptr));
        p.bundle.clear();
      }
    });
    if (!done) return std::unexpected(done.error());
    keydir::crash_point("rotate-phase-done");
    const fs::path local = dir / bundle_name(phase.generation);
    if (auto wiped = wipe_file(local); !wiped) {
      warnings.push_back(fmt::format("the phase's bundle {} was not wiped: {}", local.string(),
                                     wiped.error().message));
    }
  }
  if (auto lost = c.journal.lost_record()) {
    warnings.push_back(fmt::format("a node's progress was not recorded in {}: {}",
                                   rotation::journal_path(dir).string(), lost->message));
  }
  return out;
}

}  // namespace kf::rotate_detail
