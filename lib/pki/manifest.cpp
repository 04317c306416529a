#include "pki/manifest.hpp"

#include <algorithm>
#include <optional>
#include <set>

#include <openssl/evp.h>

#include "core/escape.hpp"
#include "core/files.hpp"
#include "core/path_pattern.hpp"
#include "pki/keyset_path.hpp"

namespace kf {

std::string_view to_string(CaPhase phase) {
  switch (phase) {
    case CaPhase::trust:
      return "trust";
    case CaPhase::leaf:
      return "leaf";
    case CaPhase::retire:
      return "retire";
  }
  return "trust";
}

std::optional<CaPhase> parse_ca_phase(std::string_view text) {
  for (CaPhase phase : {CaPhase::trust, CaPhase::leaf, CaPhase::retire}) {
    if (to_string(phase) == text) return phase;
  }
  return std::nullopt;
}

const ManifestFile* Manifest::find(std::string_view name) const {
  for (const auto& f : files) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const ManifestDirectory* Manifest::find_directory(std::string_view name) const {
  for (const auto& d : directories) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

bool is_safe_entry_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  auto ok = [](char c, bool first) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    return alnum || c == '_' || (!first && (c == '.' || c == '-'));
  };
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!ok(name[i], i == 0)) return false;
  }
  return true;
}

int manifest_version(const Manifest& m) {
  if (!m.directories.empty()) return 2;
  for (const auto& f : m.files) {
    if (!is_safe_entry_name(f.name) || (f.mode != 0600 && f.mode != 0644)) return 2;
  }
  return 1;
}

nlohmann::json to_json(const Manifest& m) {
  const int version = manifest_version(m);
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : m.files) {
    files.push_back({{"name", f.name},
                     {"size", f.size},
                     {"mode", fmt::format("{:04o}", f.mode)},
                     {"sha256", f.sha256}});
  }
  nlohmann::json out{{"format", version == 1 ? kManifestFormat : kManifestFormatV2},
                     {"generation", m.generation},
                     {"created", m.created},
                     {"files", files}};
  // Version 1 readers require the certificate fields, whatever the kind; version 2 has them only
  // for a generated set.
  if (version == 1 || m.kind == kKindGenerated) {
    out["key_type"] = m.key_type;
    out["hosts"] = m.hosts;
    out["not_after"] = m.not_after;
    out["fingerprints"] = {{"ca", m.ca_fingerprint}, {"agent", m.agent_fingerprint}};
  }
  if (version == 2) {
    nlohmann::json dirs = nlohmann::json::array();
    for (const auto& d : m.directories) {
      dirs.push_back({{"name", d.name}, {"mode", fmt::format("{:04o}", d.mode)}});
    }
    out["directories"] = dirs;
  }
  // Written only when they say something, so that a create-keys set of today keeps its bytes.
  if (version == 2 || m.kind != kKindGenerated) out["kind"] = m.kind;
  if (!m.exclude.empty()) out["exclude"] = m.exclude;
  if (!m.secrets.empty()) out["secrets"] = m.secrets;
  if (!m.keyset.empty()) out["keyset"] = m.keyset;
  if (m.ca_phase) out["ca_phase"] = to_string(*m.ca_phase);
  if (!m.trusted_cas.empty()) out["trusted_cas"] = m.trusted_cas;
  return out;
}

std::string new_keyset_id() {
  return random_hex(16);
}

bool is_keyset_id(std::string_view text) {
  return text.size() == 32 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string serialize(const Manifest& manifest) {
  return to_json(manifest).dump(2) + "\n";
}

namespace {

bool is_hex_digest(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_fingerprint(std::string_view s) {
  return s.starts_with("sha256:") && is_hex_digest(s.substr(7));
}

// "ca_phase" and "trusted_cas": both optional (absent outside a CA rotation, and in every manifest
// written before rotate existed). A phase names the CAs it trusts: two while both are trusted
// (trust, leaf), the new one alone once the old one is retired.
std::string ca_rotation_problem(const nlohmann::json& j, Manifest& m, bool certificate_fields) {
  if (auto it = j.find("trusted_cas"); it != j.end()) {
    if (!certificate_fields) return "\"trusted_cas\" belongs to a generated key set only";
    if (!it->is_array() || it->empty()) return "\"trusted_cas\" must be a non-empty array";
    for (const auto& v : *it) {
      if (!v.is_string() || !is_fingerprint(v.get<std::string>())) {
        return "\"trusted_cas\" holds a value that is not \"sha256:<64 lowercase hex>\"";
      }
      std::string fp = v.get<std::string>();
      if (std::find(m.trusted_cas.begin(), m.trusted_cas.end(), fp) != m.trusted_cas.end()) {
        return fmt::format("\"trusted_cas\" lists {} twice", fp);
      }
      m.trusted_cas.push_back(std::move(fp));
    }
    if (std::find(m.trusted_cas.begin(), m.trusted_cas.end(), m.ca_fingerprint) ==
        m.trusted_cas.end()) {
      return "\"trusted_cas\" does not list \"fingerprints\".\"ca\"";
    }
  }
  if (auto it = j.find("ca_phase"); it != j.end()) {
    auto phase = it->is_string() ? parse_ca_phase(it->get<std::string>()) : std::nullopt;
    if (!phase) return "\"ca_phase\" must be \"trust\", \"leaf\" or \"retire\"";
    const std::size_t want = *phase == CaPhase::retire ? 1 : 2;
    if (*phase == CaPhase::retire ? m.trusted_cas.size() != 1 : m.trusted_cas.size() < 2) {
      return fmt::format("\"ca_phase\" \"{}\" needs {} \"trusted_cas\"", to_string(*phase),
                         want == 1 ? "exactly one CA in" : "at least two CAs in");
    }
    m.ca_phase = phase;
  }
  return {};
}

}  // namespace

namespace {

std::optional<mode_t> parse_mode(const std::string& text) {
  if (text.size() != 4 || text[0] != '0') return std::nullopt;
  mode_t mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<mode_t>(c - '0');
  }
  return mode;
}

std::string parent_of(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

}  // namespace

Result<Manifest> parse_manifest(std::string_view text, std::string_view origin, ExitCode code) {
  auto bad = [&](std::string_view why) { return fail(code, "{}: {}", origin, why); };
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto field = [&](const char* key, nlohmann::json::value_t type) -> const nlohmann::json* {
    auto it = j.find(key);
    if (it == j.end() || it->type() != type) return nullptr;
    return &*it;
  };
  using V = nlohmann::json::value_t;
  const auto* format = field("format", V::string);
  int version = 0;
  if (format != nullptr && format->get<std::string>() == kManifestFormat) version = 1;
  if (format != nullptr && format->get<std::string>() == kManifestFormatV2) version = 2;
  if (version == 0) {
    return bad(
        fmt::format("\"format\" is not \"{}\" or \"{}\"", kManifestFormat, kManifestFormatV2));
  }
  Manifest m;
  const auto* generation = field("generation", V::number_unsigned);
  if (generation == nullptr || generation->get<std::uint64_t>() < 1 ||
      generation->get<std::uint64_t>() > 999999) {
    return bad("\"generation\" must be an integer from 1 to 999999");
  }
  m.generation = generation->get<std::uint64_t>();
  if (auto it = j.find("keyset"); it != j.end()) {
    if (!it->is_string() || !is_keyset_id(it->get<std::string>())) {
      return bad("\"keyset\" must be 32 lowercase hex digits");
    }
    m.keyset = it->get<std::string>();
  }
  if (auto it = j.find("kind"); it != j.end()) {
    if (!it->is_string() ||
        (it->get<std::string>() != kKindGenerated && it->get<std::string>() != kKindImported)) {
      return bad(fmt::format("\"kind\" must be \"{}\" or \"{}\"", kKindGenerated, kKindImported));
    }
    m.kind = it->get<std::string>();
  }
  const auto* created = field("created", V::string);
  if (created == nullptr) return bad("\"created\" is missing or not a string");
  m.created = created->get<std::string>();
  // Version 1 always has the certificate fields; version 2 only for a generated set.
  const bool certificate_fields = version == 1 || m.kind == kKindGenerated;
  auto optional = [&](const char* key) { return !certificate_fields && !j.contains(key); };
  for (auto [key, out] :
       {std::pair{"key_type", &m.key_type}, std::pair{"not_after", &m.not_after}}) {
    if (optional(key)) continue;
    const auto* value = field(key, V::string);
    if (value == nullptr) return bad(fmt::format("\"{}\" is missing or not a string", key));
    *out = value->get<std::string>();
  }
  if (!optional("hosts")) {
    const auto* hosts = field("hosts", V::array);
    if (hosts == nullptr) return bad("\"hosts\" is missing or not an array");
    for (const auto& h : *hosts) {
      if (!h.is_string()) return bad("\"hosts\" holds a value that is not a string");
      m.hosts.push_back(h.get<std::string>());
    }
  }
  if (!optional("fingerprints")) {
    const auto* fps = field("fingerprints", V::object);
    if (fps == nullptr || !fps->contains("ca") || !fps->contains("agent") ||
        !(*fps)["ca"].is_string() || !(*fps)["agent"].is_string()) {
      return bad("\"fingerprints\" must hold the strings \"ca\" and \"agent\"");
    }
    m.ca_fingerprint = (*fps)["ca"].get<std::string>();
    m.agent_fingerprint = (*fps)["agent"].get<std::string>();
  }
  if (std::string problem = ca_rotation_problem(j, m, certificate_fields); !problem.empty()) {
    return bad(problem);
  }
  auto name_problem = [&](const std::string& name) -> std::string {
    if (name == kManifestName) return "is not allowed: it is the manifest's own name";
    if (version == 1) return is_safe_entry_name(name) ? "" : "is not allowed";
    std::string problem = relative_path_problem(name);
    return problem.empty() ? "" : "is not allowed: " + problem;
  };
  std::set<std::string> seen;
  if (version == 2) {
    const auto* dirs = field("directories", V::array);
    if (dirs == nullptr) return bad("\"directories\" is missing or not an array");
    for (const auto& d : *dirs) {
      if (!d.is_object() || !d.contains("name") || !d["name"].is_string() || !d.contains("mode") ||
          !d["mode"].is_string()) {
        return bad("every entry of \"directories\" needs name and mode");
      }
      ManifestDirectory md{d["name"].get<std::string>(), 0};
      if (auto problem = name_problem(md.name); !problem.empty()) {
        return bad(fmt::format("directory name '{}' {}", escape_untrusted(md.name), problem));
      }
      auto mode = parse_mode(d["mode"].get<std::string>());
      if (!mode || !is_allowed_directory_mode(*mode)) {
        return bad(fmt::format("directory '{}' has mode \"{}\" (0700, 0750 or 0755)",
                               escape_untrusted(md.name), d["mode"].get<std::string>()));
      }
      md.mode = *mode;
      if (!seen.insert(md.name).second) {
        return bad(fmt::format("directory '{}' is listed twice", escape_untrusted(md.name)));
      }
      m.directories.push_back(std::move(md));
    }
  }
  const auto* files = field("files", V::array);
  if (files == nullptr) return bad("\"files\" is missing or not an array");
  for (const auto& f : *files) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("size") ||
        !f["size"].is_number_unsigned() || !f.contains("mode") || !f["mode"].is_string() ||
        !f.contains("sha256") || !f["sha256"].is_string()) {
      return bad("every entry of \"files\" needs name, size, mode and sha256");
    }
    ManifestFile mf;
    mf.name = f["name"].get<std::string>();
    if (auto problem = name_problem(mf.name); !problem.empty()) {
      return bad(fmt::format("file name '{}' {}", escape_untrusted(mf.name), problem));
    }
    if (!seen.insert(mf.name).second) {
      if (m.find_directory(mf.name) != nullptr) {
        return bad(
            fmt::format("'{}' is listed as a directory and as a file", escape_untrusted(mf.name)));
      }
      return bad(fmt::format("file '{}' is listed twice", escape_untrusted(mf.name)));
    }
    mf.size = f["size"].get<std::uint64_t>();
    std::string mode = f["mode"].get<std::string>();
    auto parsed = parse_mode(mode);
    if (version == 1 && mode != "0600" && mode != "0644") {
      return bad(fmt::format("file '{}' has mode \"{}\" (only \"0600\" and \"0644\" are allowed)",
                             mf.name, mode));
    }
    if (!parsed || !is_allowed_file_mode(*parsed)) {
      return bad(
          fmt::format("file '{}' has mode \"{}\" (0600, 0640 or 0644, or narrower: nothing wider)",
                      escape_untrusted(mf.name), mode));
    }
    mf.mode = *parsed;
    mf.sha256 = f["sha256"].get<std::string>();
    if (!is_hex_digest(mf.sha256)) {
      return bad(fmt::format("file '{}' has a sha256 that is not 64 lowercase hex digits",
                             escape_untrusted(mf.name)));
    }
    m.files.push_back(std::move(mf));
  }
  // Every parent is a listed directory: no path runs through a file or an unlisted directory.
  auto check_parent = [&](const std::string& name) -> Result<void> {
    std::string parent = parent_of(name);
    if (!parent.empty() && m.find_directory(parent) == nullptr) {
      return bad(fmt::format("'{}' is in '{}', which is not a listed directory",
                             escape_untrusted(name), escape_untrusted(parent)));
    }
    return {};
  };
  for (const auto& d : m.directories) KF_CHECK(check_parent(d.name));
  for (const auto& f : m.files) KF_CHECK(check_parent(f.name));
  for (auto [key, out] : {std::pair{"exclude", &m.exclude}, std::pair{"secrets", &m.secrets}}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (!it->is_array()) return bad(fmt::format("\"{}\" is not an array", key));
    for (const auto& v : *it) {
      if (!v.is_string()) return bad(fmt::format("\"{}\" holds a value that is not a string", key));
      out->push_back(v.get<std::string>());
    }
  }
  for (const auto& pattern : m.exclude) {
    if (auto parsed = PathPattern::parse(pattern); !parsed) {
      return bad(fmt::format("\"exclude\": {}", parsed.error().message));
    }
  }
  for (const auto& secret : m.secrets) {
    if (m.find(secret) == nullptr) {
      return bad(fmt::format("\"secrets\" names '{}', which is not a listed file",
                             escape_untrusted(secret)));
    }
  }
  auto by_name = [](const auto& a, const auto& b) { return a.name < b.name; };
  std::sort(m.files.begin(), m.files.end(), by_name);
  std::sort(m.directories.begin(), m.directories.end(), by_name);
  return m;
}

std::string sha256_hex(std::span<const std::uint8_t> data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return to_hex(std::span<const std::uint8_t>(digest, len));
}

}  // namespace kf
