#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "core/secret.hpp"
#include "pki/key.hpp"
#include "pki/keyset_import.hpp"
#include "pki/manifest.hpp"

namespace kf {

namespace keyset_dir {
class Lock;
}

inline constexpr int kDefaultDays = 825;     // the agent certificate: about 27 months
inline constexpr int kDefaultCaDays = 3650;  // the CA: ten years

inline constexpr std::size_t kDefaultSecretBytes = 32;
inline constexpr std::size_t kMinSecretBytes = 16;
inline constexpr std::size_t kMaxSecretBytes = 1024;

// --secret NAME[:BYTES]: a random file in the key set.
struct SecretSpec {
  std::string name;
  std::optional<std::size_t> bytes;  // unset: kDefaultSecretBytes, or the kept one's size
};

// "rootkey", "rootkey:64" -> SecretSpec; a name that is not a simple file name
// ([A-Za-z0-9_][A-Za-z0-9._-]*) or a size outside 16..1024 is a usage error.
Result<SecretSpec> parse_secret_spec(std::string_view text);

struct CreateKeysOptions {
  boost::filesystem::path out;
  std::vector<std::string> hosts;  // validated and de-duplicated by create_keyset
  KeyType key_type = kDefaultKeyType;
  int days = kDefaultDays;
  std::optional<int> ca_days;  // unset: kDefaultCaDays; meaningless (and refused) with keep_ca
  std::string common_name;     // empty: the first host
  std::string organization;    // empty: no O attribute
  bool keep_ca = false;
  bool force = false;
  // --import DIR: the key set is the files of DIR (pki/keyset_import.hpp), not a TLS set; no
  // hosts, CA or certificate options.
  std::optional<boost::filesystem::path> import_dir;
  std::vector<std::string> exclude;  // --exclude-path patterns for import_dir
  // Random secrets, new in this generation unless named in keep_secrets, which carries each one
  // over from the set being replaced (it must have been a secret there too).
  std::vector<SecretSpec> secrets;
  std::vector<std::string> keep_secrets;
  // The caller already holds `out`'s directory lock (rotate holds it for its whole run): it is
  // not taken again. Null: create_keyset takes it.
  const keyset_dir::Lock* held_lock = nullptr;
};

struct CreatedKeyset {
  Manifest manifest;
  std::optional<boost::filesystem::path> archived_to;  // where --force moved the previous set
  bool ca_kept = false;
  std::vector<std::string> excluded;  // an import's paths that --exclude-path left out
};

// Writes a complete key set into `out` (created 0700 if missing) and returns its manifest:
// ca.crt/agent.crt 0644; ca.key, agent.key, keystore.p12, truststore.p12, storepass 0600;
// manifest.json 0644, written last. A directory that already holds a set is refused (exit 4)
// unless `force`, which first moves the old set to out/archive/NNNNNN/ and numbers the new one
// after it. `keep_ca` reuses out/ca.crt and out/ca.key. Nothing is written before every option
// has been checked and every key and certificate made.
// With `import_dir`, the key set is that directory's files instead (manifest kind "imported",
// format 2 when a name or mode needs it): the same directory lock, archive and --force rules,
// the same lineage. The copies are written 0600 and their directories 0700; the manifest keeps
// the source's modes, which a node gets. `secrets` are added to either kind.
Result<CreatedKeyset> create_keyset(const CreateKeysOptions& options);

// The same import from a tree already read (pull reads it from a node): `options.import_dir` is
// ignored, `options.exclude` is recorded as given.
Result<CreatedKeyset> create_keyset_from(const CreateKeysOptions& options, ImportedTree tree);

}  // namespace kf
