#include <gtest/gtest.h>

#include "bundle/age_format.hpp"

namespace kf {
namespace {

using Bytes = std::vector<std::uint8_t>;

const Bytes kFileKey(age::kFileKeySize, 0x5a);

TEST(AgeStream, SealedSizeCountsOneTagPerChunkAndOneChunkForEmptyInput) {
  EXPECT_EQ(age::sealed_payload_size(0), 16u + 16u);
  EXPECT_EQ(age::sealed_payload_size(1), 16u + 1u + 16u);
  EXPECT_EQ(age::sealed_payload_size(age::kChunkSize), 16u + age::kSealedChunkSize);
  EXPECT_EQ(age::sealed_payload_size(age::kChunkSize + 1), 16u + age::kSealedChunkSize + 17u);
}

TEST(AgeStream, LayoutCheckFindsTruncationBeforeAnyKeyIsDerived) {
  EXPECT_EQ(age::check_payload_layout(32).value_or(99), 0u);
  EXPECT_EQ(age::check_payload_layout(16 + age::kSealedChunkSize).value_or(0), age::kChunkSize);
  EXPECT_EQ(age::check_payload_layout(16 + age::kSealedChunkSize + 17).value_or(0),
            age::kChunkSize + 1);
  for (std::size_t bad : {std::size_t{0}, std::size_t{15}, std::size_t{16}, std::size_t{31},
                          16 + age::kSealedChunkSize + 15}) {
    auto layout = age::check_payload_layout(bad);
    ASSERT_FALSE(layout) << bad;
    EXPECT_EQ(layout.error().code, ExitCode::integrity);
  }
  auto empty_last = age::check_payload_layout(16 + age::kSealedChunkSize + 16);
  ASSERT_FALSE(empty_last);
  EXPECT_NE(empty_last.error().message.find("chunk 2 is an empty final chunk"), std::string::npos);
}

TEST(AgeStream, OpensWhatItSealsAcrossChunkBoundaries) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, age::kChunkSize - 1, age::kChunkSize,
                           age::kChunkSize + 1, 3 * age::kChunkSize}) {
    Bytes plain(size);
    for (std::size_t i = 0; i < size; ++i) plain[i] = static_cast<std::uint8_t>(i ^ (i >> 8));
    Bytes payload;
    ASSERT_TRUE(age::seal_payload(kFileKey, plain, payload));
    EXPECT_EQ(payload.size(), age::sealed_payload_size(size));
    auto opened = age::open_payload(kFileKey, payload);
    ASSERT_TRUE(opened) << size << ": " << opened.error().message;
    EXPECT_TRUE(std::equal(opened->begin(), opened->end(), plain.begin(), plain.end())) << size;
    Bytes other_key(age::kFileKeySize, 0x5b);
    EXPECT_FALSE(age::open_payload(other_key, payload)) << size;
  }
}

// A correctly authenticated empty final chunk after a full chunk: STREAM would accept it, the age
// spec forbids it (the final chunk may be empty only if the whole payload is).
TEST(AgeStream, RefusesAnAuthenticEmptyFinalChunkAfterAFullOne) {
  Bytes plain(age::kChunkSize, 0x11);
  Bytes payload;
  ASSERT_TRUE(age::seal_payload(kFileKey, plain, payload));
  auto nonce = std::span(payload).first(age::kPayloadNonceSize);
  auto key = age::hkdf_sha256(kFileKey, nonce, "payload");
  ASSERT_TRUE(key);
  auto aead = age::ChaChaPoly::create(*key, true);
  ASSERT_TRUE(aead);
  age::AeadNonce first{}, second{};
  second[10] = 1;
  second[11] = 1;
  Bytes rebuilt(payload.begin(), payload.begin() + age::kPayloadNonceSize);
  rebuilt.resize(age::kPayloadNonceSize + age::kSealedChunkSize + age::kTagSize);
  ASSERT_TRUE(aead->seal(first, plain, rebuilt.data() + age::kPayloadNonceSize));
  ASSERT_TRUE(
      aead->seal(second, {}, rebuilt.data() + age::kPayloadNonceSize + age::kSealedChunkSize));
  auto opened = age::open_payload(kFileKey, rebuilt);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message.find("empty final chunk"), std::string::npos);
}

}  // namespace
}  // namespace kf
