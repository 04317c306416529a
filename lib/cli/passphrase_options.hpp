#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "core/passphrase.hpp"

namespace kf::cli {

// --passphrase-file / --passphrase-fd, shared by every command that opens or makes a bundle.
struct PassphraseOptions {
  std::string file;
  int fd = -1;
  CLI::Option* file_option = nullptr;
  CLI::Option* fd_option = nullptr;

  [[nodiscard]] PassphraseSource source() const {
    PassphraseSource source;
    if (file_option != nullptr && file_option->count() > 0) source.file = file;
    if (fd_option != nullptr && fd_option->count() > 0) source.fd = fd;
    return source;
  }
};

inline void add_passphrase_options(CLI::App& sub, PassphraseOptions& options) {
  options.file_option =
      sub.add_option("--passphrase-file", options.file,
                     "Read the passphrase from the first line of FILE (it must not be readable by "
                     "group or others)")
          ->type_name("FILE");
  options.fd_option =
      sub.add_option("--passphrase-fd", options.fd,
                     "Read the passphrase from the first line of open file descriptor N")
          ->type_name("N")
          ->check(CLI::NonNegativeNumber);
  options.file_option->excludes(options.fd_option);
}

}  // namespace kf::cli
