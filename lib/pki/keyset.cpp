#include "pki/keyset.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <set>

#include <openssl/rand.h>
#include <boost/filesystem/operations.hpp>

#include <fmt/ranges.h>

#include "core/escape.hpp"
#include "core/files.hpp"
#include "core/interrupt.hpp"
#include "core/time.hpp"
#include "pki/cert.hpp"
#include "pki/hosts.hpp"
#include "pki/keyset_dir.hpp"
#include "pki/keyset_writer.hpp"
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
  std::string name;
  SecretBytes data;
  mode_t mode;           // of the copy in the key directory
  mode_t manifest_mode;  // what the manifest says, and a node gets
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
  KF_TRY_ASSIGN(plan.hosts, normalize_hosts(o.hosts));
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
  KF_TRY_ASSIGN(auto cert_pem_bytes, read_file(crt, kMaxCertFileSize));
  ca.cert_file = to_bytes(cert_pem_bytes);
  KF_TRY_ASSIGN(ca.cert, parse_cert_pem(ca.cert_file, crt.string()));
  KF_TRY_ASSIGN(ca.key_file, read_secret_file(key, kMaxKeyFileSize));
  KF_TRY_ASSIGN(ca.key, parse_private_key_pem(ca.key_file, key.string()));
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
  KF_TRY_ASSIGN(std::time_t ca_not_after, not_after(*ca.cert));
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
  KF_TRY_ASSIGN(ca.key, generate_key(type));
  // The creation time makes every CA's name distinct, so a node that trusts the old and the new
  // CA during a rotation (and an operator reading `openssl x509 -subject`) can tell them apart.
  CaSpec spec{fmt::format("keyfleet CA {}", rfc3339_utc(now)), organization, now, days};
  KF_TRY_ASSIGN(ca.cert, make_ca_cert(*ca.key, spec));
  KF_TRY_ASSIGN(SecretString key_pem, private_key_pem(*ca.key));
  ca.key_file = to_bytes(key_pem);
  KF_TRY_ASSIGN(std::string ca_cert_pem, cert_pem(*ca.cert));
  ca.cert_file = to_bytes(ca_cert_pem);
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

// The key directory under its lock, and what the new set will be numbered.
struct Target {
  std::optional<keyset_dir::Lock> lock;  // empty when the caller holds it (held_lock)
  keyset_dir::State state;
  bool archiving = false;
  std::uint64_t generation = 1;
};

Result<Target> open_target(const CreateKeysOptions& o) {
  const fs::path& dir = o.out;
  bool existed = exists_nofollow(dir);
  if (!existed && o.keep_ca) {
    return fail(ExitCode::usage,
                "--keep-ca: {} does not exist: there is no CA to keep (leave out --keep-ca to "
                "create a new one)",
                (dir / std::string(files::ca_crt)).string());
  }
  KF_CHECK(make_dir(dir, 0700));
  if (!existed) KF_CHECK(fsync_dir(dir.has_parent_path() ? dir.parent_path() : fs::path(".")));
  std::optional<keyset_dir::Lock> lock;
  if (o.held_lock == nullptr) {
    KF_TRY_ASSIGN(auto acquired, keyset_dir::Lock::acquire(dir));
    lock.emplace(std::move(acquired));
  }
  KF_TRY_ASSIGN(auto state, keyset_dir::inspect(dir));
  KF_TRY_ASSIGN(bool archiving, check_existing(dir, state, o));
  std::uint64_t previous = archiving ? state.manifest->generation : 0;
  std::uint64_t generation = std::max(previous, state.highest_archived) + 1;
  if (generation > kMaxGeneration) {
    return fail(ExitCode::refused, "{}: generation {} would pass {}, the last one keyfleet numbers",
                dir.string(), generation, kMaxGeneration);
  }
  return Target{std::move(lock), std::move(state), archiving, generation};
}

std::string top_of(std::string_view path) {
  return std::string(path.substr(0, path.find('/')));
}

// --secret and --keep-secret: fresh bytes from the OS CSPRNG, or the previous generation's file,
// checked against the manifest that listed it.
Result<std::vector<PendingFile>> make_secrets(const CreateKeysOptions& o, const Target& t) {
  std::vector<SecretSpec> specs = o.secrets;
  for (const auto& name : o.keep_secrets) {
    if (!is_safe_entry_name(name)) {
      return fail(ExitCode::usage, "--keep-secret '{}': not a secret's name",
                  escape_untrusted(name));
    }
    if (std::none_of(specs.begin(), specs.end(), [&](const auto& s) { return s.name == name; })) {
      specs.push_back({name, std::nullopt});
    }
  }
  std::vector<PendingFile> out;
  for (const auto& spec : specs) {
    // Checked here too: a caller need not have gone through parse_secret_spec.
    if (!is_safe_entry_name(spec.name) || spec.name == kManifestName ||
        (spec.bytes && (*spec.bytes < kMinSecretBytes || *spec.bytes > kMaxSecretBytes))) {
      return fail(ExitCode::usage, "--secret {}: a simple file name and {} to {} bytes",
                  escape_untrusted(spec.name), kMinSecretBytes, kMaxSecretBytes);
    }
    if (std::any_of(out.begin(), out.end(), [&](const auto& f) { return f.name == spec.name; })) {
      return fail(ExitCode::usage, "--secret {}: given twice", spec.name);
    }
    const bool keep =
        std::find(o.keep_secrets.begin(), o.keep_secrets.end(), spec.name) != o.keep_secrets.end();
    if (!keep) {
      SecretBytes data(spec.bytes.value_or(kDefaultSecretBytes));
      if (RAND_priv_bytes(data.data(), static_cast<int>(data.size())) != 1) {
        return fail(ExitCode::failure, "--secret {}: the OS random generator failed: {}", spec.name,
                    openssl_error());
      }
      out.push_back({spec.name, std::move(data), 0600, 0600});
      continue;
    }
    const Manifest* old = t.archiving ? &*t.state.manifest : nullptr;
    if (old == nullptr) {
      return fail(ExitCode::usage,
                  "--keep-secret {}: there is no key set in {} to keep it from (it keeps a secret "
                  "of the set that --force replaces)",
                  spec.name, o.out.string());
    }
    const ManifestFile* listed = old->find(spec.name);
    if (listed == nullptr ||
        std::find(old->secrets.begin(), old->secrets.end(), spec.name) == old->secrets.end()) {
      return fail(ExitCode::usage,
                  "--keep-secret {}: generation {} in {} has no secret by that name", spec.name,
                  old->generation, o.out.string());
    }
    if (spec.bytes && *spec.bytes != listed->size) {
      return fail(ExitCode::usage, "--secret {}:{}: the kept secret has {} bytes", spec.name,
                  *spec.bytes, listed->size);
    }
    fs::path path = o.out / spec.name;
    KF_TRY_ASSIGN(SecretBytes data, read_secret_file(path, kMaxSecretBytes));
    if (data.size() != listed->size || sha256_hex(data) != listed->sha256) {
      return fail(
          ExitCode::integrity,
          "--keep-secret {}: {} differs from its SHA-256 in the manifest: refusing to carry "
          "it into a new generation",
          spec.name, path.string());
    }
    out.push_back({spec.name, std::move(data), 0600, 0600});
  }
  return out;
}

// Names besides create-keys' own that the new set puts at the top of DIR must be free there
// (or belong to the set being archived): nothing of an operator's is ever overwritten.
Result<void> check_free(const fs::path& dir, const Target& t, const std::vector<PendingFile>& files,
                        const std::vector<ManifestDirectory>& directories) {
  std::set<std::string> old_tops;
  if (t.archiving) {
    for (const auto& f : t.state.manifest->files) old_tops.insert(top_of(f.name));
    for (const auto& d : t.state.manifest->directories) old_tops.insert(top_of(d.name));
  }
  auto standard = keyset_dir::file_names();
  auto check = [&](std::string_view name) -> Result<void> {
    std::string top = top_of(name);
    if (std::find(standard.begin(), standard.end(), top) != standard.end()) return {};
    if (old_tops.contains(top) || !exists_nofollow(dir / top)) return {};
    return fail(ExitCode::refused,
                "{} already exists and belongs to no key set keyfleet made there (an interrupted "
                "create-keys, or a copy by hand): refusing to overwrite it; move it away and run "
                "again",
                (dir / top).string());
  };
  for (const auto& f : files) KF_CHECK(check(f.name));
  for (const auto& d : directories) KF_CHECK(check(d.name));
  return {};
}

// Archives the old set when replacing it, then writes the new one: directories (0700), files,
// manifest.json last. See create_keyset for the order.
Result<CreatedKeyset> commit(const CreateKeysOptions& o, Target& t, Manifest manifest,
                             std::vector<PendingFile> files,
                             const std::vector<ManifestDirectory>& directories, bool ca_kept) {
  const fs::path& dir = o.out;
  KF_TRY_ASSIGN(auto secrets, make_secrets(o, t));
  for (auto& secret : secrets) {
    manifest.secrets.push_back(secret.name);
    files.push_back(std::move(secret));
  }
  std::set<std::string> names;
  for (const auto& d : directories) names.insert(d.name);
  for (const auto& f : files) {
    if (!names.insert(f.name).second) {
      return fail(ExitCode::usage,
                  "'{}' would be in the key set twice (--secret names a file the "
                  "set already has)",
                  f.name);
    }
  }
  KF_CHECK(check_free(dir, t, files, directories));

  manifest.keyset =
      t.archiving && !t.state.manifest->keyset.empty() ? t.state.manifest->keyset : new_keyset_id();
  manifest.generation = t.generation;
  manifest.directories = directories;
  for (const auto& file : files) {
    manifest.files.push_back(
        {file.name, file.data.size(), file.manifest_mode, sha256_hex(file.data)});
  }
  auto by_name = [](const auto& a, const auto& b) { return a.name < b.name; };
  std::sort(manifest.files.begin(), manifest.files.end(), by_name);
  std::sort(manifest.directories.begin(), manifest.directories.end(), by_name);
  std::sort(manifest.secrets.begin(), manifest.secrets.end());

  if (interrupted()) {
    return fail(ExitCode::interrupted, "interrupted: nothing was written to {}", dir.string());
  }
  KF_CHECK(keyset_dir::wipe_stale_temporaries(dir));
  CreatedKeyset created;
  if (t.archiving) {
    KF_TRY_ASSIGN(created.archived_to, keyset_dir::archive(dir, *t.state.manifest));
  }
  for (const auto& d : manifest.directories) KF_CHECK(make_dir(dir / d.name, 0700));
  auto standard = keyset_dir::file_names();
  for (const auto& file : files) {
    fs::path path = dir / file.name;
    if (std::find(standard.begin(), standard.end(), file.name) != standard.end()) {
      KF_CHECK(write_file_atomic(path, file.data, file.mode, false));
    } else {
      // A name check_free found free: created exclusively, never through a symlink.
      KF_CHECK(write_new_file(path, file.data, file.mode));
    }
  }
  for (const auto& d : manifest.directories) KF_CHECK(fsync_dir(dir / d.name));
  KF_CHECK(write_file_atomic(dir / std::string(kManifestName), as_bytes(serialize(manifest)), 0644,
                             false));
  KF_CHECK(fsync_dir(dir));
  created.manifest = std::move(manifest);
  created.ca_kept = ca_kept;
  return created;
}

Result<void> check_import_options(const CreateKeysOptions& o) {
  if (o.out.empty()) {
    return fail(ExitCode::usage, "--out is required: the directory to write the key set to");
  }
  if (!o.hosts.empty()) {
    return fail(ExitCode::usage,
                "--import: a key set of existing files has no hosts: leave out --host, --hosts "
                "and --inventory");
  }
  if (o.keep_ca) return fail(ExitCode::usage, "--import cannot be combined with --keep-ca");
  return {};
}

// --out inside --import DIR would import the key directory into itself.
Result<void> check_not_inside(const fs::path& out, const fs::path& source) {
  boost::system::error_code ec;
  fs::path a = fs::weakly_canonical(fs::absolute(out), ec);
  fs::path b = fs::weakly_canonical(fs::absolute(source), ec);
  if (ec) return {};  // the import reports an unreadable source itself
  fs::path rel = a.lexically_relative(b);
  if (!rel.empty() && *rel.begin() != "..") {
    return fail(ExitCode::usage, "--out {} is inside --import {}: choose a key directory elsewhere",
                out.string(), source.string());
  }
  return {};
}

}  // namespace

Result<SecretSpec> parse_secret_spec(std::string_view text) {
  SecretSpec spec;
  auto colon = text.find(':');
  spec.name = std::string(text.substr(0, colon));
  if (!is_safe_entry_name(spec.name) || spec.name == kManifestName) {
    return fail(ExitCode::usage,
                "--secret '{}': the name must be a simple file name ([A-Za-z0-9_][A-Za-z0-9._-]*)",
                escape_untrusted(text));
  }
  if (colon != std::string_view::npos) {
    std::string_view digits = text.substr(colon + 1);
    std::size_t bytes = 0;
    bool ok = !digits.empty() && digits.size() <= 5;
    for (char c : digits) {
      ok = ok && c >= '0' && c <= '9';
      if (ok) bytes = bytes * 10 + static_cast<std::size_t>(c - '0');
    }
    if (!ok || bytes < kMinSecretBytes || bytes > kMaxSecretBytes) {
      return fail(ExitCode::usage, "--secret {}: the size must be {} to {} bytes",
                  escape_untrusted(text), kMinSecretBytes, kMaxSecretBytes);
    }
    spec.bytes = bytes;
  }
  return spec;
}

Result<CreatedKeyset> create_keyset_from(const CreateKeysOptions& o, ImportedTree tree) {
  ScopedUmask umask(077);
  KF_CHECK(check_import_options(o));
  KF_TRY_ASSIGN(Target target, open_target(o));
  Manifest manifest;
  manifest.kind = std::string(kKindImported);
  manifest.created = rfc3339_utc(std::time(nullptr));
  manifest.exclude = o.exclude;
  std::vector<PendingFile> files;
  files.reserve(tree.files.size());
  for (auto& f : tree.files) {
    // The manifest keeps the source's mode for the nodes; the copy here is for keyfleet alone.
    files.push_back({std::move(f.path), std::move(f.data), 0600, f.mode});
  }
  KF_TRY_ASSIGN(auto created,
                commit(o, target, std::move(manifest), std::move(files), tree.directories, false));
  created.excluded = std::move(tree.excluded);
  return created;
}

Result<CreatedKeyset> create_keyset(const CreateKeysOptions& o) {
  ScopedUmask umask(077);
  if (o.import_dir) {
    KF_CHECK(check_import_options(o));
    KF_CHECK(check_not_inside(o.out, *o.import_dir));
    KF_TRY_ASSIGN(auto patterns, parse_patterns(o.exclude, "--exclude-path"));
    KF_TRY_ASSIGN(auto tree, read_import_dir(*o.import_dir, patterns));
    return create_keyset_from(o, std::move(tree));
  }
  KF_TRY_ASSIGN(Plan plan, validate(o));
  const fs::path& dir = o.out;
  std::time_t now = std::time(nullptr);
  KF_TRY_ASSIGN(Target target, open_target(o));

  // Order, so that no interruption loses key material or leaves a set that lies about itself:
  // 1. everything is made in memory first: a failure or Ctrl-C up to there changes nothing;
  // 2. the old set is moved to archive/NNNNNN by rename(2), manifest.json last: every file is
  //    whole in one place or the other, and running --force again finishes the move;
  // 3. the new files are written (temporary name, fsync, rename), manifest.json last: a directory
  //    with key set files but no manifest is refused until an operator looks at it.
  // Writing the new set before archiving would need the old names free, or a second directory.
  KF_TRY_ASSIGN(CaMaterial ca, o.keep_ca ? load_ca(dir, now + std::time_t{o.days} * 86400, o.days)
                                         : new_ca(o.key_type, o.organization, now, plan.ca_days));
  KF_TRY_ASSIGN(auto agent_key, generate_key(o.key_type));
  AgentSpec spec{plan.hosts, plan.common_name, o.organization, now, o.days};
  KF_TRY_ASSIGN(auto agent_cert, make_agent_cert(*agent_key, spec, *ca.cert, *ca.key));
  SecretString password = make_store_password();
  KF_TRY_ASSIGN(SecretBytes keystore,
                make_keystore(*agent_key, *agent_cert, *ca.cert, password.view()));
  // A kept ca.crt may hold more than one CA (a CA rotation's): the truststore trusts them all.
  KF_TRY_ASSIGN(auto trusted, parse_certs_pem(ca.cert_file, (dir / "ca.crt").string()));
  std::vector<X509*> trusted_certs;
  for (const auto& cert : trusted) trusted_certs.push_back(cert.get());
  KF_TRY_ASSIGN(auto truststore, make_truststore(trusted_certs, password.view()));
  password += '\n';

  Manifest manifest;
  manifest.created = rfc3339_utc(now);
  manifest.key_type = std::string(key_type_name(o.key_type));
  manifest.hosts = plan.hosts;
  KF_TRY_ASSIGN(std::time_t agent_not_after, not_after(*agent_cert));
  manifest.not_after = rfc3339_utc(agent_not_after);
  manifest.ca_fingerprint = fingerprint(*ca.cert);
  manifest.agent_fingerprint = fingerprint(*agent_cert);
  if (trusted.size() > 1) {
    for (const auto& cert : trusted) manifest.trusted_cas.push_back(fingerprint(*cert));
  }
  std::vector<PendingFile> pending;
  auto add = [&](std::string_view name, SecretBytes data, mode_t mode) {
    pending.push_back({std::string(name), std::move(data), mode, mode});
  };
  add(files::ca_crt, std::move(ca.cert_file), 0644);
  KF_TRY_ASSIGN(std::string agent_cert_pem, cert_pem(*agent_cert));
  add(files::agent_crt, to_bytes(agent_cert_pem), 0644);
  add(files::ca_key, std::move(ca.key_file), 0600);
  KF_TRY_ASSIGN(SecretString agent_key_pem, private_key_pem(*agent_key));
  add(files::agent_key, to_bytes(agent_key_pem), 0600);
  add(files::keystore, std::move(keystore), 0600);
  add(files::truststore, to_bytes(truststore), 0600);
  add(files::storepass, to_bytes(password), 0600);
  return commit(o, target, std::move(manifest), std::move(pending), {}, o.keep_ca);
}

Result<CreatedKeyset> write_generated_keyset(const CreateKeysOptions& o, const MakeKeyset& make) {
  ScopedUmask umask(077);
  if (o.out.empty()) {
    return fail(ExitCode::usage, "--out is required: the directory to write the key set to");
  }
  KF_TRY_ASSIGN(Target target, open_target(o));
  const Manifest* previous = target.archiving ? &*target.state.manifest : nullptr;
  KF_TRY_ASSIGN(NewKeyset made, make(previous));
  if (made.manifest.created.empty()) made.manifest.created = rfc3339_utc(std::time(nullptr));
  std::vector<PendingFile> pending;
  pending.reserve(made.files.size());
  for (auto& f : made.files) {
    pending.push_back({std::move(f.name), std::move(f.data), f.mode, f.mode});
  }
  return commit(o, target, std::move(made.manifest), std::move(pending), {}, false);
}

Result<CheckedNames> check_names(const CreateKeysOptions& o) {
  KF_TRY_ASSIGN(Plan plan, validate(o));
  return CheckedNames{std::move(plan.hosts), std::move(plan.common_name), plan.ca_days};
}

}  // namespace kf
