#pragma once

#include <ctime>
#include <span>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "bundle/age_x25519.hpp"
#include "core/error.hpp"
#include "core/secret.hpp"

// The files that hold age keys, in the formats the age tools use: identity files as age-keygen
// writes them (and `age -i` reads them) and recipients files (as `age -R` reads them). Errors are
// ExitCode::usage and name the file, and the line when one is at fault.
namespace kf::age {

inline constexpr std::size_t kMaxKeyFileSize = std::size_t{1} << 20;

// One "AGE-SECRET-KEY-1..." per line; lines starting with '#' and empty lines are skipped, a CR
// before the LF is allowed. At least one identity. `name` is what messages call the file; they
// never quote a line, which may hold a secret key.
Result<std::vector<X25519Identity>> parse_identity_file(std::span<const std::uint8_t> text,
                                                        std::string_view name);

// Reads and parses an identity file: a regular file (not a symlink, FIFO or device) that group
// and others cannot read, checked before it is read.
Result<std::vector<X25519Identity>> read_identity_file(const boost::filesystem::path& path);

// One "age1..." per line, '#' comments and empty lines skipped; at least one recipient.
Result<std::vector<X25519Recipient>> parse_recipients_file(std::string_view text,
                                                           std::string_view name);
Result<std::vector<X25519Recipient>> read_recipients_file(const boost::filesystem::path& path);

// age-keygen's format: "# created: <RFC 3339>", "# public key: age1...", the secret key.
Result<SecretString> identity_file_text(const X25519Identity& identity, std::time_t created);

// Creates `path` 0600 with O_EXCL|O_NOFOLLOW (an existing file, even a dangling symlink, is
// ExitCode::refused and left alone), writes the identity and fsyncs it and its directory.
Result<void> write_identity_file(const boost::filesystem::path& path,
                                 const X25519Identity& identity, std::time_t created);

}  // namespace kf::age
