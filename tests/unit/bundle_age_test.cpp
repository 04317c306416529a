#include "bundle/age.hpp"

#include <gtest/gtest.h>

#include "bundle/age_format.hpp"

namespace kf {
namespace {

using Bytes = std::vector<std::uint8_t>;

constexpr std::string_view kPassphrase = "correct horse battery staple";
constexpr int kFastWorkFactor = 10;  // N = 1024: fast enough to run scrypt hundreds of times

Bytes pattern(std::size_t size) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i * 7 + i / 251);
  return out;
}

Bytes encrypt(const Bytes& plaintext) {
  auto file = age::encrypt_scrypt(plaintext, kPassphrase, kFastWorkFactor);
  if (!file) ADD_FAILURE() << file.error().message;
  return file.value_or(Bytes{});
}

std::size_t header_size(const Bytes& file) {
  auto info = age::inspect_header(file);
  if (!info) ADD_FAILURE() << info.error().message;
  return info ? info->header_size : 0;
}

// The reason decrypt_scrypt refuses `file`; fails the test if it does not, or not with exit 3.
std::string refusal(const Bytes& file, int max_work_factor = age::kMaxWorkFactor) {
  auto result = age::decrypt_scrypt(file, kPassphrase, max_work_factor);
  if (result) {
    ADD_FAILURE() << "a damaged file was accepted";
    return {};
  }
  EXPECT_EQ(result.error().code, ExitCode::integrity) << result.error().message;
  return result.error().message;
}

Bytes with_replaced(Bytes file, std::string_view from, std::string_view to) {
  std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  std::size_t at = text.find(from);
  EXPECT_NE(at, std::string_view::npos) << from;
  if (at == std::string_view::npos) return file;
  file.erase(file.begin() + static_cast<std::ptrdiff_t>(at),
             file.begin() + static_cast<std::ptrdiff_t>(at + from.size()));
  file.insert(file.begin() + static_cast<std::ptrdiff_t>(at), to.begin(), to.end());
  return file;
}

class AgeRoundTrip : public ::testing::TestWithParam<std::size_t> {};

TEST_P(AgeRoundTrip, DecryptsWhatItEncrypts) {
  Bytes plaintext = pattern(GetParam());
  Bytes file = encrypt(plaintext);
  auto info = age::inspect_header(file);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->work_factor, kFastWorkFactor);
  EXPECT_EQ(info->header_size + info->payload_size, file.size());
  EXPECT_EQ(info->payload_size, age::sealed_payload_size(plaintext.size()));

  auto decrypted = age::decrypt_scrypt(file, kPassphrase);
  ASSERT_TRUE(decrypted) << decrypted.error().message;
  EXPECT_TRUE(std::equal(decrypted->begin(), decrypted->end(), plaintext.begin(), plaintext.end()));
}

INSTANTIATE_TEST_SUITE_P(AgeSizes, AgeRoundTrip,
                         ::testing::Values(0, 1, age::kChunkSize, age::kChunkSize + 1, 200 * 1024));

TEST(Age, WritesTheScryptStanzaAndFreshRandomness) {
  Bytes plaintext = pattern(100);
  Bytes one = encrypt(plaintext);
  Bytes two = encrypt(plaintext);
  std::string head(one.begin(), one.begin() + static_cast<std::ptrdiff_t>(header_size(one)));
  EXPECT_TRUE(head.starts_with("age-encryption.org/v1\n-> scrypt ")) << head;
  EXPECT_NE(head.find(" 10\n"), std::string::npos) << head;
  auto header = age::parse_header(one);
  ASSERT_TRUE(header);
  ASSERT_EQ(header->stanzas.size(), 1u);
  EXPECT_EQ(header->stanzas[0].args[1].size(), 22u);  // 16-byte salt, unpadded base64
  EXPECT_EQ(header->stanzas[0].body.size(), 32u);
  EXPECT_NE(one, two);  // salt, file key and payload nonce are fresh every time
}

TEST(Age, RefusesAFlippedBitAnywhereInTheHeader) {
  Bytes file = encrypt(pattern(1000));
  std::size_t size = header_size(file);
  ASSERT_GT(size, 80u);
  for (std::size_t i = 0; i < size; ++i) {
    Bytes damaged = file;
    damaged[i] ^= 0x04;
    SCOPED_TRACE(testing::Message() << "header byte " << i);
    refusal(damaged);
  }
}

TEST(Age, RefusesAFlippedByteInEachPayloadChunk) {
  Bytes file = encrypt(pattern(200 * 1024));  // four chunks, the last one short
  std::size_t payload = header_size(file);
  Bytes damaged = file;
  damaged[payload + 3] ^= 0x80;  // the payload nonce changes the payload key
  EXPECT_EQ(refusal(damaged), "payload chunk 1 failed authentication (tampered or truncated)");
  for (std::size_t chunk = 0; chunk < 4; ++chunk) {
    std::size_t start = payload + age::kPayloadNonceSize + chunk * age::kSealedChunkSize;
    for (std::size_t offset : {std::size_t{0}, std::size_t{1000}}) {
      damaged = file;
      damaged[start + offset] ^= 0x01;
      EXPECT_EQ(refusal(damaged), fmt::format("payload chunk {} failed authentication (tampered "
                                              "or truncated)",
                                              chunk + 1));
    }
  }
  damaged = file;
  damaged.back() ^= 0x01;  // the last tag
  EXPECT_EQ(refusal(damaged), "payload chunk 4 failed authentication (tampered or truncated)");
}

TEST(Age, RefusesADroppedFinalChunk) {
  Bytes file = encrypt(pattern(3 * age::kChunkSize + 10));
  file.resize(file.size() - (10 + age::kTagSize));
  EXPECT_EQ(refusal(file), "payload chunk 3 failed authentication (tampered or truncated)");
}

TEST(Age, RefusesAppendedBytes) {
  Bytes file = encrypt(pattern(5000));
  for (std::size_t extra : {std::size_t{1}, age::kTagSize, age::kTagSize + 1, std::size_t{4096},
                            age::kSealedChunkSize}) {
    Bytes longer = file;
    longer.insert(longer.end(), extra, 0);
    SCOPED_TRACE(testing::Message() << extra << " bytes appended");
    refusal(longer);
  }
  // A copy of the final chunk after the final chunk.
  Bytes twice = file;
  std::size_t final_chunk = 5000 + age::kTagSize;
  twice.insert(twice.end(), file.end() - static_cast<std::ptrdiff_t>(final_chunk), file.end());
  refusal(twice);
}

TEST(Age, RefusesEveryTruncation) {
  Bytes file = encrypt(pattern(200 * 1024));
  std::size_t header = header_size(file);
  std::vector<std::size_t> cuts = {
      0, 1, 22, header - 1, header, header + 1, header + age::kPayloadNonceSize};
  for (std::size_t chunk = 1; chunk <= 3; ++chunk) {
    std::size_t boundary = header + age::kPayloadNonceSize + chunk * age::kSealedChunkSize;
    cuts.insert(cuts.end(), {boundary - 1, boundary, boundary + 1, boundary + age::kTagSize});
  }
  cuts.push_back(file.size() - 1);
  for (std::size_t cut : cuts) {
    SCOPED_TRACE(testing::Message() << "truncated to " << cut << " of " << file.size());
    refusal(Bytes(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(cut)));
  }
}

TEST(Age, RefusesTheWrongPassphrase) {
  Bytes file = encrypt(pattern(10));
  auto result = age::decrypt_scrypt(file, "correct horse battery stapler");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ExitCode::integrity);
  EXPECT_EQ(result.error().message, "wrong passphrase or corrupted header");
}

TEST(Age, RefusesAnEmptyFileAndOtherFormats) {
  EXPECT_EQ(refusal({}), "not an age file: the file is empty");
  std::string tar = "manifest.json";
  tar.resize(1024, '\0');
  EXPECT_NE(refusal(Bytes(tar.begin(), tar.end())).find("not an age file"), std::string::npos);
  std::string armored =
      "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";
  EXPECT_NE(refusal(Bytes(armored.begin(), armored.end())).find("armored"), std::string::npos);
}

TEST(Age, RefusesAWorkFactorAboveTheLimitBeforeRunningScrypt) {
  Bytes file = with_replaced(encrypt(pattern(10)), " 10\n", " 30\n");
  // At N = 2^30 scrypt would need 128 GiB, so reaching it would fail differently.
  EXPECT_EQ(refusal(file), "scrypt work factor 30 is above the limit of 22");
  auto info = age::inspect_header(file);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->work_factor, 30);

  Bytes ours = encrypt(pattern(10));
  EXPECT_EQ(refusal(ours, 9), "scrypt work factor 10 is above the limit of 9");
  EXPECT_TRUE(age::decrypt_scrypt(ours, kPassphrase, 10));
}

TEST(Age, RefusesAnScryptStanzaThatIsNotAlone) {
  Bytes file_key(age::kFileKeySize, 0x42);
  auto first = age::make_scrypt_stanza(file_key, kPassphrase, kFastWorkFactor);
  auto second = age::make_scrypt_stanza(file_key, "another passphrase", kFastWorkFactor);
  ASSERT_TRUE(first && second);
  Bytes plaintext = pattern(10);

  std::vector<age::Stanza> two = {*first, *second};
  auto file = age::seal_file(two, file_key, plaintext);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(refusal(*file),
            "invalid age header: an scrypt stanza must be the only stanza, but "
            "there are 2");
  EXPECT_FALSE(age::inspect_header(*file));
  // The same file is fine below the recipient layer: only the scrypt rule rejects it.
  EXPECT_TRUE(age::open_with_file_key(*file, file_key));

  std::vector<age::Stanza> mixed = {{{"X25519", "c2hhcmU"}, Bytes(32, 1)}, *first};
  file = age::seal_file(mixed, file_key, plaintext);
  ASSERT_TRUE(file);
  EXPECT_NE(refusal(*file).find("must be the only stanza"), std::string::npos);

  std::vector<age::Stanza> other = {{{"X25519", "c2hhcmU"}, Bytes(32, 1)}};
  file = age::seal_file(other, file_key, plaintext);
  ASSERT_TRUE(file);
  EXPECT_EQ(refusal(*file),
            "the file is not encrypted with a passphrase (it has no scrypt stanza, only "
            "\"X25519\")");

  std::vector<age::Stanza> alone = {*first};
  file = age::seal_file(alone, file_key, plaintext);
  ASSERT_TRUE(file);
  auto opened = age::decrypt_scrypt(*file, kPassphrase);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(std::equal(opened->begin(), opened->end(), plaintext.begin(), plaintext.end()));
}

TEST(Age, RefusesAFileAboveTheSizeLimit) {
  Bytes file = encrypt(pattern(10));
  file.resize(age::kMaxFileSize + 1);
  EXPECT_NE(refusal(file).find("above the limit of 67108864 bytes"), std::string::npos);
  EXPECT_FALSE(age::inspect_header(file));
}

TEST(Age, EncryptRefusesBadParameters) {
  for (int work_factor : {0, -1, age::kMaxWorkFactor + 1, 30}) {
    auto file = age::encrypt_scrypt(pattern(1), kPassphrase, work_factor);
    ASSERT_FALSE(file) << work_factor;
    EXPECT_EQ(file.error().code, ExitCode::usage);
    EXPECT_NE(file.error().message.find("out of range"), std::string::npos);
  }
  auto empty = age::encrypt_scrypt(pattern(1), "", kFastWorkFactor);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ExitCode::usage);
  auto huge = age::encrypt_scrypt(Bytes(age::kMaxFileSize), kPassphrase, 1);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("above the limit"), std::string::npos);
}

}  // namespace
}  // namespace kf
