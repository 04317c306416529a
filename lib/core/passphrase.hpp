#pragma once

#include <optional>
#include <string>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "core/secret.hpp"

namespace kf {

// Where a passphrase comes from. Never argv, never the environment.
struct PassphraseSource {
  std::optional<boost::filesystem::path> file;  // --passphrase-file: first line, no line ending
  std::optional<int> fd;                        // --passphrase-fd: first line read from the fd
};

enum class PassphrasePurpose {
  decrypt,  // prompt once
  encrypt,  // prompt twice and compare
};

// Reads the passphrase from the file or fd given, else prompts on /dev/tty without echo.
// A passphrase file that group or others can read, or that is not a regular file, is a usage
// error (exit 2). No source and no terminal: usage error. An empty passphrase is refused.
Result<SecretString> read_passphrase(const PassphraseSource& source, PassphrasePurpose purpose);

// True when a passphrase file or fd was given (commands like `inspect` never prompt).
inline bool has_passphrase(const PassphraseSource& source) {
  return source.file || source.fd;
}

}  // namespace kf
