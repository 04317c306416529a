// X25519 interoperability with the reference implementation: the `age` and `age-keygen` CLIs
// (Debian package age), in both directions, through the library and through the keyfleet binary.
#include <gtest/gtest.h>

#include "bundle/age.hpp"
#include "bundle/age_keys.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using Bytes = std::vector<std::uint8_t>;
using test::keyfleet;
using test::TempDir;

Bytes pattern(std::size_t size) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>((i * 13) ^ (i >> 7));
  return out;
}

Bytes read_bytes(const fs::path& path) {
  std::string text = test::read_text(path);
  return Bytes(text.begin(), text.end());
}

// age-keygen -o FILE, and the recipient it prints; the identity file is 0600.
std::string age_keygen(const fs::path& out) {
  auto r = test::run({"age-keygen", "-o", out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto y = test::run({"age-keygen", "-y", out.string()});
  EXPECT_EQ(y.exit_code, 0) << y.err;
  return y.out.substr(0, y.out.find('\n'));
}

test::RunResult age(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"timeout", "60", "age"};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run(argv);
}

TEST(AgeX25519Interop, AgeDecryptsWhatWeSealToItsRecipients) {
  TempDir dir;
  std::string r1 = age_keygen(dir / "id1");
  std::string r2 = age_keygen(dir / "id2");
  for (std::size_t size : {std::size_t{0}, std::size_t{65536}, std::size_t{150 * 1024 + 1}}) {
    Bytes plaintext = pattern(size);
    std::vector<age::X25519Recipient> to = {*age::parse_recipient(r1), *age::parse_recipient(r2)};
    auto file = age::encrypt_x25519(plaintext, to);
    ASSERT_TRUE(file) << file.error().message;
    test::write_bytes(dir / "ours.age", *file);
    for (const char* id : {"id1", "id2"}) {
      fs::remove(dir / "out");
      auto r = age({"-d", "-i", (dir / id).string(), "-o", (dir / "out").string(),
                    (dir / "ours.age").string()});
      ASSERT_EQ(r.exit_code, 0) << size << " " << id << ": " << r.err;
      EXPECT_EQ(read_bytes(dir / "out"), plaintext) << size << " " << id;
    }
  }
}

TEST(AgeX25519Interop, WeOpenWhatAgeSealsToOneOrTwoRecipients) {
  TempDir dir;
  std::string r1 = age_keygen(dir / "id1");
  std::string r2 = age_keygen(dir / "id2");
  age_keygen(dir / "stranger");
  Bytes plaintext = pattern(2 * 65536 + 9);
  test::write_bytes(dir / "plain", plaintext);
  auto sealed =
      age({"-r", r1, "-r", r2, "-o", (dir / "theirs.age").string(), (dir / "plain").string()});
  ASSERT_EQ(sealed.exit_code, 0) << sealed.err;
  Bytes file = read_bytes(dir / "theirs.age");
  auto info = age::inspect_header(file);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->kind, age::RecipientKind::x25519);
  EXPECT_EQ(info->x25519_stanzas, 2u);
  for (const char* id : {"id1", "id2"}) {
    auto identities = age::read_identity_file(dir / id);
    ASSERT_TRUE(identities) << identities.error().message;
    auto opened = age::decrypt_x25519(file, *identities);
    ASSERT_TRUE(opened) << id << ": " << opened.error().message;
    EXPECT_TRUE(std::equal(opened->begin(), opened->end(), plaintext.begin(), plaintext.end()));
  }
  auto stranger = age::read_identity_file(dir / "stranger");
  ASSERT_TRUE(stranger);
  auto refused = age::decrypt_x25519(file, *stranger);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ExitCode::integrity);
}

TEST(AgeX25519Interop, KeygenMatchesAgeKeygensDerivationAndAgeReadsIt) {
  TempDir dir;
  auto made = keyfleet({"keygen", "--out", (dir / "ours").string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string recipient = made.out.substr(0, made.out.find('\n'));
  auto y = test::run({"age-keygen", "-y", (dir / "ours").string()});
  ASSERT_EQ(y.exit_code, 0) << y.err;
  EXPECT_EQ(y.out, recipient + "\n");

  test::write_text(dir / "plain", "hello from age\n");
  ASSERT_EQ(
      age({"-r", recipient, "-o", (dir / "x.age").string(), (dir / "plain").string()}).exit_code,
      0);
  auto opened = age({"-d", "-i", (dir / "ours").string(), (dir / "x.age").string()});
  ASSERT_EQ(opened.exit_code, 0) << opened.err;
  EXPECT_EQ(opened.out, "hello from age\n");
}

// The whole workflow with the binary: a bundle sealed to age-keygen recipients opens with `age
// -d -i` (and lists as a tar), one that age seals from a tar opens with `keyfleet --identity`.
TEST(AgeX25519Interop, BundlesRoundTripThroughTheAgeCliBothWays) {
  TempDir dir;
  std::string r1 = age_keygen(dir / "id1");
  std::string r2 = age_keygen(dir / "id2");
  std::string r3 = age_keygen(dir / "stranger");
  test::write_keyset(dir / "keys", 3);
  auto made = keyfleet({"bundle", "--keys", (dir / "keys").string(), "--out",
                        (dir / "ours.age").string(), "--recipient", r1, "--recipient", r2});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  for (const char* id : {"id1", "id2"}) {
    auto listed = test::shell("timeout 60 age -d -i '" + (dir / id).string() + "' '" +
                              (dir / "ours.age").string() + "' | tar -t");
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_TRUE(listed.out.starts_with("manifest.json\n")) << listed.out;
    EXPECT_NE(listed.out.find("agent.key\n"), std::string::npos) << listed.out;
  }
  auto refused = age({"-d", "-i", (dir / "stranger").string(), (dir / "ours.age").string()});
  EXPECT_NE(refused.exit_code, 0);

  // age seals a tar of the key set (manifest.json first, ca.key left out as bundle does).
  std::string names =
      "manifest.json agent.crt agent.key ca.crt keystore.p12 storepass "
      "truststore.p12";
  auto keyset = bundle::load_keyset(dir / "keys", false);
  ASSERT_TRUE(keyset) << keyset.error().message;
  test::write_text(dir / "keys" / "manifest.json", serialize(keyset->manifest), 0644);
  fs::remove(dir / "keys" / "ca.key");
  auto theirs = test::shell("cd '" + (dir / "keys").string() + "' && tar --format=pax -cf - " +
                            names + " | timeout 60 age -r " + r1 + " -r " + r3 + " > '" +
                            (dir / "theirs.age").string() + "'");
  ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
  auto opened = keyfleet({"unpack", (dir / "theirs.age").string(), "--dest",
                          (dir / "dest").string(), "--identity", (dir / "id1").string()});
  ASSERT_EQ(opened.exit_code, 0) << opened.err;
  EXPECT_TRUE(test::current_is_complete(dir / "dest", 3));

  // The wrong identity: exit 3. An identity file others can read: exit 2, before any decryption.
  auto wrong =
      keyfleet({"inspect", (dir / "theirs.age").string(), "--identity", (dir / "id2").string()});
  EXPECT_EQ(wrong.exit_code, 3) << wrong.err;
  EXPECT_NE(wrong.err.find("no identity matched"), std::string::npos) << wrong.err;
  fs::permissions(dir / "id1", fs::perms(0644));
  auto loose =
      keyfleet({"inspect", (dir / "theirs.age").string(), "--identity", (dir / "id1").string()});
  EXPECT_EQ(loose.exit_code, 2) << loose.err;
  EXPECT_NE(loose.err.find((dir / "id1").string()), std::string::npos) << loose.err;
}

}  // namespace
}  // namespace kf
