#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/filesystem/path.hpp>

#include "core/error.hpp"
#include "pki/key.hpp"
#include "pki/manifest.hpp"

namespace kf {

inline constexpr int kDefaultDays = 825;     // the agent certificate: about 27 months
inline constexpr int kDefaultCaDays = 3650;  // the CA: ten years

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
};

struct CreatedKeyset {
  Manifest manifest;
  std::optional<boost::filesystem::path> archived_to;  // where --force moved the previous set
  bool ca_kept = false;
};

// Writes a complete key set into `out` (created 0700 if missing) and returns its manifest:
// ca.crt/agent.crt 0644; ca.key, agent.key, keystore.p12, truststore.p12, storepass 0600;
// manifest.json 0644, written last. A directory that already holds a set is refused (exit 4)
// unless `force`, which first moves the old set to out/archive/NNNNNN/ and numbers the new one
// after it. `keep_ca` reuses out/ca.crt and out/ca.key. Nothing is written before every option
// has been checked and every key and certificate made.
Result<CreatedKeyset> create_keyset(const CreateKeysOptions& options);

}  // namespace kf
