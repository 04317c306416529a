#include "pki/keyset_ca_phase.hpp"

#include <sys/stat.h>

#include <ctime>

#include <fmt/format.h>

#include "core/files.hpp"
#include "core/time.hpp"
#include "pki/cert.hpp"
#include "pki/keyset_dir.hpp"
#include "pki/keyset_writer.hpp"
#include "pki/pkcs12.hpp"

namespace kf {
namespace {

namespace files = keyset_files;

constexpr std::size_t kMaxCarriedSize = std::size_t{1024} * 1024;

bool exists_nofollow(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

template <class Text>
SecretBytes to_bytes(const Text& text) {
  return SecretBytes(text.begin(), text.end());
}

// A file of the previous generation, exactly as its manifest lists it: from DIR, or from its
// archive when an interrupted run has already moved it there.
Result<SecretBytes> carried(const fs::path& dir, const Manifest& previous, std::string_view name) {
  const ManifestFile* listed = previous.find(name);
  if (listed == nullptr) {
    return fail(ExitCode::refused, "{}: generation {} lists no {}: it cannot be carried over",
                dir.string(), previous.generation, name);
  }
  const fs::path places[] = {
      dir / std::string(name),
      keyset_dir::archive_path(dir, previous.generation) / std::string(name)};
  for (const auto& path : places) {
    if (!exists_nofollow(path)) continue;
    KF_TRY_ASSIGN(SecretBytes data, read_secret_file(path, kMaxCarriedSize));
    if (data.size() != listed->size || sha256_hex(data) != listed->sha256) {
      return fail(ExitCode::integrity,
                  "{} differs from its SHA-256 in generation {}'s manifest: refusing to carry it "
                  "into the next generation",
                  path.string(), previous.generation);
    }
    return data;
  }
  return fail(ExitCode::refused, "{}: generation {}'s {} is missing (neither in {} nor in {})",
              dir.string(), previous.generation, name, dir.string(), places[1].string());
}

// storepass holds the password and a line ending.
std::string store_password(const SecretBytes& storepass) {
  std::string text(storepass.begin(), storepass.end());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

Result<std::vector<ossl::X509Ptr>> certs_of(const SecretBytes& pem, const fs::path& dir) {
  return parse_certs_pem(pem, (dir / std::string(files::ca_crt)).string());
}

std::vector<std::string> fingerprints_of(const std::vector<ossl::X509Ptr>& certs) {
  std::vector<std::string> out;
  out.reserve(certs.size());
  for (const auto& cert : certs) out.push_back(fingerprint(*cert));
  return out;
}

std::vector<X509*> raw(const std::vector<ossl::X509Ptr>& certs) {
  std::vector<X509*> out;
  out.reserve(certs.size());
  for (const auto& cert : certs) out.push_back(cert.get());
  return out;
}

// Which phase may follow the previous generation: nothing but the phase before it.
Result<void> check_order(const fs::path& dir, const Manifest* previous, CaPhase phase) {
  if (previous == nullptr) {
    return fail(ExitCode::refused,
                "{} holds no key set: a CA rotation starts from one (make it with create-keys)",
                dir.string());
  }
  if (previous->imported()) {
    return fail(ExitCode::refused,
                "{}: generation {} is an imported key set: it has no keyfleet CA to rotate",
                dir.string(), previous->generation);
  }
  const std::optional<CaPhase> was = previous->ca_phase;
  bool ok = false;
  switch (phase) {
    case CaPhase::trust:
      ok = !was || *was == CaPhase::retire;
      break;
    case CaPhase::leaf:
      ok = was == CaPhase::trust;
      break;
    case CaPhase::retire:
      ok = was == CaPhase::leaf;
      break;
  }
  if (ok) return {};
  return fail(ExitCode::refused,
              "{}: generation {} is {}: the {} phase of a CA rotation follows {}", dir.string(),
              previous->generation,
              was ? fmt::format("in the {} phase of a CA rotation", to_string(*was))
                  : std::string("not part of a CA rotation"),
              to_string(phase),
              phase == CaPhase::trust  ? "a key set outside a CA rotation"
              : phase == CaPhase::leaf ? "its trust phase"
                                       : "its leaf phase");
}

void add(NewKeyset& set, std::string_view name, SecretBytes data, mode_t mode) {
  set.files.push_back({std::string(name), std::move(data), mode});
}

// The agent's files, byte for byte, and what the manifest said about them.
struct CarriedAgent {
  SecretBytes crt, key, keystore, storepass;
};

Result<CarriedAgent> carry_agent(const fs::path& dir, const Manifest& previous) {
  CarriedAgent agent;
  KF_TRY_ASSIGN(agent.crt, carried(dir, previous, files::agent_crt));
  KF_TRY_ASSIGN(agent.key, carried(dir, previous, files::agent_key));
  KF_TRY_ASSIGN(agent.keystore, carried(dir, previous, files::keystore));
  KF_TRY_ASSIGN(agent.storepass, carried(dir, previous, files::storepass));
  return agent;
}

Manifest agent_fields_of(const Manifest& previous) {
  Manifest m;
  m.key_type = previous.key_type;
  m.hosts = previous.hosts;
  m.not_after = previous.not_after;
  m.agent_fingerprint = previous.agent_fingerprint;
  m.ca_fingerprint = previous.ca_fingerprint;
  return m;
}

Result<NewKeyset> make_trust(const CreateKeysOptions& o, const CheckedNames& names,
                             const Manifest& previous, std::time_t now) {
  const fs::path& dir = o.out;
  KF_TRY_ASSIGN(SecretBytes old_pem, carried(dir, previous, files::ca_crt));
  KF_TRY_ASSIGN(auto old_cas, certs_of(old_pem, dir));
  if (old_cas.size() != 1 || fingerprint(*old_cas.front()) != previous.ca_fingerprint) {
    return fail(ExitCode::refused,
                "{}: generation {}'s ca.crt holds {} certificate{}{}: a CA rotation starts from "
                "one CA, the one that issued the agent certificate",
                dir.string(), previous.generation, old_cas.size(), old_cas.size() == 1 ? "" : "s",
                old_cas.size() == 1 ? " that is not the manifest's CA" : "");
  }
  KF_TRY_ASSIGN(CarriedAgent agent, carry_agent(dir, previous));

  KF_TRY_ASSIGN(auto ca_key, generate_key(o.key_type));
  CaSpec spec{fmt::format("keyfleet CA {}", rfc3339_utc(now)), o.organization, now, names.ca_days};
  KF_TRY_ASSIGN(auto ca_cert, make_ca_cert(*ca_key, spec));
  KF_TRY_ASSIGN(std::string new_pem, cert_pem(*ca_cert));
  KF_TRY_ASSIGN(SecretString ca_key_pem, private_key_pem(*ca_key));

  std::vector<X509*> trusted = {ca_cert.get(), old_cas.front().get()};
  const std::string password = store_password(agent.storepass);
  KF_TRY_ASSIGN(auto truststore, make_truststore(trusted, password));

  NewKeyset set;
  set.manifest = agent_fields_of(previous);
  set.manifest.ca_phase = CaPhase::trust;
  set.manifest.trusted_cas = {fingerprint(*ca_cert), previous.ca_fingerprint};
  SecretBytes ca_crt = to_bytes(new_pem);
  ca_crt.insert(ca_crt.end(), old_pem.begin(), old_pem.end());
  add(set, files::ca_crt, std::move(ca_crt), 0644);
  add(set, files::agent_crt, std::move(agent.crt), 0644);
  add(set, files::ca_key, to_bytes(ca_key_pem), 0600);
  add(set, files::agent_key, std::move(agent.key), 0600);
  add(set, files::keystore, std::move(agent.keystore), 0600);
  add(set, files::truststore, to_bytes(truststore), 0600);
  add(set, files::storepass, std::move(agent.storepass), 0600);
  return set;
}

// ca.crt and ca.key of a set in a CA rotation: the first certificate is the new CA, whose key
// ca.key holds.
struct RotatingCa {
  SecretBytes crt_pem, key_pem;
  std::vector<ossl::X509Ptr> certs;
  ossl::PkeyPtr key;
};

Result<RotatingCa> carry_ca(const fs::path& dir, const Manifest& previous) {
  RotatingCa ca;
  KF_TRY_ASSIGN(ca.crt_pem, carried(dir, previous, files::ca_crt));
  KF_TRY_ASSIGN(ca.key_pem, carried(dir, previous, files::ca_key));
  KF_TRY_ASSIGN(ca.certs, certs_of(ca.crt_pem, dir));
  const fs::path key_path = dir / std::string(files::ca_key);
  KF_TRY_ASSIGN(ca.key, parse_private_key_pem(ca.key_pem, key_path.string()));
  X509& first = *ca.certs.front();
  if (X509_check_private_key(&first, ca.key.get()) != 1) {
    (void)openssl_error();  // clears the queue; the mismatch is the message
    return fail(ExitCode::integrity, "{} is not the private key of the first CA of {}",
                key_path.string(), (dir / std::string(files::ca_crt)).string());
  }
  if (fingerprints_of(ca.certs) != previous.trusted_cas) {
    return fail(ExitCode::integrity,
                "{}: the CAs of ca.crt are not the \"trusted_cas\" of generation {}'s manifest",
                dir.string(), previous.generation);
  }
  return ca;
}

Result<NewKeyset> make_leaf(const CreateKeysOptions& o, const CheckedNames& names,
                            const Manifest& previous, std::time_t now) {
  const fs::path& dir = o.out;
  KF_TRY_ASSIGN(RotatingCa ca, carry_ca(dir, previous));
  X509& new_ca = *ca.certs.front();
  KF_TRY_ASSIGN(std::time_t ca_not_after, not_after(new_ca));
  const std::time_t agent_not_after = now + std::time_t{o.days} * 86400;
  if (agent_not_after > ca_not_after) {
    return fail(ExitCode::usage,
                "--days {}: the agent certificate would expire {}, after the new CA ({}): lower "
                "--days",
                o.days, rfc3339_utc(agent_not_after), rfc3339_utc(ca_not_after));
  }
  KF_TRY_ASSIGN(auto agent_key, generate_key(o.key_type));
  AgentSpec spec{names.hosts, names.common_name, o.organization, now, o.days};
  KF_TRY_ASSIGN(auto agent_cert, make_agent_cert(*agent_key, spec, new_ca, *ca.key));
  SecretString password = make_store_password();
  KF_TRY_ASSIGN(SecretBytes keystore,
                make_keystore(*agent_key, *agent_cert, new_ca, password.view()));
  KF_TRY_ASSIGN(auto truststore, make_truststore(raw(ca.certs), password.view()));
  password += '\n';
  KF_TRY_ASSIGN(std::string agent_pem, cert_pem(*agent_cert));
  KF_TRY_ASSIGN(SecretString agent_key_pem, private_key_pem(*agent_key));
  KF_TRY_ASSIGN(std::time_t agent_expiry, not_after(*agent_cert));

  NewKeyset set;
  set.manifest.key_type = std::string(key_type_name(o.key_type));
  set.manifest.hosts = names.hosts;
  set.manifest.not_after = rfc3339_utc(agent_expiry);
  set.manifest.ca_fingerprint = fingerprint(new_ca);
  set.manifest.agent_fingerprint = fingerprint(*agent_cert);
  set.manifest.ca_phase = CaPhase::leaf;
  set.manifest.trusted_cas = fingerprints_of(ca.certs);
  add(set, files::ca_crt, std::move(ca.crt_pem), 0644);
  add(set, files::agent_crt, to_bytes(agent_pem), 0644);
  add(set, files::ca_key, std::move(ca.key_pem), 0600);
  add(set, files::agent_key, to_bytes(agent_key_pem), 0600);
  add(set, files::keystore, std::move(keystore), 0600);
  add(set, files::truststore, to_bytes(truststore), 0600);
  add(set, files::storepass, to_bytes(password), 0600);
  return set;
}

Result<NewKeyset> make_retire(const CreateKeysOptions& o, const Manifest& previous) {
  const fs::path& dir = o.out;
  KF_TRY_ASSIGN(RotatingCa ca, carry_ca(dir, previous));
  X509& new_ca = *ca.certs.front();
  if (fingerprint(new_ca) != previous.ca_fingerprint) {
    return fail(ExitCode::integrity,
                "{}: generation {}'s agent certificate is not from the new CA (the first of "
                "ca.crt): its leaf phase did not finish",
                dir.string(), previous.generation);
  }
  KF_TRY_ASSIGN(CarriedAgent agent, carry_agent(dir, previous));
  KF_TRY_ASSIGN(std::string new_pem, cert_pem(new_ca));
  X509* trusted[] = {&new_ca};
  KF_TRY_ASSIGN(auto truststore, make_truststore(trusted, store_password(agent.storepass)));

  NewKeyset set;
  set.manifest = agent_fields_of(previous);
  set.manifest.ca_phase = CaPhase::retire;
  set.manifest.trusted_cas = {previous.ca_fingerprint};
  add(set, files::ca_crt, to_bytes(new_pem), 0644);
  add(set, files::agent_crt, std::move(agent.crt), 0644);
  add(set, files::ca_key, std::move(ca.key_pem), 0600);
  add(set, files::agent_key, std::move(agent.key), 0600);
  add(set, files::keystore, std::move(agent.keystore), 0600);
  add(set, files::truststore, to_bytes(truststore), 0600);
  add(set, files::storepass, std::move(agent.storepass), 0600);
  return set;
}

}  // namespace

Result<CreatedKeyset> create_ca_phase_keyset(const CreateKeysOptions& o, CaPhase phase) {
  if (o.keep_ca || o.import_dir) {
    return fail(ExitCode::usage, "a CA rotation's key set is neither --keep-ca nor --import");
  }
  KF_TRY_ASSIGN(CheckedNames names, check_names(o));
  const std::time_t now = std::time(nullptr);
  return write_generated_keyset(o, [&](const Manifest* previous) -> Result<NewKeyset> {
    KF_CHECK(check_order(o.out, previous, phase));
    switch (phase) {
      case CaPhase::trust:
        return make_trust(o, names, *previous, now);
      case CaPhase::leaf:
        return make_leaf(o, names, *previous, now);
      case CaPhase::retire:
        return make_retire(o, *previous);
    }
    return fail(ExitCode::failure, "unknown CA phase");
  });
}

}  // namespace kf
