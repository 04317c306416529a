#pragma once

#include <string>
#include <string_view>

#include "keydir/remote.hpp"

// Inventory `become` ("sudo -n"): the prefix that runs what keyfleet does in DEST as root when the
// SSH user is not. The SSH session applies it to every command and to its own SFTP server
// (ssh/ssh_session.hpp); Remote::login() is the same node without it, for what stays the SSH
// user's (the staged bundle).
namespace kf::keydir {

// `command` as BECOME runs it: "BECOME sh -c 'COMMAND'", the command one quoted word, so that the
// shell started as root sees exactly `command`. An empty `become` leaves it as it is.
std::string become_command(std::string_view become, std::string_view command);

// Starts an SFTP server through `become` (umask 077; the first of OpenSSH's usual sftp-server
// paths that is there), speaking SFTP on its stdin and stdout; exits 127 with a message on stderr
// when there is none.
std::string sftp_server_command(std::string_view become);

// Runs `become` once over `login` (a command that does nothing, as it will run every other):
// anything but success -- a password asked for, no rule for the SSH user, no such command -- fails
// the node at step `become`, with what it printed, escaped.
NodeResult<void> check_become(Remote& login, std::string_view become);

}  // namespace kf::keydir
