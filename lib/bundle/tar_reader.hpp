#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/secret.hpp"

namespace kf::bundle {

struct TarEntry {
  std::string name;  // a directory's without its trailing "/"
  bool directory = false;
  mode_t mode = 0;  // permission bits as stored; callers use the manifest's, not these
  SecretBytes data;
};

struct TarLimits {
  std::size_t max_entries = 0;
  std::size_t max_entry_size = 0;
  // Relative paths and directories (manifest format 2, pki/keyset_path.hpp): every component
  // checked, and no path through an entry that is a file. Without it, only flat names and files.
  bool nested = false;
};

// Walks a tar (ustar, pax or GNU; no other format, no compression) held in memory and returns its
// entries in order. Only plain regular files with simple names (is_safe_entry_name) are accepted
// (and, with `limits.nested`, directories and relative paths): a link, device, FIFO, sparse
// file, unsafe or duplicate name, or more or larger entries than `limits` allow is
// ExitCode::integrity naming the entry, as is anything libarchive rejects.
Result<std::vector<TarEntry>> read_tar(std::span<const std::uint8_t> tar, const TarLimits& limits);

// The rules of a tar read without `nested`, applied to entries read with it: for a bundle whose
// manifest turned out to be format 1. The same messages as read_tar's.
Result<void> check_flat_entries(const std::vector<TarEntry>& entries);

// A name from an archive made fit to print: control and non-ASCII bytes escaped, cut at 100.
std::string printable_name(std::string_view name);

}  // namespace kf::bundle
