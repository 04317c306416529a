#include "pki/keyset.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>

#include <fmt/ranges.h>

#include "core/files.hpp"
#include "core/interrupt.hpp"
#include "core/time.hpp"
#include "pki/cert.hpp"
#include "pki/hosts.hpp"
#include "pki/keyset_dir.hpp"
#include "pki/pkcs12.hpp"

namespace kf {
namespace {

namespace files = keyset_files;

constexpr std::size_t kMaxNameLength = 64;  // ub-common-name and ub-organization-name, RFC 5280
constexpr std::uint64_t kMaxGeneration = 999999;
constexpr std::size_t kMaxCertFileSize = std::size_t{1024} * 1024;
constexpr std::size_t kMaxKeyFileSize = std::size_t{64} * 1024;

struct Plan {
  std::vector<std::string> hosts;
  std::string common_name;
  int ca_days = kDefaultCaDays;
};

struct CaMaterial {
  ossl::PkeyPtr key;
  ossl::X509Ptr cert;
  SecretBytes key_file;  // the bytes written as ca.key
  SecretBytes cert_file;
};

struct PendingFile {
  std::string_view name;
  SecretBytes data;
  mode_t mode;
};

template <class Text>
SecretBytes to_bytes(const Text& text) {
  return SecretBytes(text.begin(), text.end());
}

Result<void> check_days(std::string_view option, int days) {
  if (days < 1 || days > kMaxDays) {
    return fail(ExitCode::usage, "{} {}: must be a number of days from 1 to {} (100 years)", option,
                days, kMaxDays);
  }
  return {};
}

Result<void> check_name(std::string_view option, std::string_view value) {
  if (value.size() > kMaxNameLength) {
    return fail(ExitCode::usage,
                "{} '{}': {} characters, more than the {} a certificate name holds", option, value,
                value.size(), kMaxNameLength);
  }
  if (std::any_of(value.begin(), value.end(),
                  [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    return fail(ExitCode::usage, "{}: control characters are not allowed", option);
  }
  return {};
}

// Everything about the options that can be wrong, checked before the directory is touched.
Result<Plan> validate(const CreateKeysOptions& o) {
  Plan plan;
  if (o.out.empty()) {
    return fail(ExitCode::usage, "--out is required: the directory to write the key set to");
  }
  plan.hosts = KF_TRY(normalize_hosts(o.hosts));
  if (plan.hosts.empty()) {
    return fail(ExitCode::usage,
                "no hosts: name the nodes with --host, --hosts or --inventory (every one goes into "
                "the agent certificate's subjectAltName)");
  }
  KF_CHECK(check_days("--days", o.days));
  if (o.keep_ca && o.ca_days) {
    return fail(
        ExitCode::usage,
        "--ca-days cannot be combined with --keep-ca: the kept CA keeps the validity it has");
  }
  plan.ca_days = o.ca_days.value_or(kDefaultCaDays);
  KF_CHECK(check_days("--ca-days", plan.ca_days));
  if (!o.keep_ca && o.days > plan.ca_days) {
    return fail(ExitCode::usage,
                "--days {} is more than --ca-days {}: the agent certificate may not outlive its CA",
                o.days, plan.ca_days);
  }
  if (o.common_name.empty()) {
    plan.common_name = plan.hosts.front();
    if (plan.common_name.size() > kMaxNameLength) {
      return fail(ExitCode::usage,
                  "the first host '{}' is longer than the {} characters a certificate's common "
                  "name holds: give a shorter --cn (the host stays in the subjectAltName)",
                  plan.common_name, kMaxNameLength);
    }
  } else {
    plan.common_name = o.common_name;
    KF_CHECK(check_name("--cn", o.common_name));
  }
  KF_CHECK(check_name("--org", o.organization));
  return plan;
}

bool exists_nofollow(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// --keep-ca: the CA already in the directory, which must be a usable CA that outlives the new
// agent certificate. Its files are carried into the new set byte for byte.
Result<CaMaterial> load_ca(const fs::path& dir, std::time_t agent_not_after, int days) {
  fs::path crt = dir / std::string(files::ca_crt);
  fs::path key = dir / std::string(files::ca_key);
  for (const auto& path : {crt, key}) {
    if (!exists_nofollow(path)) {
      return fail(ExitCode::usage,
                  "--keep-ca: {} does not exist: there is no CA to keep (leave out --keep-ca to "
                  "create a new one)",
                  path.string());
    }
  }
  CaMaterial ca;
  ca.cert_file = to_bytes(KF_TRY(read_file(crt, kMaxCertFileSize)));
  ca.cert = KF_TRY(parse_cert_pem(ca.cert_file, crt.string()));
  ca.key_file = KF_TRY(read_secret_file(key, kMaxKeyFileSize));
  ca.key = KF_TRY(parse_private_key_pem(ca.key_file, key.string()));
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    (void)openssl_error();  // clears the queue; the mismatch is the message
    return fail(ExitCode::usage, "--keep-ca: {} is not the private key of {}", key.string(),
                crt.string());
  }
  if (X509_check_ca(ca.cert.get()) != 1 ||
      (X509_get_key_usage(ca.cert.get()) & KU_KEY_CERT_SIGN) == 0) {
    return fail(ExitCode::usage,
                "--keep-ca: {} is not a CA certificate (it needs basicConstraints CA:TRUE and the "
                "keyCertSign key usage)",
                crt.string());
  }
  std::time_t ca_not_after = KF_TRY(not_after(*ca.cert));
  if (agent_not_after > ca_not_after) {
    return fail(ExitCode::usage,
                "--days {}: the agent certificate would expire {}, after the kept CA {} ({}): "
                "lower --days, or leave out --keep-ca to create a new CA",
                days, rfc3339_utc(agent_not_after), crt.string(), rfc3339_utc(ca_not_after));
  }
  return ca;
}

Result<CaMaterial> new_ca(KeyType type, const std::string& organization, std::time_t now,
                          int days) {
  CaMaterial ca;
  ca.key = KF_TRY(generate_key(type));
  // The creation time makes every CA's name distinct, so a node that trusts the old and the new
  // CA during a rotation (and an operator reading `openssl x509 -subject`) can tell them apart.
  CaSpec spec{fmt::format("keyfleet CA {}", rfc3339_utc(now)), organization, now, days};
  ca.cert = KF_TRY(make_ca_cert(*ca.key, spec));
  ca.key_file = to_bytes(KF_TRY(private_key_pem(*ca.key)));
  ca.cert_file = to_bytes(KF_TRY(cert_pem(*ca.cert)));
  return ca;
}

// Decides the generation of the new set, or refuses. Returns whether an old set must be archived.
Result<bool> check_existing(const fs::path& dir, const keyset_dir::State& state,
                            const CreateKeysOptions& o) {
  if (state.empty() || (o.keep_ca && state.only_ca())) return false;
  if (!state.has_manifest) {
    std::string hint;
    if (state.only_ca()) hint = " (to issue from that CA, add --keep-ca)";
    if (state.highest_archived > 0) {
      hint = fmt::format(" (the last archived set is in {})",
                         keyset_dir::archive_path(dir, state.highest_archived).string());
    }
    return fail(ExitCode::refused,
                "{} holds key set files ({}) but no manifest.json, as an interrupted create-keys "
                "or a copy by hand leaves them: refusing to touch them, even with --force; move "
                "them away and run again{}",
                dir.string(), fmt::join(state.present, ", "), hint);
  }
  if (!state.manifest) {
    return fail(ExitCode::refused,
                "{}: refusing to archive a key set whose generation is unknown, even with "
                "--force; repair the manifest or move the set away by hand",
                state.manifest.error().message);
  }
  const Manifest& old = *state.manifest;
  if (!o.force) {
    return fail(ExitCode::refused,
                "{} already holds a key set (generation {}, created {}): refusing to replace it; "
                "add --force to move it to {} and write generation {}{}",
                dir.string(), old.generation, old.created,
                keyset_dir::archive_path(dir, old.generation).string(), old.generation + 1,
                o.keep_ca ? "" : " (with --keep-ca to keep its CA)");
  }
  return true;
}

}  // namespace

Result<CreatedKeyset> create_keyset(const CreateKeysOptions& o) {
  ScopedUmask umask(077);
  Plan plan = KF_TRY(validate(o));
  const fs::path& dir = o.out;
  std::time_t now = std::time(nullptr);

  bool existed = exists_nofollow(dir);
  if (!existed && o.keep_ca) {
    return fail(ExitCode::usage,
                "--keep-ca: {} does not exist: there is no CA to keep (leave out --keep-ca to "
                "create a new one)",
                (dir / std::string(files::ca_crt)).string());
  }
  KF_CHECK(make_dir(dir, 0700));
  if (!existed) KF_CHECK(fsync_dir(dir.has_parent_path() ? dir.parent_path() : fs::path(".")));
  auto lock = KF_TRY(keyset_dir::Lock::acquire(dir));
  auto state = KF_TRY(keyset_dir::inspect(dir));
  bool archiving = KF_TRY(check_existing(dir, state, o));
  std::uint64_t previous = archiving ? state.manifest->generation : 0;
  std::uint64_t generation = std::max(previous, state.highest_archived) + 1;
  if (generation > kMaxGeneration) {
    return fail(ExitCode::refused, "{}: generation {} would pass {}, the last one keyfleet numbers",
                dir.string(), generation, kMaxGeneration);
  }

  // Order, so that no interruption loses key material or leaves a set that lies about itself:
  // 1. everything is made in memory first: a failure or Ctrl-C up to there changes nothing;
  // 2. the old set is moved to archive/NNNNNN by rename(2), manifest.json last: every file is
  //    whole in one place or the other, and running --force again finishes the move;
  // 3. the new files are written (temporary name, fsync, rename), manifest.json last: a directory
  //    with key set files but no manifest is refused until an operator looks at it.
  // Writing the new set before archiving would need the old names free, or a second directory.
  CaMaterial ca = o.keep_ca ? KF_TRY(load_ca(dir, now + std::time_t{o.days} * 86400, o.days))
                            : KF_TRY(new_ca(o.key_type, o.organization, now, plan.ca_days));
  auto agent_key = KF_TRY(generate_key(o.key_type));
  AgentSpec spec{plan.hosts, plan.common_name, o.organization, now, o.days};
  auto agent_cert = KF_TRY(make_agent_cert(*agent_key, spec, *ca.cert, *ca.key));
  SecretString password = make_store_password();
  SecretBytes keystore = KF_TRY(make_keystore(*agent_key, *agent_cert, *ca.cert, password.view()));
  auto truststore = KF_TRY(make_truststore(*ca.cert, password.view()));
  password += '\n';

  Manifest manifest;
  // One lineage per directory: the id of the set being replaced, when it has one.
  manifest.keyset =
      archiving && !state.manifest->keyset.empty() ? state.manifest->keyset : new_keyset_id();
  manifest.generation = generation;
  manifest.created = rfc3339_utc(now);
  manifest.key_type = std::string(key_type_name(o.key_type));
  manifest.hosts = plan.hosts;
  manifest.not_after = rfc3339_utc(KF_TRY(not_after(*agent_cert)));
  manifest.ca_fingerprint = fingerprint(*ca.cert);
  manifest.agent_fingerprint = fingerprint(*agent_cert);
  std::vector<PendingFile> pending;
  pending.push_back({files::ca_crt, std::move(ca.cert_file), 0644});
  pending.push_back({files::agent_crt, to_bytes(KF_TRY(cert_pem(*agent_cert))), 0644});
  pending.push_back({files::ca_key, std::move(ca.key_file), 0600});
  pending.push_back({files::agent_key, to_bytes(KF_TRY(private_key_pem(*agent_key))), 0600});
  pending.push_back({files::keystore, std::move(keystore), 0600});
  pending.push_back({files::truststore, to_bytes(truststore), 0600});
  pending.push_back({files::storepass, to_bytes(password), 0600});
  for (const auto& file : pending) {
    manifest.files.push_back(
        {std::string(file.name), file.data.size(), file.mode, sha256_hex(file.data)});
  }
  std::sort(manifest.files.begin(), manifest.files.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.name < b.name; });

  if (interrupted()) {
    return fail(ExitCode::interrupted, "interrupted: nothing was written to {}", dir.string());
  }
  KF_CHECK(keyset_dir::wipe_stale_temporaries(dir));
  CreatedKeyset created;
  if (archiving) created.archived_to = KF_TRY(keyset_dir::archive(dir, *state.manifest));
  for (const auto& file : pending) {
    KF_CHECK(write_file_atomic(dir / std::string(file.name), file.data, file.mode, false));
  }
  KF_CHECK(write_file_atomic(dir / std::string(kManifestName), as_bytes(serialize(manifest)), 0644,
                             false));
  KF_CHECK(fsync_dir(dir));
  created.manifest = std::move(manifest);
  created.ca_kept = o.keep_ca;
  return created;
}

}  // namespace kf
