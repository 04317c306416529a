#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <span>
#include <string_view>

#include "core/error.hpp"
#include "core/secret.hpp"

namespace kf::bundle {

struct TarFile {
  std::string_view name;
  mode_t mode = 0600;
  std::span<const std::uint8_t> data;
  bool directory = false;  // a directory entry ("name/"), no data
};

// A POSIX pax tar of plain regular files (and directories), in order, built in memory (the tar of a
// key set is plaintext key material: it never touches the disk). Every entry has uid/gid 0, owner
// and group "root", and `mtime`; nothing else (no atime, ctime, xattrs or ACLs), so the same files
// always give the same bytes. No blocking: the archive ends right after its two zero end-of-archive
// blocks.
Result<SecretBytes> write_tar(std::span<const TarFile> files, std::time_t mtime);

}  // namespace kf::bundle
