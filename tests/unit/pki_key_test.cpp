#include <gtest/gtest.h>

#include <openssl/pem.h>

#include "pki/key.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

TEST(Key, ParseKeyTypeRoundTripsEveryName) {
  ASSERT_EQ(key_type_names().size(), 5u);
  for (auto name : key_type_names()) {
    auto type = parse_key_type(name);
    ASSERT_TRUE(type) << name;
    EXPECT_EQ(key_type_name(*type), name);
  }
  EXPECT_EQ(key_type_name(kDefaultKeyType), "ec-p256");
}

TEST(Key, UnknownKeyTypeIsAUsageErrorListingTheValidOnes) {
  auto type = parse_key_type("rsa-2048");
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().code, ExitCode::usage);
  EXPECT_NE(type.error().message.find("--key-type"), std::string::npos);
  EXPECT_NE(type.error().message.find("'rsa-2048'"), std::string::npos);
  EXPECT_NE(type.error().message.find("ec-p256, ec-p384, ed25519, rsa-3072, rsa-4096"),
            std::string::npos)
      << type.error().message;
}

struct Expected {
  KeyType type;
  const char* algorithm;
  int bits;
};

TEST(Key, GeneratesTheRequestedFastTypes) {
  for (auto [type, algorithm, bits] :
       {Expected{KeyType::ec_p256, "EC", 256}, Expected{KeyType::ec_p384, "EC", 384},
        Expected{KeyType::ed25519, "ED25519", 256}}) {
    auto key = generate_key(type);
    ASSERT_TRUE(key) << key.error().message;
    EXPECT_EQ(EVP_PKEY_is_a(key->get(), algorithm), 1) << key_type_name(type);
    EXPECT_EQ(EVP_PKEY_get_bits(key->get()), bits) << key_type_name(type);
    EXPECT_FALSE(is_rsa(**key));
  }
}

TEST(Key, GeneratesRsa3072) {
  auto key = generate_key(KeyType::rsa_3072);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_TRUE(is_rsa(**key));
  EXPECT_EQ(EVP_PKEY_get_bits(key->get()), 3072);
  EXPECT_EQ(signing_digest(**key), EVP_sha256());
}

TEST(Key, Ed25519SignsWithoutADigest) {
  auto ed = generate_key(KeyType::ed25519);
  auto ec = generate_key(KeyType::ec_p384);
  ASSERT_TRUE(ed && ec);
  EXPECT_EQ(signing_digest(**ed), nullptr);
  EXPECT_EQ(signing_digest(**ec), EVP_sha256());
}

TEST(Key, TwoKeysDiffer) {
  auto a = generate_key(KeyType::ec_p256);
  auto b = generate_key(KeyType::ec_p256);
  ASSERT_TRUE(a && b);
  EXPECT_NE(EVP_PKEY_eq(a->get(), b->get()), 1);
}

TEST(Key, PemIsUnencryptedPkcs8AndRoundTrips) {
  auto key = generate_key(KeyType::ec_p256);
  ASSERT_TRUE(key);
  auto pem = private_key_pem(**key);
  ASSERT_TRUE(pem) << pem.error().message;
  EXPECT_TRUE(pem->view().starts_with("-----BEGIN PRIVATE KEY-----\n")) << pem->view();
  auto back = parse_private_key_pem(as_bytes(pem->view()), "test");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(EVP_PKEY_eq(key->get(), back->get()), 1);
}

TEST(KeyInterop, OpensslCliReadsThePem) {
  test::TempDir dir;
  auto key = generate_key(KeyType::ed25519);
  ASSERT_TRUE(key);
  auto pem = private_key_pem(**key);
  ASSERT_TRUE(pem);
  test::write_text(dir / "k.pem", std::string(pem->view()));
  auto r = test::run({"openssl", "pkey", "-in", (dir / "k.pem").string(), "-noout", "-text"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ED25519 Private-Key"), std::string::npos) << r.out;
}

TEST(KeyInterop, ReadsTraditionalFormsWrittenByOpenssl) {
  test::TempDir dir;
  auto gen = test::run({"openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                        (dir / "ec.pem").string()});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  ASSERT_NE(test::read_text(dir / "ec.pem").find("BEGIN EC PRIVATE KEY"), std::string::npos);
  auto key = read_private_key(dir / "ec.pem");
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(EVP_PKEY_is_a(key->get(), "EC"), 1);
}

TEST(KeyInterop, EncryptedKeyIsRefusedWithoutPrompting) {
  test::TempDir dir;
  auto gen = test::run({"openssl", "genpkey", "-algorithm", "ed25519", "-aes256", "-pass",
                        "pass:secret", "-out", (dir / "enc.pem").string()});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  auto key = read_private_key(dir / "enc.pem");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, ExitCode::usage);
  EXPECT_NE(key.error().message.find((dir / "enc.pem").string()), std::string::npos);
  EXPECT_NE(key.error().message.find("encrypted"), std::string::npos) << key.error().message;
}

TEST(Key, GarbageAndMissingFilesAreErrorsNamingTheFile) {
  test::TempDir dir;
  test::write_text(dir / "junk", "not a key\n");
  auto junk = read_private_key(dir / "junk");
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().message.find("junk"), std::string::npos);
  auto missing = read_private_key(dir / "missing");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("missing"), std::string::npos);
}

}  // namespace
}  // namespace kf
