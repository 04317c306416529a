#include <functional>

#include <gtest/gtest.h>

#include "core/secret.hpp"
#include "pki/manifest.hpp"

namespace kf {
namespace {

const std::string kDigest(64, 'a');

Manifest sample() {
  Manifest m;
  m.generation = 7;
  m.created = "2026-11-23T10:00:00Z";
  m.key_type = "ec-p256";
  m.hosts = {"node1", "10.0.0.3"};
  m.not_after = "2029-02-25T10:00:00Z";
  m.ca_fingerprint = "sha256:" + kDigest;
  m.agent_fingerprint = "sha256:" + std::string(64, 'b');
  m.files = {{"agent.crt", 700, 0644, kDigest}, {"agent.key", 241, 0600, std::string(64, 'c')}};
  return m;
}

// The sample as JSON with one change made by `edit`, parsed back.
Result<Manifest> parse_edited(const std::function<void(nlohmann::json&)>& edit,
                              ExitCode code = ExitCode::integrity) {
  nlohmann::json j = to_json(sample());
  edit(j);
  return parse_manifest(j.dump(), "bundle x.age: manifest.json", code);
}

void expect_refused(const Result<Manifest>& parsed, std::string_view words) {
  ASSERT_FALSE(parsed) << "accepted; expected: " << words;
  EXPECT_EQ(parsed.error().code, ExitCode::integrity);
  EXPECT_EQ(parsed.error().message.rfind("bundle x.age: manifest.json: ", 0), 0u)
      << parsed.error().message;
  EXPECT_NE(parsed.error().message.find(words), std::string::npos) << parsed.error().message;
}

TEST(Manifest, RoundTripsAndSerializesTheSameBytesEveryTime) {
  Manifest m = sample();
  std::string text = serialize(m);
  EXPECT_EQ(text, serialize(m));
  EXPECT_EQ(text.back(), '\n');
  auto parsed = parse_manifest(text, "manifest.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, m);
  EXPECT_NE(text.find("\"format\": \"keyfleet-keyset/1\""), std::string::npos);
  EXPECT_NE(text.find("\"mode\": \"0644\""), std::string::npos);
}

TEST(Manifest, FilesComeOutSortedByNameWhateverTheirOrderInTheFile) {
  auto parsed = parse_edited([](nlohmann::json& j) {
    auto files = j["files"];
    j["files"] = nlohmann::json::array({files[1], files[0]});
  });
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->files.size(), 2u);
  EXPECT_EQ(parsed->files[0].name, "agent.crt");
  ASSERT_NE(parsed->find("agent.key"), nullptr);
  EXPECT_EQ(parsed->find("agent.key")->mode, 0600u);
  EXPECT_EQ(parsed->find("ca.key"), nullptr);
}

TEST(Manifest, RefusesWhatIsNotAKeySetManifest) {
  expect_refused(parse_manifest("{", "bundle x.age: manifest.json"), "not a JSON object");
  expect_refused(parse_manifest("[1]", "bundle x.age: manifest.json"), "not a JSON object");
  expect_refused(parse_edited([](auto& j) { j["format"] = "keyfleet-keyset/3"; }),
                 "\"format\" is not \"keyfleet-keyset/1\"");
  expect_refused(parse_edited([](auto& j) { j.erase("format"); }), "\"format\"");
}

// The key set id: optional (manifests written before it have none), else 32 lowercase hex digits,
// written only when there is one.
TEST(Manifest, KeysetIdIsOptionalAnd32LowercaseHexDigits) {
  Manifest m = sample();
  EXPECT_EQ(serialize(m).find("\"keyset\""), std::string::npos);
  auto without = parse_manifest(serialize(m), "manifest.json");
  ASSERT_TRUE(without) << without.error().message;
  EXPECT_EQ(without->keyset, "");

  m.keyset = new_keyset_id();
  EXPECT_TRUE(is_keyset_id(m.keyset)) << m.keyset;
  EXPECT_NE(new_keyset_id(), m.keyset);
  std::string text = serialize(m);
  EXPECT_NE(text.find("\"keyset\": \"" + m.keyset + "\""), std::string::npos) << text;
  auto with = parse_manifest(text, "manifest.json");
  ASSERT_TRUE(with) << with.error().message;
  EXPECT_EQ(*with, m);

  for (nlohmann::json bad :
       {nlohmann::json(std::string(32, 'A')), nlohmann::json(std::string(31, 'a')),
        nlohmann::json(std::string(33, 'a')), nlohmann::json(std::string(32, 'g')),
        nlohmann::json(""), nlohmann::json(7), nlohmann::json(nullptr)}) {
    expect_refused(parse_edited([&](auto& j) { j["keyset"] = bad; }), "\"keyset\"");
  }
}

// A CA rotation's fields: absent (and not written) outside one, so that every manifest written
// before rotate existed parses as it did and a plain key set keeps its bytes.
TEST(Manifest, CaPhaseAndTrustedCasAreOptionalAndWrittenOnlyWhenSet) {
  Manifest m = sample();
  std::string plain = serialize(m);
  EXPECT_EQ(plain.find("ca_phase"), std::string::npos);
  EXPECT_EQ(plain.find("trusted_cas"), std::string::npos);
  auto parsed = parse_manifest(plain, "manifest.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_FALSE(parsed->ca_phase);
  EXPECT_TRUE(parsed->trusted_cas.empty());

  const std::string other = "sha256:" + std::string(64, 'e');
  for (CaPhase phase : {CaPhase::trust, CaPhase::leaf, CaPhase::retire}) {
    m.ca_phase = phase;
    m.trusted_cas = {m.ca_fingerprint};
    if (phase != CaPhase::retire) m.trusted_cas.insert(m.trusted_cas.begin(), other);
    std::string text = serialize(m);
    EXPECT_NE(text.find(fmt::format("\"ca_phase\": \"{}\"", to_string(phase))), std::string::npos)
        << text;
    auto back = parse_manifest(text, "manifest.json");
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, m);
    EXPECT_EQ(parse_ca_phase(to_string(phase)), phase);
  }
  EXPECT_FALSE(parse_ca_phase("Trust"));
  EXPECT_FALSE(parse_ca_phase(""));
}

TEST(Manifest, RefusesACaPhaseThatDoesNotSayWhichCasItTrusts) {
  const std::string ca = "sha256:" + kDigest;
  const std::string other = "sha256:" + std::string(64, 'e');
  auto with = [&](nlohmann::json phase, nlohmann::json trusted) {
    return parse_edited([&](auto& j) {
      if (!phase.is_null()) j["ca_phase"] = phase;
      if (!trusted.is_null()) j["trusted_cas"] = trusted;
    });
  };
  expect_refused(with("rotate", {other, ca}), "\"ca_phase\" must be");
  expect_refused(with(3, {other, ca}), "\"ca_phase\" must be");
  expect_refused(with("trust", nullptr), "\"ca_phase\" \"trust\" needs at least two CAs");
  expect_refused(with("leaf", {ca}), "\"ca_phase\" \"leaf\" needs at least two CAs");
  expect_refused(with("retire", {other, ca}), "\"ca_phase\" \"retire\" needs exactly one CA");
  expect_refused(with(nullptr, {other}), "does not list \"fingerprints\".\"ca\"");
  expect_refused(with(nullptr, {ca, ca}), "lists " + ca + " twice");
  expect_refused(with(nullptr, nlohmann::json::array()), "non-empty array");
  expect_refused(with(nullptr, "sha256:x"), "non-empty array");
  expect_refused(with(nullptr, {ca, "SHA256:" + std::string(64, 'e')}), "\"trusted_cas\" holds");
  auto two_without_phase = with(nullptr, {other, ca});
  ASSERT_TRUE(two_without_phase) << two_without_phase.error().message;
  EXPECT_EQ(two_without_phase->trusted_cas, (std::vector<std::string>{other, ca}));
}

TEST(Manifest, GenerationMustBeAnIntegerFromOneTo999999) {
  for (nlohmann::json bad : {nlohmann::json(0), nlohmann::json(1000000), nlohmann::json(-1),
                             nlohmann::json("3"), nlohmann::json(2.5)}) {
    expect_refused(parse_edited([&](auto& j) { j["generation"] = bad; }), "\"generation\"");
  }
  auto top = parse_edited([](auto& j) { j["generation"] = 999999; });
  ASSERT_TRUE(top) << top.error().message;
  EXPECT_EQ(top->generation, 999999u);
}

TEST(Manifest, EveryFieldIsRequiredWithItsType) {
  for (const char* key : {"created", "key_type", "not_after"}) {
    expect_refused(parse_edited([&](auto& j) { j.erase(key); }), key);
    expect_refused(parse_edited([&](auto& j) { j[key] = 5; }), key);
  }
  expect_refused(parse_edited([](auto& j) { j["hosts"] = "node1"; }), "\"hosts\"");
  expect_refused(parse_edited([](auto& j) {
                   j["hosts"] = nlohmann::json::array({"node1", 3});
                 }),
                 "\"hosts\"");
  expect_refused(parse_edited([](auto& j) { j["fingerprints"].erase("agent"); }),
                 "\"fingerprints\"");
  expect_refused(parse_edited([](auto& j) { j["files"] = nlohmann::json::object(); }), "\"files\"");
  expect_refused(parse_edited([](auto& j) { j["files"][0].erase("sha256"); }),
                 "needs name, size, mode and sha256");
  expect_refused(parse_edited([](auto& j) { j["files"][0]["size"] = -1; }),
                 "needs name, size, mode and sha256");
}

TEST(Manifest, RefusesUnsafeOrRepeatedFileNames) {
  for (const char* name : {"../etc/passwd", "a/b", ".hidden", "", "manifest.json", "-x"}) {
    expect_refused(parse_edited([&](auto& j) { j["files"][0]["name"] = name; }),
                   fmt::format("file name '{}' is not allowed", name));
  }
  expect_refused(parse_edited([](auto& j) { j["files"][1]["name"] = "agent.crt"; }),
                 "file 'agent.crt' is listed twice");
}

TEST(Manifest, RefusesModesOtherThan0600And0644) {
  for (const char* mode : {"0755", "0666", "600", "04755"}) {
    expect_refused(parse_edited([&](auto& j) { j["files"][0]["mode"] = mode; }),
                   "only \"0600\" and \"0644\"");
  }
}

TEST(Manifest, RefusesDigestsThatAreNot64LowercaseHexDigits) {
  for (const std::string& digest :
       {std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'A'), std::string(64, 'g')}) {
    expect_refused(parse_edited([&](auto& j) { j["files"][0]["sha256"] = digest; }),
                   "not 64 lowercase hex digits");
  }
}

TEST(Manifest, AFileAnOperatorNamedGivesAUsageError) {
  auto parsed = parse_manifest("{}", "/tmp/k/manifest.json", ExitCode::usage);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ExitCode::usage);
  EXPECT_EQ(parsed.error().message.rfind("/tmp/k/manifest.json: ", 0), 0u);
}

TEST(Manifest, SafeEntryNames) {
  for (const char* ok : {"agent.key", "keystore.p12", "a", "_x", "9-b.c", "A_B"}) {
    EXPECT_TRUE(is_safe_entry_name(ok)) << ok;
  }
  for (const char* bad : {"", ".", "..", ".x", "-x", "a/b", "a b", "a\\b", "é", "a\nb"}) {
    EXPECT_FALSE(is_safe_entry_name(bad)) << bad;
  }
  EXPECT_TRUE(is_safe_entry_name(std::string(128, 'a')));
  EXPECT_FALSE(is_safe_entry_name(std::string(129, 'a')));
}

TEST(Manifest, Sha256HexMatchesTheKnownVector) {
  EXPECT_EQ(sha256_hex(as_bytes("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace kf
