#include "fleet/verify.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "core/escape.hpp"

namespace kf {
namespace {

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

// What differs between the files a node holds and the ones it should hold, one phrase per file.
std::vector<std::string> diff_files(const std::vector<InstalledFile>& actual,
                                    const std::vector<ManifestFile>& expected) {
  std::vector<std::string> problems;
  for (const auto& want : expected) {
    auto it = std::find_if(actual.begin(), actual.end(),
                           [&](const InstalledFile& f) { return f.name == want.name; });
    if (it == actual.end()) {
      problems.push_back(want.name + " (missing)");
    } else if (it->size != want.size) {
      problems.push_back(fmt::format("{} (size {} instead of {})", want.name, it->size, want.size));
    } else if (it->sha256 != want.sha256) {
      problems.push_back(want.name + " (digest differs)");
    } else if (it->mode != want.mode) {
      problems.push_back(
          fmt::format("{} (mode {:04o} instead of {:04o})", want.name, it->mode, want.mode));
    }
  }
  for (const auto& have : actual) {
    bool listed = std::any_of(expected.begin(), expected.end(),
                              [&](const ManifestFile& f) { return f.name == have.name; });
    if (!listed) problems.push_back(have.name + " (not in the manifest)");
  }
  return problems;
}

NodeOutcome pending(const NodeInstall& install) {
  return {NodeStatus::pending_hooks,
          "compare",
          fmt::format("generation {} is installed, but the post/check hooks of the switch to it "
                      "never ran (DEST/.pending): the next push or rollback runs them",
                      generation_name(install.generation)),
          install.generation,
          {}};
}

// Files and directories as one list for a vote: a directory is an entry "name/" with its mode.
std::vector<InstalledFile> with_directories(const NodeInstall& install) {
  std::vector<InstalledFile> all = install.files;
  for (const auto& d : install.directories) all.push_back({d.name + "/", 0, d.mode, ""});
  std::sort(all.begin(), all.end());
  return all;
}

NodeOutcome mismatch(const NodeInstall& install, std::string why) {
  return {NodeStatus::mismatch, "compare", std::move(why), install.generation};
}

// What is never compared: the node's runtime files and what the manifest excludes.
std::vector<PathPattern> ignored_with(const NodeInstall& install, const Manifest* manifest) {
  std::vector<PathPattern> out = install.ignored;
  if (manifest != nullptr) {
    // parse_manifest checked every pattern.
    if (auto excluded = parse_patterns(manifest->exclude, "exclude")) {
      for (auto& p : *excluded) out.push_back(std::move(p));
    }
  }
  return out;
}

template <class T>
std::vector<T> kept(const std::vector<T>& items, std::span<const PathPattern> ignored, bool dirs) {
  std::vector<T> out;
  for (const auto& item : items) {
    if (!excluded(ignored, item.name, dirs)) out.push_back(item);
  }
  return out;
}

// `install` without what `ignored` leaves out.
NodeInstall without(NodeInstall install, std::span<const PathPattern> ignored) {
  install.files = kept(install.files, ignored, false);
  install.directories = kept(install.directories, ignored, true);
  std::erase_if(install.irregular,
                [&](const std::string& name) { return excluded(ignored, name, false); });
  return install;
}

// An unmanaged directory against the files and directories it should hold (`against` says
// whose: "of the manifest", "most nodes hold").
NodeOutcome compare_content(const NodeInstall& content, const std::vector<ManifestFile>& want,
                            const std::vector<ManifestDirectory>& want_dirs,
                            std::uint64_t generation, std::string_view against) {
  std::vector<std::string> problems = diff_files(content.files, want);
  keydir::GenerationState tree;
  tree.directories = content.directories;
  for (auto& d : tree.directory_differences(want_dirs)) problems.push_back(std::move(d));
  for (const auto& name : content.irregular) problems.push_back(name + " (not a regular file)");
  if (!problems.empty()) {
    return {NodeStatus::mismatch,
            "compare",
            fmt::format("{} (a directory keyfleet does not manage) differs from generation {} {}: "
                        "{}",
                        content.path, generation_name(generation), against,
                        escape_untrusted(join(problems), 2000)),
            std::nullopt,
            {}};
  }
  return {NodeStatus::ok, "compare", "", std::nullopt,
          fmt::format("{} is a directory keyfleet does not manage (unmanaged): its files match "
                      "generation {} {}",
                      content.path, generation_name(generation), against)};
}

}  // namespace

NodeResult<NodeInstall> read_install(Remote& remote, const keydir::KeyDir& dir,
                                     keydir::DestLock* holder, keydir::NodeState* state_read) {
  // Only the manifest of the generation compared: the others play no part in verify.
  KF_TRY_ASSIGN(auto state, keydir::read_node_state(
                                remote, dir, {true, holder, keydir::Manifests::current}, "read"));
  if (state_read != nullptr) *state_read = state;
  if (state.current_kind == keydir::CurrentKind::unmanaged) {
    if (state.current_type == FileType::regular || state.current_type == FileType::other) {
      return node_fail(NodeStatus::missing, "read",
                       "{}: no key set installed: {} is not a directory", remote.node_name(),
                       dir.current());
    }
    // The source of a pull, or a service's own directory before push --adopt: by content.
    KF_TRY_ASSIGN(auto tree, keydir::read_unmanaged(remote, dir, "read", holder));
    NodeInstall install;
    install.unmanaged = true;
    install.path = dir.current();
    install.files = std::move(tree.files);
    install.directories = std::move(tree.directories);
    install.irregular = std::move(tree.irregular);
    install.ignored = dir.runtime();
    return install;
  }
  if (state.current_kind == keydir::CurrentKind::absent) {
    if (state.generations.empty()) {
      return node_fail(NodeStatus::missing, "read", "{}: no key set installed: {} does not exist",
                       remote.node_name(), dir.current());
    }
    return node_fail(NodeStatus::damaged, "read",
                     "{}: {} is missing while {} holds generations: run keyfleet push to repair it",
                     remote.node_name(), dir.current(), dir.generations());
  }
  if (state.current_kind != keydir::CurrentKind::generation) {
    return node_fail(NodeStatus::damaged, "read", "{}: {}: run keyfleet push to repair it",
                     remote.node_name(), escape_untrusted(state.describe_current()));
  }
  const keydir::GenerationState& current = *state.current_generation();
  if (!current.manifest) {
    return node_fail(NodeStatus::damaged, "read",
                     "{}: {} points at {}, which has no valid manifest: {}", remote.node_name(),
                     state.link_name, escape_untrusted(state.current_text),
                     escape_untrusted(current.problem));
  }
  NodeInstall install;
  install.generation = current.number;
  install.manifest = current.manifest;
  install.manifest_problem = current.problem;
  install.files = current.files;
  install.directories = current.directories;
  install.irregular = current.irregular;
  install.pending_hooks = state.pending.has_value() || state.pending_unreadable;
  install.path = current.path;
  install.ignored = dir.runtime();
  return install;
}

std::vector<ManifestFile> expected_files(const Manifest& expected, const NodeInstall& install) {
  std::vector<ManifestFile> files = expected.files;
  bool node_lacks_ca_key =
      install.manifest && install.manifest->find(keyset_files::ca_key) == nullptr;
  if (node_lacks_ca_key) {
    std::erase_if(files, [](const ManifestFile& f) { return f.name == keyset_files::ca_key; });
  }
  return files;
}

NodeOutcome compare_install(const NodeInstall& found, const Manifest& expected) {
  const std::vector<PathPattern> ignored = ignored_with(found, &expected);
  const NodeInstall install = without(found, ignored);
  const std::vector<ManifestFile> want = kept(expected_files(expected, install), ignored, false);
  const std::vector<ManifestDirectory> want_dirs = kept(expected.directories, ignored, true);
  if (install.unmanaged) {
    return compare_content(install, want, want_dirs, expected.generation, "of the manifest");
  }
  if (install.generation < expected.generation) {
    return {NodeStatus::stale, "compare",
            fmt::format("holds generation {}, older than the expected {}",
                        generation_name(install.generation), generation_name(expected.generation)),
            install.generation};
  }
  if (install.generation > expected.generation) {
    return mismatch(install, fmt::format("holds generation {}, newer than the expected {}",
                                         generation_name(install.generation),
                                         generation_name(expected.generation)));
  }
  std::vector<std::string> problems = diff_files(install.files, want);
  keydir::GenerationState tree;
  tree.directories = install.directories;
  for (auto& d : tree.directory_differences(want_dirs)) problems.push_back(std::move(d));
  for (const auto& name : install.irregular) problems.push_back(name + " (not a regular file)");
  if (!install.manifest) {
    problems.push_back(fmt::format("{} ({})", kManifestName, install.manifest_problem));
  } else if (install.manifest->generation != install.generation ||
             kept(expected_files(*install.manifest, install), ignored, false) != want) {
    problems.push_back(fmt::format("{} (differs from the expected manifest)", kManifestName));
  }
  if (problems.empty()) {
    if (install.pending_hooks) return pending(install);
    return {NodeStatus::ok, "compare", "", install.generation, {}};
  }
  return mismatch(install, fmt::format("generation {} differs: {}",
                                       generation_name(install.generation), join(problems)));
}

NodeOutcome verify_node(Remote& remote, const keydir::KeyDir& dir, const Manifest& expected,
                        keydir::DestLock* holder, keydir::NodeState* state_read) {
  auto install = read_install(remote, dir, holder, state_read);
  if (!install) return NodeOutcome::from_error(install.error());
  return compare_install(*install, expected);
}

namespace {

// What differs between a node's current generation and its own manifest.json: empty for a
// complete generation, the only kind that may set the fleet's reference.
std::vector<std::string> self_check(const NodeInstall& install) {
  if (!install.manifest) return {fmt::format("{} ({})", kManifestName, install.manifest_problem)};
  std::vector<std::string> problems =
      diff_files(install.files, kept(install.manifest->files, install.ignored, false));
  for (const auto& name : install.irregular) problems.push_back(name + " (not a regular file)");
  return problems;
}

// An unmanaged directory against the generation most nodes hold (`reference`, one of them; none
// when no node holds a complete generation), by content.
NodeOutcome judge_unmanaged(const NodeInstall& install, const NodeInstall* reference) {
  if (reference == nullptr) {
    return {NodeStatus::mismatch, "compare",
            fmt::format("{} is a directory keyfleet does not manage, and no node holds a "
                        "complete generation to compare it with",
                        install.path),
            std::nullopt};
  }
  const std::vector<PathPattern> ignored =
      ignored_with(install, reference->manifest ? &*reference->manifest : nullptr);
  const NodeInstall expected = without(*reference, ignored);
  std::vector<ManifestFile> want;
  want.reserve(expected.files.size());
  for (const auto& f : expected.files) want.push_back({f.name, f.size, f.mode, f.sha256});
  return compare_content(without(install, ignored), want, expected.directories,
                         reference->generation, "most nodes hold");
}

}  // namespace

std::optional<std::uint64_t> judge_by_majority(
    std::vector<NodeReport>& reports, const std::vector<std::optional<NodeInstall>>& installs) {
  using Key = std::tuple<std::uint64_t, std::vector<InstalledFile>>;
  // Only complete generations vote: nodes edited alike must not outvote an intact one.
  std::map<Key, std::size_t> votes;
  std::map<Key, const NodeInstall*> voter;  // one of them, for its manifest
  for (const auto& install : installs) {
    if (install && !install->unmanaged && self_check(*install).empty()) {
      Key key{install->generation, with_directories(*install)};
      ++votes[key];
      voter.emplace(key, &*install);
    }
  }
  std::optional<Key> reference;
  std::size_t most = 0;
  for (const auto& [key, count] : votes) {
    // Ascending keys: a tie goes to the newer generation.
    if (count > most || (count == most && std::get<0>(key) > std::get<0>(*reference))) {
      reference = key;
      most = count;
    }
  }
  for (std::size_t i = 0; i < reports.size() && i < installs.size(); ++i) {
    if (!installs[i]) continue;
    const NodeInstall& install = *installs[i];
    NodeReport& report = reports[i];
    if (install.unmanaged) {
      NodeOutcome judged = judge_unmanaged(install, reference ? voter.at(*reference) : nullptr);
      report.status = judged.status;
      report.step = judged.step;
      report.error = judged.error;
      report.generation = std::nullopt;
      report.detail = judged.detail;
      continue;
    }
    report.generation = install.generation;
    report.step = "compare";
    std::vector<std::string> problems;
    if (std::vector<std::string> own = self_check(install); !own.empty()) {
      problems.push_back(fmt::format("generation {} differs from its manifest: {}",
                                     generation_name(install.generation), join(own)));
    }
    if (!reference) {
      report.status = problems.empty() ? NodeStatus::ok : NodeStatus::mismatch;
      report.error = join(problems);
      continue;
    }
    const auto& [generation, files] = *reference;
    if (install.generation < generation) {
      report.status = NodeStatus::stale;
      report.error = fmt::format("holds generation {}, older than the {} most nodes hold",
                                 generation_name(install.generation), generation_name(generation));
      continue;
    }
    if (install.generation > generation) {
      problems.push_back(fmt::format("generation {} instead of the {} most nodes hold",
                                     generation_name(install.generation),
                                     generation_name(generation)));
    } else if (problems.empty()) {
      const std::vector<InstalledFile> mine = with_directories(install);
      for (const auto& f : files) {
        auto it = std::find_if(mine.begin(), mine.end(),
                               [&](const InstalledFile& g) { return g.name == f.name; });
        if (it == mine.end()) {
          problems.push_back(f.name + " (missing)");
        } else if (*it != f) {
          problems.push_back(f.name + " (differs from most nodes)");
        }
      }
      for (const auto& g : mine) {
        if (std::none_of(files.begin(), files.end(),
                         [&](const InstalledFile& f) { return f.name == g.name; })) {
          problems.push_back(g.name + " (not on most nodes)");
        }
      }
    }
    if (problems.empty() && install.pending_hooks) {
      NodeOutcome owed = pending(install);
      report.status = owed.status;
      report.error = owed.error;
    } else if (problems.empty()) {
      report.status = NodeStatus::ok;
      report.error.clear();
    } else {
      report.status = NodeStatus::mismatch;
      report.error = join(problems);
    }
  }
  if (!reference) return std::nullopt;
  return std::get<0>(*reference);
}

FleetVerification verify_fleet(std::span<const NodeConfig> nodes,
                               const std::optional<Manifest>& expected,
                               const FleetRunOptions& run) {
  FleetVerification out;
  if (expected) {
    out.generation = expected->generation;
    out.nodes = run_on_nodes(nodes, run, [&](Remote& remote, const NodeConfig& node) {
      return verify_node(remote, keydir::KeyDir::of(node), *expected);
    });
    return out;
  }
  auto read = run_on_nodes<NodeInstall>(
      nodes, run, [](Remote& remote, const NodeConfig& node, std::optional<NodeInstall>& value) {
        auto install = read_install(remote, keydir::KeyDir::of(node));
        if (!install) return NodeOutcome::from_error(install.error());
        NodeOutcome outcome{
            NodeStatus::ok, "read", "",
            install->unmanaged ? std::nullopt : std::optional<std::uint64_t>(install->generation)};
        value = std::move(*install);
        return outcome;
      });
  out.nodes = std::move(read.reports);
  out.generation = judge_by_majority(out.nodes, read.values);
  return out;
}

}  // namespace kf
