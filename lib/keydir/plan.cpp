#include "keydir/plan.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kf::keydir {
namespace {

Plan make(Action action, std::string reason = {}) {
  Plan plan;
  plan.action = action;
  plan.reason = std::move(reason);
  return plan;
}

// Why the generation `current` names cannot be used as it is; empty when it can.
std::string broken_current(const NodeState& state) {
  switch (state.current_kind) {
    case CurrentKind::absent:
      return fmt::format("{} missing while generations exist", state.link_name);
    case CurrentKind::generation:
      break;
    default:
      return state.describe_current();
  }
  const GenerationState& current = *state.current_generation();
  if (!current.manifest) {
    return fmt::format("{} points at {}, which has no valid manifest: {}", state.link_name,
                       state.current_text, current.problem);
  }
  return {};
}

// The generations of another key set than the bundle's (their manifests say so).
std::vector<std::uint64_t> foreign(const NodeState& state, const BundleIdentity& bundle) {
  std::vector<std::uint64_t> out;
  for (const auto& g : state.generations) {
    if (g.manifest && !same_keyset(*g.manifest, bundle)) out.push_back(g.number);
  }
  return out;
}

std::string keyset_name(const Manifest& manifest) {
  return manifest.keyset.empty() ? fmt::format("CA {}", manifest.ca_fingerprint)
                                 : fmt::format("key set {}", manifest.keyset);
}

}  // namespace

BundleIdentity BundleIdentity::of(const Manifest& manifest, const GenerationContent& content) {
  return {manifest.keyset, manifest.ca_fingerprint, content.number, content.manifest_sha256};
}

bool same_keyset(const Manifest& node_manifest, const BundleIdentity& bundle) {
  if (!node_manifest.keyset.empty() && !bundle.keyset.empty()) {
    return node_manifest.keyset == bundle.keyset;
  }
  return node_manifest.ca_fingerprint == bundle.ca_fingerprint;
}

std::string_view to_string(Action action) {
  switch (action) {
    case Action::install:
      return "install";
    case Action::repair:
      return "repair";
    case Action::reactivate:
      return "reactivate";
    case Action::unchanged:
      return "unchanged";
    case Action::conflict:
      return "conflict";
    case Action::downgrade:
      return "downgrade";
    case Action::unmanaged:
      return "unmanaged";
  }
  return "install";
}

Plan decide(const NodeState& state, const BundleIdentity& bundle, const DecideOptions& options) {
  // 0. DEST is not keyfleet's: refused, or with --adopt decided as if it were not there.
  if (state.current_kind == CurrentKind::unmanaged) {
    std::string found = state.describe_current();
    if (!options.adopt) return make(Action::unmanaged, std::move(found));
    NodeState without = state;
    without.current_kind = CurrentKind::absent;
    without.current_text.clear();
    DecideOptions rest = options;
    rest.adopt = false;
    Plan plan = decide(without, bundle, rest);
    plan.adopt = true;
    plan.reason = plan.reason.empty() ? std::move(found) : found + "; " + plan.reason;
    return plan;
  }
  const std::uint64_t g = bundle.generation;
  const GenerationState* target = state.generation(g);
  // A generations/G that is not B is replaced; whether it is, is known from its content alone.
  const bool target_is_bundle =
      target != nullptr && target->manifest_sha256 == bundle.manifest_sha256;
  const bool target_intact = target_is_bundle && target->complete();

  // 1. Nothing installed.
  if (!state.dest_exists ||
      (state.generations.empty() && state.current_kind == CurrentKind::absent)) {
    return make(Action::install);
  }

  // 2. `current` is not a link to a real generation with a valid manifest: its number (if any)
  // means nothing, so it is never compared.
  if (std::string why = broken_current(state); !why.empty()) {
    Plan plan = make(Action::repair, std::move(why));
    plan.replace_existing = target != nullptr && !target_intact;
    // A broken `current` may still point at generations/G (without a valid manifest).
    plan.replace_current = plan.replace_existing && state.current == g;
    return plan;
  }
  const GenerationState& current = *state.current_generation();
  const Manifest& installed = *current.manifest;

  // 3. current is G.
  if (current.number == g) {
    if (current.manifest_sha256 == bundle.manifest_sha256) {
      std::vector<std::string> differences = current.differences(installed.files);
      if (differences.empty()) return make(Action::unchanged);
      Plan plan =
          make(Action::repair, fmt::format("generation {} differs from its manifest: {}",
                                           generation_name(g), fmt::join(differences, ", ")));
      plan.replace_existing = plan.replace_current = true;
      return plan;
    }
    std::string why =
        same_keyset(installed, bundle)
            ? fmt::format(
                  "current is generation {} of this key set with another manifest "
                  "(SHA-256 {}, the bundle's is {}): two key sets made from copies of "
                  "one directory?",
                  generation_name(g), current.manifest_sha256, bundle.manifest_sha256)
            : fmt::format("current is generation {} of another key set ({})", generation_name(g),
                          keyset_name(installed));
    if (!options.replace_keyset) return make(Action::conflict, std::move(why));
    Plan plan = make(Action::install, std::move(why));
    plan.replace_existing = plan.replace_current = true;
    plan.foreign_generations = foreign(state, bundle);
    return plan;
  }

  // 4. Another key set.
  Plan plan = make(Action::install);
  if (!same_keyset(installed, bundle)) {
    std::string why = fmt::format("current is generation {} of another key set ({})",
                                  generation_name(current.number), keyset_name(installed));
    if (!options.replace_keyset) return make(Action::conflict, std::move(why));
    plan.reason = std::move(why);
    plan.foreign_generations = foreign(state, bundle);
  } else if (current.number > g && !options.allow_downgrade) {
    // 5. A downgrade.
    return make(Action::downgrade,
                fmt::format("current is generation {}, newer than the bundle's {}",
                            generation_name(current.number), generation_name(g)));
  }
  plan.previous = current.number;

  // 6. G is there intact: switch back to it.
  if (target_intact) {
    plan.action = Action::reactivate;
    plan.reason = fmt::format("generation {} is there intact; current was {}", generation_name(g),
                              generation_name(current.number));
    return plan;
  }
  // 7. Install, replacing a damaged or different generations/G.
  if (target != nullptr && !target_intact) {
    plan.replace_existing = true;
    if (plan.reason.empty()) {
      plan.reason = fmt::format("{} was there and is replaced: {}", target->path,
                                target_is_bundle ? "damaged" : "it holds another manifest");
    }
  }
  return plan;
}

NodeResult<NodeState> read_for_plan(Remote& remote, const KeyDir& dir, std::uint64_t generation,
                                    const std::string& step, DestLock* holder,
                                    Manifests manifests) {
  // decide() looks at files only where the bundle's generation G is: generations/G, which is
  // `current` too when current is G. Another current is left or replaced whatever its files hold.
  // Pruning and removals go by numbers, so nothing reads another manifest but foreign()'s search.
  KF_TRY_ASSIGN(NodeState state,
                read_node_state(remote, dir,
                                {false, holder,
                                 manifests == Manifests::all ? Manifests::all : Manifests::current},
                                step));
  GenerationState* target = state.generation(generation);
  if (target == nullptr) return state;
  if (manifests != Manifests::all) KF_CHECK(read_manifest_of(remote, *target, step));
  if (!target->files_read) {
    if (auto read = read_files(remote, *target, holder); !read) {
      return std::unexpected(at_step(read.error(), step));
    }
  }
  return state;
}

}  // namespace kf::keydir
