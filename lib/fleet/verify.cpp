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

}  // namespace

NodeResult<NodeInstall> read_install(Remote& remote, const std::string& dest) {
  const keydir::KeyDir dir(dest);
  KF_TRY_ASSIGN(auto state, keydir::read_node_state(remote, dir, {true}, "read"));
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
                     "{}: current points at {}, which has no valid manifest: {}",
                     remote.node_name(), keydir::KeyDir::link_target(current.number),
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

NodeOutcome compare_install(const NodeInstall& install, const Manifest& expected) {
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
  std::vector<ManifestFile> want = expected_files(expected, install);
  std::vector<std::string> problems = diff_files(install.files, want);
  keydir::GenerationState tree;
  tree.directories = install.directories;
  for (auto& d : tree.directory_differences(expected.directories)) problems.push_back(std::move(d));
  for (const auto& name : install.irregular) problems.push_back(name + " (not a regular file)");
  if (!install.manifest) {
    problems.push_back(fmt::format("{} ({})", kManifestName, install.manifest_problem));
  } else if (install.manifest->generation != install.generation ||
             install.manifest->files != want) {
    problems.push_back(fmt::format("{} (differs from the expected manifest)", kManifestName));
  }
  if (problems.empty()) {
    if (install.pending_hooks) return pending(install);
    return {NodeStatus::ok, "compare", "", install.generation, {}};
  }
  return mismatch(install, fmt::format("generation {} differs: {}",
                                       generation_name(install.generation), join(problems)));
}

NodeOutcome verify_node(Remote& remote, const std::string& dest, const Manifest& expected) {
  auto install = read_install(remote, dest);
  if (!install) return NodeOutcome::from_error(install.error());
  return compare_install(*install, expected);
}

namespace {

// What differs between a node's current generation and its own manifest.json: empty for a
// complete generation, the only kind that may set the fleet's reference.
std::vector<std::string> self_check(const NodeInstall& install) {
  if (!install.manifest) return {fmt::format("{} ({})", kManifestName, install.manifest_problem)};
  std::vector<std::string> problems = diff_files(install.files, install.manifest->files);
  for (const auto& name : install.irregular) problems.push_back(name + " (not a regular file)");
  return problems;
}

}  // namespace

std::optional<std::uint64_t> judge_by_majority(
    std::vector<NodeReport>& reports, const std::vector<std::optional<NodeInstall>>& installs) {
  using Key = std::tuple<std::uint64_t, std::vector<InstalledFile>>;
  // Only complete generations vote: nodes edited alike must not outvote an intact one.
  std::map<Key, std::size_t> votes;
  for (const auto& install : installs) {
    if (install && self_check(*install).empty()) {
      ++votes[{install->generation, with_directories(*install)}];
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
      return verify_node(remote, node.dest, *expected);
    });
    return out;
  }
  auto read = run_on_nodes<NodeInstall>(
      nodes, run, [](Remote& remote, const NodeConfig& node, std::optional<NodeInstall>& value) {
        auto install = read_install(remote, node.dest);
        if (!install) return NodeOutcome::from_error(install.error());
        NodeOutcome outcome{NodeStatus::ok, "read", "", install->generation};
        value = std::move(*install);
        return outcome;
      });
  out.nodes = std::move(read.reports);
  out.generation = judge_by_majority(out.nodes, read.values);
  return out;
}

}  // namespace kf
