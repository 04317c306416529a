#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keydir/remote.hpp"

// A node's key directory (bundle/layout.hpp) handled over a Remote, with the same rules as the
// local install (bundle/install.hpp): generations are written under a temporary name, renamed into
// place, and `current` is switched by one rename on the node, so a node ends on the old generation
// or the new one, never a mix.
namespace kf::keydir {

struct RemoteFile {
  std::string name;
  mode_t mode = 0600;
  std::span<const std::uint8_t> data;
};

// The generation DEST/current points at; nullopt when there is no `current` yet. A `current` that
// is not a symlink to generations/NNNNNN fails at `step`: we would not know what we replace.
NodeResult<std::optional<std::uint64_t>> read_current(Remote& remote, const std::string& dest,
                                                      const std::string& step);

// The complete generations under DEST/generations (directories named NNNNNN), ascending; empty
// when there is no such directory.
NodeResult<std::vector<std::uint64_t>> list_generations(Remote& remote, const std::string& dest,
                                                        const std::string& step);

// Creates `path` with `mode` unless a directory is already there.
NodeResult<void> ensure_dir(Remote& remote, const std::string& path, mode_t mode,
                            const std::string& step);

// Writes `files` into DEST/generations/.tmp-<random>, fsyncs, then in one exec on the node (under
// flock DEST/.lock when flock exists) renames it to generations/NNNNNN and switches `current` to it
// -- provided the generation is not there yet and `current` still points at `expected_current`.
// On any failure the temporary directory is removed and `current` is untouched.
NodeResult<void> install_generation(Remote& remote, const std::string& dest,
                                    std::uint64_t generation,
                                    std::optional<std::uint64_t> expected_current,
                                    std::span<const RemoteFile> files);

// Points DEST/current at the existing complete generation, atomically (ln -s + mv -T on the
// node), provided `current` still points at `expected_current`.
NodeResult<void> switch_current(Remote& remote, const std::string& dest, std::uint64_t generation,
                                std::optional<std::uint64_t> expected_current,
                                const std::string& step);

// The exec command line that renames generations/TMP (when `temp_name` is not empty) to
// generations/NNNNNN and switches current. Its arguments follow the marker word `keyfleet-switch`
// as single-quoted words: DEST TMP NNNNNN EXPECTED_TARGET LINK_TEMP.
std::string switch_command(const std::string& dest, const std::string& temp_name,
                           std::uint64_t generation, std::optional<std::uint64_t> expected_current,
                           const std::string& link_temp);

std::string join(const std::string& dir, std::string_view name);

}  // namespace kf::keydir
