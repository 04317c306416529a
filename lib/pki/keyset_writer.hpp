#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/secret.hpp"
#include "pki/keyset.hpp"
#include "pki/manifest.hpp"

// How create_keyset writes a generated key set, for the other ways of making one (a CA rotation's
// phases, pki/keyset_ca_phase.hpp): the directory lock, --force's archive, the next generation
// number, --secret/--keep-secret and the key set id follow create_keyset's rules in every case.
namespace kf {

struct NewKeysetFile {
  std::string name;  // one of keyset_dir::file_names()
  SecretBytes data;
  mode_t mode = 0600;
};

// The manifest's certificate fields (key_type, hosts, not_after, fingerprints, ca_phase,
// trusted_cas) and the files; the rest of the manifest is filled in when it is written.
struct NewKeyset {
  Manifest manifest;
  std::vector<NewKeysetFile> files;
};

// Called under the directory lock with the key set `options.out` holds (nullptr: none; without
// options.force a held set is refused before `make` runs). Nothing is written if it fails.
using MakeKeyset = std::function<Result<NewKeyset>(const Manifest* previous)>;

Result<CreatedKeyset> write_generated_keyset(const CreateKeysOptions& options,
                                             const MakeKeyset& make);

// The agent certificate's names and the CA's validity as create_keyset checks them (hosts
// normalized and not empty, --days, --ca-days, --cn, --org): usage errors name the option.
struct CheckedNames {
  std::vector<std::string> hosts;
  std::string common_name;
  int ca_days = kDefaultCaDays;
};
Result<CheckedNames> check_names(const CreateKeysOptions& options);

}  // namespace kf
