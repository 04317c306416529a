#include "keydir/node_state.hpp"

#include <algorithm>
#include <map>

#include "bundle/bundle.hpp"
#include "core/secret.hpp"
#include "pki/keyset_path.hpp"

namespace kf::keydir {
namespace {

// A manifest is a few KiB; anything near this is not one.
constexpr std::size_t kMaxManifestSize = std::size_t{1} << 20;

std::string_view as_text(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

NodeResult<void> read_manifest(Remote& remote, GenerationState& generation) {
  const std::string path = join_path(generation.path, kManifestName);
  // Read first, looked at only when that fails: every read refuses what is not a regular file,
  // and a push or rotation reads the node's state several times, most of them every manifest.
  auto read = remote.read_file(path, kMaxManifestSize);
  if (!read) {
    KF_TRY_ASSIGN(auto st, remote.lstat(path));
    if (!st) {
      generation.problem = fmt::format("{} has no {}", generation.path, kManifestName);
      return {};
    }
    if (st->type != FileType::regular) {
      generation.problem = fmt::format("{} is not a regular file", path);
      return {};
    }
    return std::unexpected(read.error());
  }
  const std::vector<std::uint8_t>& bytes = *read;
  generation.manifest_sha256 = sha256_hex(bytes);
  auto parsed = parse_manifest(as_text(bytes), path);
  if (!parsed) {
    generation.problem = parsed.error().message;
  } else if (parsed->generation != generation.number) {
    generation.problem = fmt::format("{} says generation {}, its directory is {}", path,
                                     parsed->generation, generation_name(generation.number));
  } else {
    // parse_manifest checked every pattern.
    if (auto excluded = parse_patterns(parsed->exclude, "exclude")) {
      for (auto& p : *excluded) generation.ignored.push_back(std::move(p));
    }
    generation.manifest = std::move(*parsed);
  }
  return {};
}

}  // namespace

bool GenerationState::complete() const {
  if (!manifest || !files_read || !irregular.empty()) return false;
  return differences(manifest->files).empty();
}

bool GenerationState::ignores(std::string_view name, bool is_directory) const {
  return excluded(ignored, name, is_directory);
}

std::vector<std::string> GenerationState::directory_differences(
    const std::vector<ManifestDirectory>& want) const {
  std::vector<std::string> out;
  for (const auto& w : want) {
    if (ignores(w.name, true)) continue;
    auto it = std::find_if(directories.begin(), directories.end(),
                           [&](const ManifestDirectory& d) { return d.name == w.name; });
    if (it == directories.end()) {
      out.push_back(w.name + "/ (missing)");
    } else if (it->mode != w.mode) {
      out.push_back(fmt::format("{}/ (mode {:04o} instead of {:04o})", w.name, it->mode, w.mode));
    }
  }
  for (const auto& d : directories) {
    bool listed = std::any_of(want.begin(), want.end(),
                              [&](const ManifestDirectory& w) { return w.name == d.name; });
    if (!listed) out.push_back(d.name + "/ (not in the manifest)");
  }
  return out;
}

std::vector<std::string> GenerationState::differences(const std::vector<ManifestFile>& want) const {
  std::vector<std::string> out;
  for (const auto& w : want) {
    if (ignores(w.name, false)) continue;
    auto it = std::find_if(files.begin(), files.end(),
                           [&](const InstalledFile& f) { return f.name == w.name; });
    if (it == files.end()) {
      out.push_back(w.name + " (missing)");
    } else if (it->size != w.size) {
      out.push_back(fmt::format("{} (size {} instead of {})", w.name, it->size, w.size));
    } else if (it->sha256 != w.sha256) {
      out.push_back(w.name + " (digest differs)");
    } else if (it->mode != w.mode) {
      out.push_back(fmt::format("{} (mode {:04o} instead of {:04o})", w.name, it->mode, w.mode));
    }
  }
  for (const auto& f : files) {
    bool listed = std::any_of(want.begin(), want.end(),
                              [&](const ManifestFile& w) { return w.name == f.name; });
    if (!listed) out.push_back(f.name + " (not in the manifest)");
  }
  for (const auto& name : irregular) out.push_back(name + " (not a regular file)");
  // The directories are the generation's own manifest's business: `want` lists files only.
  if (manifest) {
    for (auto& d : directory_differences(manifest->directories)) out.push_back(std::move(d));
  }
  return out;
}

const GenerationState* NodeState::generation(std::uint64_t number) const {
  for (const auto& g : generations) {
    if (g.number == number) return &g;
  }
  return nullptr;
}

GenerationState* NodeState::generation(std::uint64_t number) {
  for (auto& g : generations) {
    if (g.number == number) return &g;
  }
  return nullptr;
}

const GenerationState* NodeState::current_generation() const {
  return current ? generation(*current) : nullptr;
}

std::string NodeState::describe_current() const {
  switch (current_kind) {
    case CurrentKind::absent:
      return fmt::format("no {}", link_name);
    case CurrentKind::generation:
      return current_text;
    case CurrentKind::dangling:
      return fmt::format("{} is a dangling link to '{}'", link_name, current_text);
    case CurrentKind::not_symlink:
      return fmt::format("{} is not a symlink", link_name);
    case CurrentKind::foreign:
      return fmt::format("{} points at '{}', not at a generation directory", link_name,
                         current_text);
    case CurrentKind::unmanaged:
      if (current_type == FileType::symlink) {
        return fmt::format("{} is a link to '{}', not one keyfleet made", link_name, current_text);
      }
      return fmt::format("{} is a {} keyfleet does not manage", link_name,
                         current_type == FileType::directory ? "real directory" : "file");
  }
  return "";
}

namespace {

// A regular file of the generation, listed but not hashed yet.
struct Listed {
  std::string name;
  std::uint64_t size = 0;
  mode_t mode = 0;
};

NodeResult<void> list_tree(Remote& remote, GenerationState& generation, const std::string& prefix,
                           std::size_t depth, std::vector<Listed>& files) {
  const std::string dir = prefix.empty() ? generation.path : join_path(generation.path, prefix);
  KF_TRY_ASSIGN(auto entries, remote.list_dir(dir));
  for (const auto& entry : entries) {
    const std::string name = prefix.empty() ? entry.name : prefix + "/" + entry.name;
    if (generation.managed && name == kManifestName) continue;
    if (generation.ignores(name, entry.stat.type == FileType::directory)) continue;
    const auto mode = static_cast<mode_t>(entry.stat.mode & 07777);
    if (entry.stat.type == FileType::directory && depth < kMaxPathDepth) {
      generation.directories.push_back({name, mode});
      KF_CHECK(list_tree(remote, generation, name, depth + 1, files));
      continue;
    }
    if (entry.stat.type != FileType::regular || depth >= kMaxPathDepth) {
      generation.irregular.push_back(name);
      continue;
    }
    files.push_back({name, entry.stat.size, mode});
  }
  return {};
}

NodeResult<InstalledFile> read_back(Remote& remote, const GenerationState& generation,
                                    const Listed& file) {
  KF_TRY_ASSIGN(auto bytes,
                remote.read_file(join_path(generation.path, file.name), bundle::kMaxEntrySize));
  // Key material: wiped from memory as soon as it is hashed.
  SecretBytes data(bytes.begin(), bytes.end());
  cleanse(bytes.data(), bytes.size());
  return InstalledFile{file.name, data.size(), file.mode, sha256_hex(data)};
}

// The holder's digests of the files no larger than a bundle entry can be (a larger one is read
// back, which refuses it as before): by path.
NodeResult<std::map<std::string, std::string>> hashed_on_node(DestLock* holder,
                                                              const GenerationState& generation,
                                                              const std::vector<Listed>& files) {
  if (holder == nullptr || files.empty()) return std::map<std::string, std::string>{};
  std::vector<std::string> paths;
  for (const auto& file : files) {
    if (file.size <= bundle::kMaxEntrySize) paths.push_back(join_path(generation.path, file.name));
  }
  return holder->sha256_files(paths);
}

}  // namespace

NodeResult<void> read_manifest_of(Remote& remote, GenerationState& generation,
                                  const std::string& step) {
  if (generation.manifest || !generation.problem.empty() || !generation.manifest_sha256.empty()) {
    return {};
  }
  if (auto read = read_manifest(remote, generation); !read) {
    return std::unexpected(at_step(read.error(), step));
  }
  return {};
}

NodeResult<void> read_files(Remote& remote, GenerationState& generation, DestLock* holder) {
  generation.files.clear();
  generation.directories.clear();
  generation.irregular.clear();
  std::vector<Listed> listed;
  KF_CHECK(list_tree(remote, generation, "", 0, listed));
  KF_TRY_ASSIGN(auto digests, hashed_on_node(holder, generation, listed));
  for (const auto& file : listed) {
    // The size is the listing's, the digest sha256sum's a moment later: a file that changed in
    // between differs from its manifest either way.
    auto hashed = digests.find(join_path(generation.path, file.name));
    if (hashed != digests.end()) {
      generation.files.push_back({file.name, file.size, file.mode, hashed->second});
      continue;
    }
    KF_TRY_ASSIGN(auto read, read_back(remote, generation, file));
    generation.files.push_back(std::move(read));
  }
  std::sort(generation.files.begin(), generation.files.end());
  std::sort(generation.directories.begin(), generation.directories.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::sort(generation.irregular.begin(), generation.irregular.end());
  generation.files_read = true;
  return {};
}

namespace {

NodeResult<void> read_pending(Remote& remote, const KeyDir& dir, const DirEntry& entry,
                              NodeState& state) {
  auto text = entry.stat.type == FileType::regular
                  ? remote.read_file(dir.pending(), kMaxManifestSize)
                  : NodeResult<std::vector<std::uint8_t>>(std::vector<std::uint8_t>{});
  if (!text) return std::unexpected(text.error());
  state.pending = parse_pending(as_text(*text));
  state.pending_unreadable = !state.pending;
  return {};
}

// One entry of GENERATIONS (which is HOME too with layout "link").
NodeResult<void> take_entry(Remote& remote, const KeyDir& dir, const DirEntry& entry,
                            const ReadOptions& options, NodeState& state) {
  const std::string path = dir.generation_entry(entry.name);
  switch (dir.classify(entry.name, entry.stat.type == FileType::directory,
                       entry.stat.type == FileType::symlink)) {
    case EntryKind::generation: {
      GenerationState g;
      g.number = *parse_generation_name(entry.name);
      g.path = path;
      g.ignored = dir.runtime();
      if (options.manifests == Manifests::all) KF_CHECK(read_manifest(remote, g));
      state.generations.push_back(std::move(g));
      break;
    }
    case EntryKind::temp:
    case EntryKind::link_temp:
      state.leftovers.push_back(path);
      break;
    case EntryKind::pending:
      KF_CHECK(read_pending(remote, dir, entry, state));
      break;
    case EntryKind::adopted:
      state.adopted.push_back(path);
      break;
    case EntryKind::lock:
    case EntryKind::history:
      break;
    case EntryKind::other:
      state.unexpected.push_back(path);
      break;
  }
  return {};
}

// `home`: DEST's entries (layout "generations") or DEST.generations' (layout "link"); `found`:
// what read_state's survey read, nullptr when it failed.
NodeResult<void> read_home(Remote& remote, const KeyDir& dir, const ReadOptions& options,
                           NodeState& state, const std::vector<DirEntry>& home,
                           const Survey* found) {
  const std::vector<DirEntry>* entries = &home;
  Listing listed;
  if (dir.home() != dir.generations()) {
    // Layout "generations": DEST holds the temporary links and the owed hooks, DEST/generations
    // the generations.
    for (const auto& entry : home) {
      if (entry.name.starts_with(kLinkTempPrefix) && entry.stat.type == FileType::symlink) {
        state.leftovers.push_back(dir.link_temp(entry.name));
      } else if (entry.name == kPendingFile) {
        KF_CHECK(read_pending(remote, dir, entry, state));
      }
    }
    if (found == nullptr) {
      KF_TRY_ASSIGN(listed, remote.lstat_list(dir.generations()));
    }
    const Listing& gens = found != nullptr ? found->lists[1] : listed;
    if (!gens.stat) return {};
    if (gens.stat->type != FileType::directory) {
      state.unexpected.push_back(dir.generations());
      return {};
    }
    entries = &gens.entries;
  }
  for (const auto& entry : *entries) KF_CHECK(take_entry(remote, dir, entry, options, state));
  return {};
}

// What the link is; with layout "link", whether DEST is keyfleet's at all.
NodeResult<void> read_link(Remote& remote, const KeyDir& dir, const ReadOptions& options,
                           NodeState& state, const Survey* found) {
  const bool link_layout = dir.layout() == DestLayout::link;
  LinkInfo read;
  if (found == nullptr) {
    KF_TRY_ASSIGN(read, remote.lstat_link(dir.current()));
  }
  const LinkInfo& link = found != nullptr ? found->links[0] : read;
  if (!link.stat) return {};
  state.current_type = link.stat->type;
  if (link.stat->type != FileType::symlink) {
    state.current_kind = link_layout ? CurrentKind::unmanaged : CurrentKind::not_symlink;
    return {};
  }
  state.current_text = link.text;
  if (link_layout && !dir.names_generations(state.current_text)) {
    state.current_kind = CurrentKind::unmanaged;
    return {};
  }
  auto number = dir.generation_of_target(state.current_text);
  if (!link.target) {
    state.current_kind = CurrentKind::dangling;
  } else if (!number || state.generation(*number) == nullptr) {
    // generations/NNNNNN that is a symlink to a directory is not in `generations` either.
    state.current_kind = CurrentKind::foreign;
  } else {
    state.current_kind = CurrentKind::generation;
    state.current = number;
    GenerationState& current = *state.generation(*number);
    if (options.manifests == Manifests::current) KF_CHECK(read_manifest(remote, current));
    if (options.current_files) KF_CHECK(read_files(remote, current, options.holder));
  }
  return {};
}

NodeResult<NodeState> read_state(Remote& remote, const KeyDir& dir, const ReadOptions& options) {
  NodeState state;
  if (dir.layout() == DestLayout::link) state.link_name = dir.current();
  // Everything the layout names, in one survey (one round trip and one for the listings): what
  // is found under a home that turns out not to be keyfleet's is only read, never used. When
  // one of them cannot be read, they are read again one at a time, in order, so that the first
  // problem is the one reported (a symlinked home before what is under it).
  std::vector<std::string> lists{dir.home()};
  if (dir.home() != dir.generations()) lists.push_back(dir.generations());
  const std::string link[] = {dir.current()};
  auto surveyed = remote.survey(lists, link);
  const Survey* found = surveyed ? &*surveyed : nullptr;
  Listing listed;
  if (found == nullptr) {
    KF_TRY_ASSIGN(listed, remote.lstat_list(dir.home()));
  }
  const Listing& home = found != nullptr ? found->lists[0] : listed;
  if (home.stat && home.stat->type != FileType::directory) {
    // A symlinked home too: the lock and every write would go through it, outside it.
    return node_fail(NodeStatus::refused, "read", "{}: {} is not a directory{}", remote.node_name(),
                     dir.home(), home.stat->type == FileType::symlink ? " but a symlink" : "");
  }
  state.dest_exists = home.stat.has_value();
  if (home.stat) KF_CHECK(read_home(remote, dir, options, state, home.entries, found));
  std::sort(state.generations.begin(), state.generations.end(),
            [](const auto& a, const auto& b) { return a.number < b.number; });
  // Without DEST there is no DEST/current; DEST itself may be there without DEST.generations.
  if (home.stat || dir.layout() == DestLayout::link) {
    KF_CHECK(read_link(remote, dir, options, state, found));
  }
  return state;
}

}  // namespace

NodeResult<NodeState> read_node_state(Remote& remote, const KeyDir& dir, const ReadOptions& options,
                                      const std::string& step) {
  auto state = read_state(remote, dir, options);
  if (!state) return std::unexpected(at_step(state.error(), step));
  return state;
}

NodeResult<GenerationState> read_unmanaged(Remote& remote, const KeyDir& dir,
                                           const std::string& step, DestLock* holder) {
  GenerationState tree;
  tree.path = dir.current();
  tree.managed = false;
  tree.ignored = dir.runtime();
  if (auto read = read_files(remote, tree, holder); !read) {
    return std::unexpected(at_step(read.error(), step));
  }
  return tree;
}

}  // namespace kf::keydir
