// posix-rename@openssh.com, which libssh 0.10 cannot send (its sftp_rename is SFTP v3's, and
// OpenSSH's server refuses that over an existing name). Without it, moving DEST/current to the
// next generation costs two `mv` processes on the node; with it, one request on the SFTP channel.
//
// The request is written on the SFTP channel and its answer read back here. That is safe because
// libssh's SFTP client is synchronous and reads exactly one packet per request (length first,
// nothing beyond it): with no request of libssh's outstanding, the next packet on the channel is
// this request's answer.
#include <algorithm>
#include <array>

#include "ssh/ssh_session.hpp"

namespace kf {
namespace {

constexpr std::string_view kPosixRename = "posix-rename@openssh.com";
// A status answer is a few dozen bytes; anything longer is not one.
constexpr std::uint32_t kMaxAnswer = 64 * 1024;

void put_u32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void put_string(std::string& out, std::string_view text) {
  put_u32(out, static_cast<std::uint32_t>(text.size()));
  out.append(text);
}

std::uint32_t get_u32(std::string_view in, std::size_t at) {
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    value = (value << 8) | static_cast<unsigned char>(in[at + i]);
  }
  return value;
}

}  // namespace

NodeResult<bool> SshSession::can_replace() {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  return sftp_extension_supported(s, std::string(kPosixRename).c_str(), "1") != 0;
}

NodeResult<void> SshSession::replace(const std::string& from, const std::string& to) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  const std::string what = fmt::format("rename {} over {} (posix-rename)", from, to);
  const std::uint32_t id = ++s->id_counter;
  std::string packet;
  put_u32(packet, 0);  // the length, once known
  packet.push_back(static_cast<char>(SSH_FXP_EXTENDED));
  put_u32(packet, id);
  put_string(packet, kPosixRename);
  put_string(packet, from);
  put_string(packet, to);
  std::string length;
  put_u32(length, static_cast<std::uint32_t>(packet.size() - 4));
  packet.replace(0, 4, length);

  core_->refresh_timeout();
  KF_TRY_ASSIGN(bool sent, core_->write_all(s->channel, packet, what));
  if (!sent) return std::unexpected(core_->failure("sftp", what));

  // Exactly `size` bytes of the channel's standard output, under the deadline.
  auto read_exact = [&](std::size_t size) -> NodeResult<std::string> {
    std::string out;
    std::array<char, 512> buffer{};
    while (out.size() < size) {
      if (core_->timed_out()) return std::unexpected(core_->failure("sftp", what));
      auto slice = std::min<long long>(core_->deadline.remaining().count(), 1000);
      auto want = static_cast<std::uint32_t>(std::min(buffer.size(), size - out.size()));
      int n = ssh_channel_read_timeout(s->channel, buffer.data(), want, 0, static_cast<int>(slice));
      if (n == SSH_ERROR || (n == 0 && ssh_channel_is_eof(s->channel) != 0)) {
        return std::unexpected(core_->failure("sftp", what));
      }
      out.append(buffer.data(), static_cast<std::size_t>(std::max(n, 0)));
    }
    return out;
  };
  KF_TRY_ASSIGN(std::string header, read_exact(4));
  const std::uint32_t size = get_u32(header, 0);
  if (size < 9 || size > kMaxAnswer) {
    return node_fail(NodeStatus::failed, "sftp", "{}: cannot {}: an answer of {} bytes",
                     core_->name, what, size);
  }
  KF_TRY_ASSIGN(std::string answer, read_exact(size));
  if (static_cast<unsigned char>(answer[0]) != SSH_FXP_STATUS || get_u32(answer, 1) != id) {
    return node_fail(NodeStatus::failed, "sftp",
                     "{}: cannot {}: the SFTP server's answer is not this request's status",
                     core_->name, what);
  }
  const std::uint32_t code = get_u32(answer, 5);
  if (code == SSH_FX_OK) return {};
  // sftp_failure words the status as for every other request.
  s->errnum = static_cast<int>(code);
  return std::unexpected(sftp_failure(fmt::format("rename {} over", from), to));
}

}  // namespace kf
