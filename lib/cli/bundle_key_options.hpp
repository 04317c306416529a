#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bundle/bundle_file.hpp"
#include "cli/passphrase_options.hpp"

namespace kf::cli {

// The key that opens a bundle, shared by every command that opens one (push, verify --bundle,
// inspect, unpack): --passphrase-file / --passphrase-fd for a passphrase bundle, --identity
// (repeatable) for a bundle sealed to age recipients. Which one a bundle needs is read from its
// header (bundle::read_open_key), which also refuses the two together.
struct BundleKeyOptions {
  PassphraseOptions passphrase;
  std::vector<std::string> identities;
  CLI::Option* identity_option = nullptr;

  [[nodiscard]] bundle::KeySource source() const {
    bundle::KeySource source(passphrase.source());
    for (const auto& file : identities) source.identity_files.emplace_back(file);
    return source;
  }
};

inline void add_bundle_key_options(CLI::App& sub, BundleKeyOptions& options) {
  add_passphrase_options(sub, options.passphrase);
  options.identity_option =
      sub.add_option("--identity", options.identities,
                     "Open a bundle sealed to age recipients with the identities in FILE "
                     "(age-keygen's format; repeatable; it must not be readable by group or "
                     "others)")
          ->type_name("FILE")
          ->allow_extra_args(false);
}

}  // namespace kf::cli
