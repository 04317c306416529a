#include "fleet/verify.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "bundle/bundle.hpp"
#include "core/secret.hpp"
#include "keydir/layout.hpp"

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

NodeOutcome mismatch(const NodeInstall& install, std::string why) {
  return {NodeStatus::mismatch, "compare", std::move(why), install.generation};
}

}  // namespace

NodeResult<NodeInstall> read_install(Remote& remote, const std::string& dest) {
  const std::string current = dest + "/" + std::string(layout::current_link);
  auto link = KF_TRY(remote.lstat(current));
  if (!link) {
    return node_fail(NodeStatus::missing, "read", "{}: no key set installed: {} does not exist",
                     remote.node_name(), current);
  }
  if (link->type != FileType::symlink) {
    return node_fail(NodeStatus::mismatch, "read", "{}: {} is not a symlink", remote.node_name(),
                     current);
  }
  std::string target = KF_TRY(remote.readlink(current));
  std::string_view prefix = layout::generations_dir;
  std::optional<std::uint64_t> generation;
  if (target.size() == prefix.size() + 7 && target.starts_with(prefix) &&
      target[prefix.size()] == '/') {
    generation = parse_generation_name(std::string_view(target).substr(prefix.size() + 1));
  }
  if (!generation) {
    return node_fail(NodeStatus::mismatch, "read",
                     "{}: {} points at '{}', not at generations/NNNNNN", remote.node_name(),
                     current, target);
  }
  NodeInstall install;
  install.generation = *generation;
  const std::string dir = dest + "/" + target;
  auto entries = remote.list_dir(dir);
  if (!entries) {
    if (entries.error().status != NodeStatus::failed) return std::unexpected(entries.error());
    return node_fail(NodeStatus::missing, "read", "{}: {} points at {}, which cannot be listed: {}",
                     remote.node_name(), current, dir, entries.error().message);
  }
  std::sort(entries->begin(), entries->end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  for (const auto& entry : *entries) {
    if (entry.stat.type != FileType::regular) {
      install.irregular.push_back(entry.name);
      continue;
    }
    auto bytes = KF_TRY(remote.read_file(dir + "/" + entry.name, bundle::kMaxEntrySize));
    // Key material: wiped from memory as soon as it is hashed.
    SecretBytes data(bytes.begin(), bytes.end());
    cleanse(bytes.data(), bytes.size());
    if (entry.name == kManifestName) {
      auto parsed =
          parse_manifest(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()),
                         dir + "/" + std::string(kManifestName));
      if (parsed) {
        install.manifest = std::move(*parsed);
      } else {
        install.manifest_problem = parsed.error().message;
      }
      continue;
    }
    install.files.push_back(
        {entry.name, data.size(), static_cast<mode_t>(entry.stat.mode & 07777), sha256_hex(data)});
  }
  if (!install.manifest && install.manifest_problem.empty()) {
    install.manifest_problem = fmt::format("{} has no {}", dir, kManifestName);
  }
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
  for (const auto& name : install.irregular) problems.push_back(name + " (not a regular file)");
  if (!install.manifest) {
    problems.push_back(fmt::format("{} ({})", kManifestName, install.manifest_problem));
  } else if (install.manifest->generation != install.generation ||
             install.manifest->files != want) {
    problems.push_back(fmt::format("{} (differs from the expected manifest)", kManifestName));
  }
  if (problems.empty()) return {NodeStatus::ok, "compare", "", install.generation};
  return mismatch(install, fmt::format("generation {} differs: {}",
                                       generation_name(install.generation), join(problems)));
}

NodeOutcome verify_node(Remote& remote, const std::string& dest, const Manifest& expected) {
  auto install = read_install(remote, dest);
  if (!install) return NodeOutcome::from_error(install.error());
  return compare_install(*install, expected);
}

std::optional<std::uint64_t> judge_by_majority(
    std::vector<NodeReport>& reports, const std::vector<std::optional<NodeInstall>>& installs) {
  using Key = std::tuple<std::uint64_t, std::vector<InstalledFile>>;
  std::map<Key, std::size_t> votes;
  for (const auto& install : installs) {
    if (install) ++votes[{install->generation, install->files}];
  }
  if (votes.empty()) return std::nullopt;
  auto best = votes.begin();
  for (auto it = votes.begin(); it != votes.end(); ++it) {
    if (it->second > best->second ||
        (it->second == best->second && std::get<0>(it->first) > std::get<0>(best->first))) {
      best = it;
    }
  }
  const auto& [generation, files] = best->first;
  for (std::size_t i = 0; i < reports.size() && i < installs.size(); ++i) {
    if (!installs[i]) continue;
    const NodeInstall& install = *installs[i];
    NodeReport& report = reports[i];
    report.generation = install.generation;
    report.step = "compare";
    std::vector<std::string> problems;
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
    } else {
      for (const auto& f : files) {
        auto it = std::find_if(install.files.begin(), install.files.end(),
                               [&](const InstalledFile& g) { return g.name == f.name; });
        if (it == install.files.end()) {
          problems.push_back(f.name + " (missing)");
        } else if (*it != f) {
          problems.push_back(f.name + " (differs from most nodes)");
        }
      }
      for (const auto& g : install.files) {
        if (std::none_of(files.begin(), files.end(),
                         [&](const InstalledFile& f) { return f.name == g.name; })) {
          problems.push_back(g.name + " (not on most nodes)");
        }
      }
    }
    for (const auto& name : install.irregular) problems.push_back(name + " (not a regular file)");
    if (problems.empty()) {
      report.status = NodeStatus::ok;
      report.error.clear();
    } else {
      report.status = NodeStatus::mismatch;
      report.error = join(problems);
    }
  }
  return generation;
}

}  // namespace kf
