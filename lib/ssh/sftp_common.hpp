#pragma once

// What ssh/'s SFTP files share: libssh's handles, the request sizes, its attributes in keyfleet's
// terms.
#include "ssh/sftp_batch.hpp"
#include "ssh/ssh_session.hpp"

namespace kf::sftp_common {

using AttributesPtr = Handle<sftp_attributes_struct, sftp_attributes_free>;
using FilePtr = Handle<sftp_file_struct, sftp_close>;
using DirPtr = Handle<sftp_dir_struct, sftp_closedir>;
using StatvfsPtr = Handle<sftp_statvfs_struct, sftp_statvfs_free>;
using CharPtr = Handle<char, ssh_string_free_char>;

// One SFTP write or read request. OpenSSH's sftp-server takes messages up to 256 KiB and reads at
// most 256 KiB at a time.
inline constexpr std::size_t kChunk = std::size_t{64} * 1024;
// Writes sent before their statuses are read: 1 MiB, well inside a channel's window.
inline constexpr std::size_t kWritesPerTrip = 16;

inline RemoteStat to_remote_stat(const sftp_attributes_struct& attributes) {
  RemoteStat out;
  out.type = file_type_of(attributes.permissions);
  out.mode = attributes.permissions & 07777;
  out.size = attributes.size;
  out.uid = attributes.uid;
  out.gid = attributes.gid;
  out.mtime = attributes.mtime64 != 0 ? attributes.mtime64 : attributes.mtime;
  return out;
}

inline bool is_missing(int code) {
  return code == SSH_FX_NO_SUCH_FILE || code == SSH_FX_NO_SUCH_PATH;
}

}  // namespace kf::sftp_common
