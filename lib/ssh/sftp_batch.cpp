#include "ssh/sftp_batch.hpp"

#include "core/escape.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>

namespace kf {
namespace {

// The largest answer taken: a DATA of the 64 KiB keyfleet reads at most, or a NAME of a few
// hundred entries, with room to spare. Anything longer is not an answer to these requests.
constexpr std::uint32_t kMaxAnswer = 1024 * 1024;

void put_u32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void put_u64(std::string& out, std::uint64_t value) {
  put_u32(out, static_cast<std::uint32_t>(value >> 32));
  put_u32(out, static_cast<std::uint32_t>(value & 0xffffffffU));
}

void put_string(std::string& out, std::string_view text) {
  put_u32(out, static_cast<std::uint32_t>(text.size()));
  out.append(text);
}

// Reads the fields of an answer in order; any read past its end marks it bad.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  std::uint8_t u8() {
    if (!have(1)) return 0;
    return static_cast<std::uint8_t>(in_[at_++]);
  }
  std::uint32_t u32() {
    if (!have(4)) return 0;
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(in_[at_++]);
    return value;
  }
  std::uint64_t u64() {
    std::uint64_t high = u32();
    return (high << 32) | u32();
  }
  std::string_view string() {
    std::uint32_t size = u32();
    if (!have(size)) return {};
    std::string_view out = in_.substr(at_, size);
    at_ += size;
    return out;
  }
  // SFTP v3 ATTRS, as OpenSSH's server sends them (lstat's, for a directory's entries).
  RemoteStat attrs() {
    RemoteStat out;
    const std::uint32_t flags = u32();
    if ((flags & SSH_FILEXFER_ATTR_SIZE) != 0) out.size = u64();
    if ((flags & SSH_FILEXFER_ATTR_UIDGID) != 0) {
      out.uid = u32();
      out.gid = u32();
    }
    if ((flags & SSH_FILEXFER_ATTR_PERMISSIONS) != 0) {
      const std::uint32_t permissions = u32();
      out.mode = permissions & 07777;
      out.type = file_type_of(permissions);
    }
    if ((flags & SSH_FILEXFER_ATTR_ACMODTIME) != 0) {
      (void)u32();  // atime
      out.mtime = u32();
    }
    if ((flags & SSH_FILEXFER_ATTR_EXTENDED) != 0) {
      const std::uint32_t count = u32();
      for (std::uint32_t i = 0; i < count && good(); ++i) {
        (void)string();
        (void)string();
      }
    }
    return out;
  }

  [[nodiscard]] bool good() const { return good_; }
  [[nodiscard]] bool done() const { return good_ && at_ == in_.size(); }

 private:
  bool have(std::size_t size) {
    if (!good_ || in_.size() - at_ < size) good_ = false;
    return good_;
  }

  std::string_view in_;
  std::size_t at_ = 0;
  bool good_ = true;
};

}  // namespace

FileType file_type_of(std::uint32_t permissions) {
  switch (permissions & S_IFMT) {
    case S_IFREG:
      return FileType::regular;
    case S_IFDIR:
      return FileType::directory;
    case S_IFLNK:
      return FileType::symlink;
    default:
      return FileType::other;
  }
}

std::optional<std::pair<std::uint32_t, SftpAnswer>> parse_sftp_answer(std::string_view packet) {
  Reader in(packet);
  SftpAnswer answer;
  answer.type = in.u8();
  const std::uint32_t id = in.u32();
  switch (answer.type) {
    case SSH_FXP_STATUS:
      answer.status = in.u32();
      // The message and language tag are optional in SFTP v3 servers older than OpenSSH's: the
      // code says all keyfleet uses.
      return in.good() ? std::optional(std::pair(id, std::move(answer))) : std::nullopt;
    case SSH_FXP_HANDLE:
    case SSH_FXP_DATA:
      answer.bytes = std::string(in.string());
      break;
    case SSH_FXP_NAME: {
      const std::uint32_t count = in.u32();
      for (std::uint32_t i = 0; i < count && in.good(); ++i) {
        std::string_view name = in.string();
        (void)in.string();  // ls -l's line: keyfleet reads the attributes instead
        RemoteStat stat = in.attrs();
        if (!in.good()) break;
        answer.entries.push_back(DirEntry{std::string(name), stat});
      }
      break;
    }
    case SSH_FXP_ATTRS:
      answer.attrs = in.attrs();
      break;
    default:
      return std::nullopt;
  }
  if (!in.done()) return std::nullopt;
  return std::pair(id, std::move(answer));
}

void SftpBatch::begin(std::uint8_t type) {
  packet_start_ = out_.size();
  put_u32(out_, 0);  // the length, once known
  out_.push_back(static_cast<char>(type));
  const std::uint32_t id = ++sftp_->id_counter;
  put_u32(out_, id);
  ids_.push_back(id);
}

void SftpBatch::finish() {
  std::string length;
  put_u32(length, static_cast<std::uint32_t>(out_.size() - packet_start_ - 4));
  out_.replace(packet_start_, 4, length);
}

void SftpBatch::open(std::string_view path, std::uint32_t flags, std::uint32_t mode) {
  begin(SSH_FXP_OPEN);
  put_string(out_, path);
  put_u32(out_, flags);
  put_u32(out_, SSH_FILEXFER_ATTR_PERMISSIONS);
  put_u32(out_, mode);
  finish();
}

void SftpBatch::opendir(std::string_view path) {
  begin(SSH_FXP_OPENDIR);
  put_string(out_, path);
  finish();
}

void SftpBatch::lstat(std::string_view path) {
  begin(SSH_FXP_LSTAT);
  put_string(out_, path);
  finish();
}

void SftpBatch::stat(std::string_view path) {
  begin(SSH_FXP_STAT);
  put_string(out_, path);
  finish();
}

void SftpBatch::readlink(std::string_view path) {
  begin(SSH_FXP_READLINK);
  put_string(out_, path);
  finish();
}

void SftpBatch::readdir(std::string_view handle) {
  begin(SSH_FXP_READDIR);
  put_string(out_, handle);
  finish();
}

void SftpBatch::read(std::string_view handle, std::uint64_t offset, std::uint32_t length) {
  begin(SSH_FXP_READ);
  put_string(out_, handle);
  put_u64(out_, offset);
  put_u32(out_, length);
  finish();
}

void SftpBatch::write(std::string_view handle, std::uint64_t offset,
                      std::span<const std::uint8_t> data) {
  begin(SSH_FXP_WRITE);
  put_string(out_, handle);
  put_u64(out_, offset);
  put_string(out_, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  finish();
}

void SftpBatch::fsync(std::string_view handle) {
  begin(SSH_FXP_EXTENDED);
  put_string(out_, "fsync@openssh.com");
  put_string(out_, handle);
  finish();
}

void SftpBatch::close(std::string_view handle) {
  begin(SSH_FXP_CLOSE);
  put_string(out_, handle);
  finish();
}

void SftpBatch::chmod(std::string_view path, std::uint32_t mode) {
  begin(SSH_FXP_SETSTAT);
  put_string(out_, path);
  put_u32(out_, SSH_FILEXFER_ATTR_PERMISSIONS);
  put_u32(out_, mode);
  finish();
}

void SftpBatch::remove(std::string_view path) {
  begin(SSH_FXP_REMOVE);
  put_string(out_, path);
  finish();
}

void SftpBatch::rmdir(std::string_view path) {
  begin(SSH_FXP_RMDIR);
  put_string(out_, path);
  finish();
}

void SftpBatch::posix_rename(std::string_view from, std::string_view to) {
  begin(SSH_FXP_EXTENDED);
  put_string(out_, "posix-rename@openssh.com");
  put_string(out_, from);
  put_string(out_, to);
  finish();
}

// At least `size` bytes in in_, read under the deadline a second at a time.
NodeResult<void> SftpBatch::fill(std::size_t size) {
  std::array<char, std::size_t{16} * 1024> buffer{};
  while (in_.size() < size) {
    if (core_.timed_out()) return std::unexpected(core_.failure("sftp", what_));
    auto slice = std::min<long long>(core_.deadline.remaining().count(), 1000);
    // libssh returns once anything is there; only these requests' answers can be.
    int n = ssh_channel_read_timeout(sftp_->channel, buffer.data(),
                                     static_cast<std::uint32_t>(buffer.size()), 0,
                                     static_cast<int>(slice));
    if (n == SSH_ERROR || (n == 0 && ssh_channel_is_eof(sftp_->channel) != 0)) {
      return std::unexpected(core_.failure("sftp", what_));
    }
    in_.append(buffer.data(), static_cast<std::size_t>(std::max(n, 0)));
  }
  return {};
}

NodeResult<SftpAnswer> SftpBatch::next_answer(std::uint32_t id) {
  KF_CHECK(fill(4));
  std::uint32_t size = 0;
  for (std::size_t i = 0; i < 4; ++i) size = (size << 8) | static_cast<unsigned char>(in_[i]);
  if (size < 5 || size > kMaxAnswer) {
    return node_fail(NodeStatus::failed, "sftp", "{}: cannot {}: an answer of {} bytes", core_.name,
                     what_, size);
  }
  KF_CHECK(fill(4 + std::size_t{size}));
  auto parsed = parse_sftp_answer(std::string_view(in_).substr(4, size));
  in_.erase(0, 4 + std::size_t{size});
  if (!parsed || parsed->first != id) {
    return node_fail(NodeStatus::failed, "sftp",
                     "{}: cannot {}: the SFTP server's answer is not this request's", core_.name,
                     what_);
  }
  return std::move(parsed->second);
}

SftpBatch::SftpBatch(SshConnection& core, sftp_session sftp, std::string_view what)
    : core_(core), sftp_(sftp), what_(escape_untrusted(what)) {}

NodeResult<std::vector<SftpAnswer>> SftpBatch::run() {
  if (core_.is_out_of_step(sftp_)) {
    return node_fail(NodeStatus::failed, "sftp",
                     "{}: cannot {}: this SFTP channel was given up after an earlier request on "
                     "it failed ({})",
                     core_.name, what_, core_.out_of_step_why);
  }
  auto answers = exchange();
  // Requests may have gone out and answers may be left unread: nothing read from this channel
  // could be told apart from them any more.
  if (!answers) core_.set_out_of_step(sftp_, answers.error().message);
  return answers;
}

NodeResult<std::vector<SftpAnswer>> SftpBatch::exchange() {
  core_.refresh_timeout();
  KF_TRY_ASSIGN(bool sent, core_.write_all(sftp_->channel, out_, what_));
  if (!sent) return std::unexpected(core_.failure("sftp", what_));
  out_.clear();
  std::vector<SftpAnswer> answers;
  answers.reserve(ids_.size());
  for (std::uint32_t id : ids_) {
    KF_TRY_ASSIGN(SftpAnswer answer, next_answer(id));
    answers.push_back(std::move(answer));
  }
  ids_.clear();
  return answers;
}

}  // namespace kf
