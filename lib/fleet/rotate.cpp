#include "fleet/rotate.hpp"

#include <cctype>
#include <ctime>

#include <fmt/format.h>
#include <boost/filesystem/operations.hpp>

#include "core/files.hpp"
#include "core/time.hpp"
#include "core/whoami.hpp"
#include "fleet/rotate_phase.hpp"
#include "keydir/crash_point.hpp"
#include "pki/generation.hpp"

namespace kf {
namespace {

using rotation::Journal;
using rotation::Mode;
using rotation::PhaseState;
using rotation::State;

Result<void> check_request(const RotateRequest& r) {
  if (!r.mode && !r.abandon) {
    return fail(ExitCode::usage,
                "say which rotation: --keep-ca (a host name changed), --new-ca (replace the CA "
                "without downtime) or --emergency (a key compromise)");
  }
  if (r.until && r.mode != Mode::new_ca) {
    return fail(ExitCode::usage,
                "--until applies to --new-ca only: the other rotations have one "
                "phase");
  }
  return {};
}

Result<keyset_dir::Lock> lock_directory(const fs::path& dir) {
  auto lock = keyset_dir::Lock::acquire(dir);
  if (!lock && lock.error().code == ExitCode::refused) {
    return fail(ExitCode::refused,
                "{} is locked: another keyfleet rotate (or create-keys) is working there; "
                "nothing was done",
                dir.string());
  }
  return lock;
}

// "--new-ca, started 2026-11-23T10:00:00Z by root@deploy, at leaf (generation 000005)"
std::string where(const Journal& j) {
  const auto* next = j.next_phase();
  return fmt::format("--{}, started {} by {}{}", to_string(j.mode), j.started, j.by,
                     next != nullptr ? fmt::format(", at {} (generation {})", next->name,
                                                   generation_name(next->generation))
                                     : std::string());
}

// Keeps a finished or abandoned journal under DIR/archive/rotations/ before a new one takes
// its place.
Result<void> archive_journal(const fs::path& dir, const Journal& old) {
  const fs::path rotations = dir / std::string(keyset_dir::archive_dir) / "rotations";
  KF_CHECK(make_dir(dir / std::string(keyset_dir::archive_dir), 0700));
  KF_CHECK(make_dir(rotations, 0700));
  const fs::path to = rotations / (old.id + ".json");
  if (::rename(rotation::journal_path(dir).c_str(), to.c_str()) != 0) {
    return fail_errno(
        fmt::format("cannot move {} to {}", rotation::journal_path(dir).string(), to.string()));
  }
  return fsync_dir(dir);
}

}  // namespace

Result<Rotation> Rotation::open(const RotateRequest& request) {
  KF_CHECK(check_request(request));
  const fs::path& dir = request.keys;
  KF_TRY_ASSIGN(keyset_dir::Lock lock, lock_directory(dir));
  Rotation rotation(request, std::move(lock));
  KF_TRY_ASSIGN(std::optional<Journal> existing, rotation::read_journal(dir));
  if (existing && existing->unfinished()) {
    if (request.abandon) {
      rotation.abandoned_ = *existing;
      rotation.journal_ = *existing;
      if (!request.mode) return rotation;
    } else if (request.mode == existing->mode) {
      rotation.journal_ = std::move(*existing);
      rotation.resumed_ = true;
      return rotation;
    } else {
      return fail(ExitCode::refused,
                  "{}: rotation {} ({}) is unfinished: run rotate --{} to finish it, or add "
                  "--abandon to give it up first",
                  dir.string(), existing->id, where(*existing), to_string(existing->mode));
    }
  } else if (!request.mode) {
    return fail(ExitCode::usage, "--abandon: {} has no unfinished rotation to give up",
                dir.string());
  }

  KF_TRY_ASSIGN(auto state, keyset_dir::inspect(dir));
  if (!state.has_manifest) {
    return fail(ExitCode::usage,
                "{} holds no key set: rotate replaces one (make it with create-keys and push it "
                "first)",
                dir.string());
  }
  if (!state.manifest) return std::unexpected(state.manifest.error());
  const Manifest& current = *state.manifest;
  if (current.imported()) {
    return fail(ExitCode::usage,
                "{}: generation {} is an imported key set: rotate makes keyfleet's TLS key sets",
                dir.string(), current.generation);
  }
  if (request.mode == Mode::new_ca && current.ca_phase && current.ca_phase != CaPhase::retire) {
    return fail(
        ExitCode::refused,
        "{}: generation {} is the {} phase of a CA rotation that no unfinished rotation "
        "continues (it was abandoned): a new CA rotation starts from a key set outside one; "
        "make everything new with rotate --emergency, or put back an earlier set from {}",
        dir.string(), current.generation, to_string(*current.ca_phase),
        (dir / std::string(keyset_dir::archive_dir)).string());
  }
  const std::uint64_t next = std::max(current.generation, state.highest_archived) + 1;
  rotation.journal_ =
      rotation::plan(*request.mode, current, next, operator_name(), std::time(nullptr));
  if (request.until) rotation.journal_.until = std::string(to_string(*request.until));
  rotation.previous_ = existing;
  return rotation;
}

std::string Rotation::describe_plan(std::size_t nodes) const {
  std::vector<std::string> parts;
  if (abandoned_) {
    parts.push_back(fmt::format("abandon rotation {} ({})", abandoned_->id, where(*abandoned_)));
  }
  if (request_.mode) {
    std::string phases;
    for (const auto& p : journal_.phases) {
      if (p.state == PhaseState::done) continue;
      phases += fmt::format("{}{} (generation {})", phases.empty() ? "" : ", ", p.name,
                            generation_name(p.generation));
      if (request_.until && p.name == to_string(*request_.until)) break;
    }
    parts.push_back(fmt::format(
        "{} {} (--{}) on {} node{}: {}",
        resumed_ ? "continue rotation " + journal_.id + " of" : std::string("rotate"),
        request_.keys.string(), to_string(journal_.mode), nodes, nodes == 1 ? "" : "s", phases));
    // What the operator agrees to lose, said before the question: nothing of it comes back.
    if (journal_.mode == Mode::emergency) {
      parts.push_back(
          "purge on every node every older generation, the leftovers of interrupted runs and, "
          "with layout = \"link\", the directories push --adopt kept");
    }
  }
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : ", then ") + part;
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

RotationOutcome Rotation::run(std::span<const NodeConfig> nodes, const bundle::SealKey& key,
                              const FleetRunOptions& run, const RotateHooks& hooks) {
  RotationOutcome outcome;
  const fs::path& dir = request_.keys;
  auto stop = [&](Error error, const Journal& journal) {
    outcome.error = std::move(error);
    outcome.journal = journal;
    return outcome;
  };
  if (abandoned_) {
    Journal given_up = *abandoned_;
    given_up.state = State::abandoned;
    given_up.abandoned = rfc3339_utc(std::time(nullptr));
    given_up.abandoned_by = operator_name();
    if (auto written = rotation::write_journal(dir, given_up); !written) {
      return stop(written.error(), given_up);
    }
    if (!request_.mode) {
      outcome.journal = given_up;
      return outcome;
    }
    previous_ = given_up;
  }
  if (!resumed_ && previous_) {
    if (auto archived = archive_journal(dir, *previous_); !archived) {
      return stop(archived.error(), journal_);
    }
  }
  if (!resumed_) {
    journal_.nodes.clear();
    for (const auto& node : nodes) journal_.nodes.push_back(node.name);
  }
  journal_.state = State::running;
  journal_.until =
      request_.until ? std::optional(std::string(to_string(*request_.until))) : std::nullopt;
  // The plan, with every generation it will make, before the first key set is made.
  if (auto written = rotation::write_journal(dir, journal_); !written) {
    return stop(written.error(), journal_);
  }
  keydir::crash_point("rotate-planned");
  // A phase recorded done whose bundle is still here was interrupted before wiping it.
  for (const auto& p : journal_.phases) {
    const fs::path local = dir / rotate_detail::bundle_name(p.generation);
    if (p.state != PhaseState::done || !fs::exists(fs::symlink_status(local))) continue;
    if (auto wiped = wipe_file(local); !wiped) outcome.warnings.push_back(wiped.error().message);
  }
  rotation::JournalWriter writer(dir, journal_);
  rotate_detail::PhaseContext context{request_, lock_, writer, nodes, key, run, hooks};
  auto interrupted = [&] { return run.schedule.interrupted && run.schedule.interrupted(); };
  for (;;) {
    const Journal now = writer.snapshot();
    const rotation::PhaseRecord* next = now.next_phase();
    if (next == nullptr) {
      auto finished = writer.update([](Journal& j) { j.state = State::finished; });
      if (!finished) outcome.error = finished.error();
      break;
    }
    if (interrupted()) {
      outcome.interrupted = true;
      break;
    }
    if (const auto* stop_after = request_.until ? now.phase(to_string(*request_.until)) : nullptr;
        stop_after != nullptr && stop_after->state == PhaseState::done) {
      // --until names a phase already done: nothing more to do in this run.
      auto paused = writer.update([](Journal& j) { j.state = State::paused; });
      if (!paused) outcome.error = paused.error();
      outcome.paused = true;
      break;
    }
    const std::string name = next->name;
    auto phase = rotate_detail::run_phase(context, name, outcome.warnings);
    if (!phase) {
      outcome.error = phase.error();
      break;
    }
    outcome.phases.push_back(std::move(*phase));
    if (hooks.on_phase_done) hooks.on_phase_done(outcome.phases.back());
    if (interrupted()) {
      outcome.interrupted = true;
      break;
    }
    const Journal after = writer.snapshot();
    const rotation::PhaseRecord* done = after.phase(name);
    if (done == nullptr || done->state != PhaseState::done) break;  // nodes failed or refused
    if (request_.until && name == to_string(*request_.until) && after.next_phase() != nullptr) {
      auto paused = writer.update([](Journal& j) { j.state = State::paused; });
      if (!paused) outcome.error = paused.error();
      outcome.paused = true;
      break;
    }
  }
  outcome.journal = writer.snapshot();
  journal_ = outcome.journal;
  return outcome;
}

}  // namespace kf
