#include "keydir/become.hpp"

#include <fmt/format.h>

#include "core/escape.hpp"

namespace kf::keydir {
namespace {

// Debian/Ubuntu, RHEL/Fedora, Arch/Alpine, the BSDs.
constexpr std::string_view kSftpServer =
    "umask 077; "
    "for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server "
    "/usr/lib/ssh/sftp-server /usr/libexec/sftp-server; do "
    "[ -x \"$p\" ] && exec \"$p\"; done; "
    "echo 'no sftp-server in /usr/lib/openssh, /usr/libexec/openssh, /usr/lib/ssh or "
    "/usr/libexec' >&2; exit 127";

std::string trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

}  // namespace

std::string become_command(std::string_view become, std::string_view command) {
  if (become.empty()) return std::string(command);
  return fmt::format("{} sh -c {}", become, shell_quote(command));
}

std::string sftp_server_command(std::string_view become) {
  return become_command(become, kSftpServer);
}

NodeResult<void> check_become(Remote& login, std::string_view become) {
  auto result = login.exec(become_command(become, "true"));
  if (!result) return std::unexpected(at_step(result.error(), "become"));
  if (result->ok()) return {};
  std::string why = trimmed(result->err.empty() ? result->out : result->err);
  why = why.empty() ? fmt::format("it exited with status {}", result->exit_status)
                    : escape_untrusted(why, 300);
  const bool sudo = become == "sudo" || become.starts_with("sudo ");
  const std::string hint =
      sudo ? "give the SSH user a NOPASSWD sudoers rule for keyfleet's commands, see `become` in "
             "docs/inventory.md; or log in as root"
           : fmt::format(
                 "the SSH user must be able to run `{} sh -c ...` without a password or a "
                 "terminal; or log in as root",
                 become);
  return node_fail(NodeStatus::failed, "become", "{}: become '{}' failed: {} ({})",
                   login.node_name(), become, why, hint);
}

}  // namespace kf::keydir
