#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"

// A known_hosts file read as OpenSSH's ssh reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"), for
// the one question keyfleet asks before it offers any credential: is the key this node presented
// the one the file lists for it? Pure: no libssh, no network; the key comes in as its type name
// and its public key blob.
//
// What is read, as OpenSSH does:
//   - comments (#) and blank lines; a line whose key type or key cannot be read is skipped;
//   - host patterns: comma-separated, `*` and `?` wildcards, `!pattern` negation (a line whose
//     negated pattern matches does not match, whatever else does), case-insensitive;
//   - hashed names `|1|salt|hash` (HMAC-SHA1 of the name, as `ssh-keygen -H` writes them);
//   - `[host]:port` for a port other than 22; a host on port 22 is looked up as plain `host`;
//   - `@revoked`: the key on the line must never be accepted;
//   - `@cert-authority`: keyfleet does not check host certificates, so such a line is never used
//     (nor is it for OpenSSH when the host presents a plain key); a note says so.
// Two deliberate differences, both refusing more: OpenSSH honours a `@revoked` line only for the
// hosts it names, keyfleet refuses a revoked key for every host, whatever the line's patterns;
// and OpenSSH skips a marker followed by a tab, keyfleet reads it.
namespace kf::known_hosts {

// A host key as a node presents it.
struct HostKey {
  std::string type;                // the key type: "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"
  std::vector<std::uint8_t> blob;  // the SSH wire-format public key (RFC 4253 6.6)
};

// `type` as libssh's ssh_key_type_to_char or a KEX algorithm names it ("rsa-sha2-512" and
// "rsa-sha2-256" are the key type "ssh-rsa"); `base64` as ssh_pki_export_pubkey_base64 gives it.
// Refuses a type whose name differs from the one inside the blob, a malformed blob, and
// certificates (keyfleet checks plain host keys only). Exit code `integrity`.
Result<HostKey> parse_host_key(std::string_view type, std::string_view base64);
Result<HostKey> host_key_from_blob(std::string_view type, std::span<const std::uint8_t> blob);

enum class Verdict {
  ok,          // a line for this host lists exactly this key, and no @revoked line lists it
  revoked,     // a @revoked line lists this key (for any host)
  changed,     // lines for this host list keys of this type, none of them this key
  other_type,  // lines for this host list keys of other types only
  unknown,     // no line for this host
};

std::string_view to_string(Verdict verdict);

struct Lookup {
  Verdict verdict = Verdict::unknown;
  // The line that decided (1-based): ok: the line with this key; revoked: the @revoked line;
  // changed: the first line for this host with a key of this type; other_type: the first line
  // for this host. 0 for unknown.
  std::size_t line = 0;
  // The key type on that line: for other_type, the type the file expects for this host.
  std::string line_key_type;
  // Things the operator should know, each "FILE:LINE: ...", already escaped for printing: a
  // @cert-authority line for this host (once), an unknown marker, a line for this host that was
  // skipped because its key cannot be read.
  std::vector<std::string> notes;
};

// The name OpenSSH looks a host up by: "host" on port 22, "[host]:port" on any other, lowercase.
std::string lookup_name(std::string_view host, int port);

// Checks `key` against the text of a known_hosts file; `file` names it in notes.
Lookup check(std::string_view text, std::string_view file, std::string_view host, int port,
             const HostKey& key);

// The largest known_hosts file read (a few thousand hosts with all their key types fit).
inline constexpr std::size_t kMaxFileSize = std::size_t{4} << 20;

// Reads a known_hosts file: a regular file (symbolic links followed, as ssh does) of at most
// kMaxFileSize bytes, opened without blocking so that a FIFO or a device is refused rather than
// waited on. Errors (exit code `usage`) name the file.
Result<std::string> read_file(const boost::filesystem::path& file);

// read_file + check.
Result<Lookup> check_file(const boost::filesystem::path& file, std::string_view host, int port,
                          const HostKey& key);

}  // namespace kf::known_hosts
