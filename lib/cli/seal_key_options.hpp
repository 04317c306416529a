#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bundle/bundle.hpp"
#include "cli/passphrase_options.hpp"
#include "core/error.hpp"

namespace kf::cli {

// How a command that seals bundles (bundle, rotate) seals them: a passphrase
// (--passphrase-file / --passphrase-fd, or asked on the terminal) with an scrypt work factor, or
// age X25519 recipients (--recipient, --recipients-file). age never mixes the two in one file.
struct SealKeyOptions {
  PassphraseOptions passphrase;
  std::vector<std::string> recipients;
  std::vector<std::string> recipients_files;
  int work_factor = age::kDefaultWorkFactor;
  CLI::Option* work_factor_option = nullptr;

  [[nodiscard]] bool to_recipients() const {
    return !recipients.empty() || !recipients_files.empty();
  }
};

// `work_factor_help` says what the work factor costs, in the command's own words.
void add_seal_key_options(CLI::App& sub, SealKeyOptions& options,
                          const std::string& work_factor_help);

// The combinations that cannot seal (a passphrase and recipients, a work factor for
// recipients, a work factor out of range), refused as usage errors before anything is read or made.
Result<void> check_seal_key_options(const SealKeyOptions& options);

// Reads the passphrase (once; twice to confirm on a terminal) or every recipient, each checked:
// a malformed recipient is a usage error naming it.
Result<bundle::SealKey> read_seal_key(const SealKeyOptions& options);

}  // namespace kf::cli
