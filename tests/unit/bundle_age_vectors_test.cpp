// The CCTV age test vectors (tests/fixtures/age/README.md), one test case per file.
#include <dlfcn.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <gtest/gtest.h>
#include <boost/filesystem.hpp>

#include "bundle/age.hpp"
#include "bundle/age_format.hpp"
#include "bundle/age_x25519.hpp"
#include "pki/manifest.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;

const fs::path kVectorDir = fs::path(KEYFLEET_TESTDATA) / "age";

struct Vector {
  std::string name;
  std::string expect;
  std::string payload_sha256;
  std::vector<std::uint8_t> file_key;
  std::vector<std::string> passphrases;
  std::vector<std::string> identities;     // X25519 ("AGE-SECRET-KEY-1...")
  std::size_t unsupported_identities = 0;  // ML-KEM ("AGE-SECRET-KEY-PQ-1..."): not implemented
  bool compressed = false;
  std::vector<std::uint8_t> file;
};

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

// Large vectors are stored zlib-compressed. zlib is not a dependency of keyfleet or its tests, but
// libz.so.1 is on every Debian system, so it is loaded at run time just for this.
std::vector<std::uint8_t> inflate_zlib(const std::vector<std::uint8_t>& in) {
  using Uncompress = int (*)(unsigned char*, unsigned long*, const unsigned char*, unsigned long);
  static void* zlib = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
  if (zlib == nullptr) throw std::runtime_error("cannot load libz.so.1");
  auto uncompress = reinterpret_cast<Uncompress>(dlsym(zlib, "uncompress"));
  if (uncompress == nullptr) throw std::runtime_error("libz.so.1 has no uncompress()");
  constexpr int kBufferTooSmall = -5;  // Z_BUF_ERROR
  for (std::size_t size = 1u << 20; size <= (256u << 20); size *= 2) {
    std::vector<std::uint8_t> out(size);
    unsigned long out_size = size;
    int rc = uncompress(out.data(), &out_size, in.data(), in.size());
    if (rc == 0) {
      out.resize(out_size);
      return out;
    }
    if (rc != kBufferTooSmall) throw std::runtime_error("corrupt zlib data in a test vector");
  }
  throw std::runtime_error("test vector too large");
}

Vector load_vector(const std::string& name) {
  std::ifstream in((kVectorDir / name).string(), std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t blank = text.find("\n\n");
  if (!in.good() && !in.eof()) throw std::runtime_error("cannot read vector " + name);
  if (blank == std::string::npos) throw std::runtime_error("no blank line in vector " + name);
  Vector v;
  v.name = name;
  std::string_view headers(text.data(), blank + 1);
  while (!headers.empty()) {
    std::size_t eol = headers.find('\n');
    std::string_view line = headers.substr(0, eol);
    headers.remove_prefix(eol + 1);
    std::size_t colon = line.find(": ");
    if (colon == std::string_view::npos) throw std::runtime_error("bad header in vector " + name);
    std::string_view key = line.substr(0, colon);
    std::string value(line.substr(colon + 2));
    if (key == "expect") v.expect = value;
    if (key == "payload") v.payload_sha256 = value;
    if (key == "file key") v.file_key = from_hex(value);
    if (key == "passphrase") v.passphrases.push_back(value);
    if (key == "identity" && value.starts_with("AGE-SECRET-KEY-PQ-")) ++v.unsupported_identities;
    if (key == "identity" && value.starts_with("AGE-SECRET-KEY-1")) v.identities.push_back(value);
    if (key == "compressed") v.compressed = value == "zlib";
    if (key == "armored" && value == "yes") throw std::runtime_error("armored vector " + name);
  }
  v.file.assign(text.begin() + static_cast<std::ptrdiff_t>(blank + 2), text.end());
  if (v.compressed) v.file = inflate_zlib(v.file);
  return v;
}

std::vector<std::string> vector_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kVectorDir))
    if (fs::is_regular_file(entry.status()) && entry.path().extension() != ".md")
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class AgeVector : public ::testing::TestWithParam<std::string> {};

// Vectors with a passphrase go through the scrypt recipient, exactly as a bundle would.
void check_with_passphrase(const Vector& v) {
  auto result = age::decrypt_scrypt(v.file, v.passphrases.front());
  if (v.expect == "success") {
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(sha256_hex(*result), v.payload_sha256);
    EXPECT_TRUE(age::inspect_header(v.file));
    return;
  }
  ASSERT_FALSE(result) << "decrypted a vector that expects: " << v.expect;
  EXPECT_EQ(result.error().code, ExitCode::integrity);
  const std::string& why = result.error().message;
  if (v.expect == "header failure") {
    EXPECT_EQ(why.find("wrong passphrase"), std::string::npos)
        << "must fail before unwrapping: " << why;
  }
  if (v.expect == "no match") {
    EXPECT_NE(why.find("passphrase"), std::string::npos) << why;
  }
}

// Vectors with an X25519 identity go through the X25519 recipient, exactly as a bundle opened with
// --identity would: the file's own stanzas, skipping unknown types, then the MAC and STREAM.
void check_with_identities(const Vector& v) {
  std::vector<age::X25519Identity> identities;
  for (const std::string& text : v.identities) {
    auto identity = age::parse_identity(text);
    ASSERT_TRUE(identity) << identity.error().message;
    identities.push_back(std::move(*identity));
  }
  auto result = age::decrypt_x25519(v.file, identities);
  if (v.expect == "success") {
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(sha256_hex(*result), v.payload_sha256);
    EXPECT_TRUE(age::inspect_header(v.file));
    return;
  }
  ASSERT_FALSE(result) << "decrypted a vector that expects: " << v.expect;
  EXPECT_EQ(result.error().code, ExitCode::integrity);
  const std::string& why = result.error().message;
  bool no_match = why.starts_with("no identity matched");
  if (v.expect == "no match") {
    EXPECT_TRUE(no_match) << why;
  } else {
    EXPECT_FALSE(no_match) << "a " << v.expect << " is not a mismatch: " << why;
  }
  if (v.expect == "HMAC failure") {
    EXPECT_NE(why.find("MAC"), std::string::npos) << why;
  }
  if (v.expect == "header failure") {
    // Refused while the header is read, before its MAC is ever checked.
    EXPECT_EQ(why.find("the header MAC does not match"), std::string::npos) << why;
  }
  if (v.expect == "payload failure") {
    EXPECT_EQ(why.find("MAC"), std::string::npos) << why;
  }
}

// Every vector discloses its file key, so the header syntax, the header MAC and STREAM are checked
// even where the recipient is X25519, which keyfleet does not implement.
void check_with_file_key(const Vector& v) {
  auto header = age::parse_header(v.file);
  auto result = age::open_with_file_key(v.file, v.file_key);
  if (v.expect == "success") {
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(sha256_hex(*result), v.payload_sha256);
    return;
  }
  ASSERT_FALSE(result) << "opened a vector that expects: " << v.expect;
  EXPECT_EQ(result.error().code, ExitCode::integrity);
  const std::string& why = result.error().message;
  if (v.expect == "header failure") {
    // age reads the payload nonce as part of the header.
    EXPECT_TRUE(!header || why.find("nonce") != std::string::npos) << why;
  } else if (v.expect == "HMAC failure") {
    ASSERT_TRUE(header) << header.error().message;
    EXPECT_NE(why.find("MAC"), std::string::npos) << why;
  } else if (v.expect == "payload failure") {
    ASSERT_TRUE(header) << header.error().message;
    EXPECT_EQ(why.find("MAC"), std::string::npos) << why;
  }
}

TEST_P(AgeVector, MatchesExpectation) {
  Vector v = load_vector(GetParam());
  ASSERT_FALSE(v.expect.empty());
  ASSERT_FALSE(v.file_key.empty());
  // keyfleet has no ML-KEM: only vectors that also give an X25519 identity are vendored.
  ASSERT_TRUE(v.unsupported_identities == 0 || !v.identities.empty()) << v.name;
  if (!v.passphrases.empty()) check_with_passphrase(v);
  if (!v.identities.empty()) check_with_identities(v);
  // Recipient-level failures ("no match", a malformed scrypt or X25519 stanza, a low-order share)
  // are invisible below the recipient: with the file key given, such a file is well-formed.
  bool recipient_vector =
      !v.passphrases.empty() || v.name.starts_with("x25519") || v.name.starts_with("hybrid");
  bool recipient_failure =
      v.expect == "no match" || (v.expect == "header failure" && recipient_vector);
  if (!recipient_failure) check_with_file_key(v);
}

INSTANTIATE_TEST_SUITE_P(AgeCctv, AgeVector, ::testing::ValuesIn(vector_names()),
                         [](const auto& info) { return info.param; });

TEST(AgeVectors, AllApplicableVectorsAreVendored) {
  auto names = vector_names();
  EXPECT_GE(names.size(), 93u);
  for (const char* name : {"scrypt",
                           "scrypt_work_factor_23",
                           "stream_last_chunk_empty",
                           "stream_trailing_garbage_short",
                           "hmac_bad",
                           "stanza_valid_characters",
                           "empty",
                           "version_unsupported",
                           "header_crlf",
                           "scrypt_and_x25519",
                           "x25519",
                           "x25519_bad_tag",
                           "x25519_extra_argument",
                           "x25519_grease",
                           "x25519_identity",
                           "x25519_long_file_key",
                           "x25519_long_share",
                           "x25519_low_order",
                           "x25519_lowercase",
                           "x25519_multiple_recipients",
                           "x25519_no_match",
                           "x25519_not_canonical_body",
                           "x25519_not_canonical_share",
                           "x25519_short_share",
                           "hybrid_x25519_arg"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
}

}  // namespace
}  // namespace kf
