#include "pki/manifest.hpp"

#include <algorithm>
#include <set>

#include <openssl/evp.h>

#include "core/files.hpp"

namespace kf {

const ManifestFile* Manifest::find(std::string_view name) const {
  for (const auto& f : files) {
    if (f.name == name) return &f;
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

nlohmann::json to_json(const Manifest& m) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : m.files) {
    files.push_back({{"name", f.name},
                     {"size", f.size},
                     {"mode", fmt::format("{:04o}", f.mode)},
                     {"sha256", f.sha256}});
  }
  nlohmann::json out{{"format", kManifestFormat},
                     {"generation", m.generation},
                     {"created", m.created},
                     {"key_type", m.key_type},
                     {"hosts", m.hosts},
                     {"not_after", m.not_after},
                     {"fingerprints", {{"ca", m.ca_fingerprint}, {"agent", m.agent_fingerprint}}},
                     {"files", files}};
  if (!m.keyset.empty()) out["keyset"] = m.keyset;
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
  if (format == nullptr || format->get<std::string>() != kManifestFormat) {
    return bad(fmt::format("\"format\" is not \"{}\"", kManifestFormat));
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
  for (auto [key, out] : {std::pair{"created", &m.created}, std::pair{"key_type", &m.key_type},
                          std::pair{"not_after", &m.not_after}}) {
    const auto* value = field(key, V::string);
    if (value == nullptr) return bad(fmt::format("\"{}\" is missing or not a string", key));
    *out = value->get<std::string>();
  }
  const auto* hosts = field("hosts", V::array);
  if (hosts == nullptr) return bad("\"hosts\" is missing or not an array");
  for (const auto& h : *hosts) {
    if (!h.is_string()) return bad("\"hosts\" holds a value that is not a string");
    m.hosts.push_back(h.get<std::string>());
  }
  const auto* fps = field("fingerprints", V::object);
  if (fps == nullptr || !fps->contains("ca") || !fps->contains("agent") ||
      !(*fps)["ca"].is_string() || !(*fps)["agent"].is_string()) {
    return bad("\"fingerprints\" must hold the strings \"ca\" and \"agent\"");
  }
  m.ca_fingerprint = (*fps)["ca"].get<std::string>();
  m.agent_fingerprint = (*fps)["agent"].get<std::string>();
  const auto* files = field("files", V::array);
  if (files == nullptr) return bad("\"files\" is missing or not an array");
  std::set<std::string> seen;
  for (const auto& f : *files) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("size") ||
        !f["size"].is_number_unsigned() || !f.contains("mode") || !f["mode"].is_string() ||
        !f.contains("sha256") || !f["sha256"].is_string()) {
      return bad("every entry of \"files\" needs name, size, mode and sha256");
    }
    ManifestFile mf;
    mf.name = f["name"].get<std::string>();
    if (!is_safe_entry_name(mf.name) || mf.name == kManifestName) {
      return bad(fmt::format("file name '{}' is not allowed", mf.name));
    }
    if (!seen.insert(mf.name).second) return bad(fmt::format("file '{}' is listed twice", mf.name));
    mf.size = f["size"].get<std::uint64_t>();
    std::string mode = f["mode"].get<std::string>();
    if (mode == "0600") {
      mf.mode = 0600;
    } else if (mode == "0644") {
      mf.mode = 0644;
    } else {
      return bad(fmt::format("file '{}' has mode \"{}\" (only \"0600\" and \"0644\" are allowed)",
                             mf.name, mode));
    }
    mf.sha256 = f["sha256"].get<std::string>();
    if (!is_hex_digest(mf.sha256)) {
      return bad(
          fmt::format("file '{}' has a sha256 that is not 64 lowercase hex digits", mf.name));
    }
    m.files.push_back(std::move(mf));
  }
  std::sort(m.files.begin(), m.files.end(),
            [](const ManifestFile& a, const ManifestFile& b) { return a.name < b.name; });
  return m;
}

std::string sha256_hex(std::span<const std::uint8_t> data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return to_hex(std::span<const std::uint8_t>(digest, len));
}

}  // namespace kf
