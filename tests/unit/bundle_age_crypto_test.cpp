#include "bundle/age_crypto.hpp"

#include <gtest/gtest.h>

#include "core/files.hpp"

namespace kf {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::string hex(std::span<const std::uint8_t> bytes) {
  return to_hex(bytes);
}

Bytes counting(std::uint8_t first, std::uint8_t last) {
  Bytes out;
  for (int b = first; b <= last; ++b) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

TEST(AgeCrypto, HkdfMatchesRfc5869) {
  Bytes ikm(22, 0x0b);
  Bytes info = counting(0xf0, 0xf9);
  auto with_salt =
      age::hkdf_sha256(ikm, counting(0x00, 0x0c),
                       std::string_view(reinterpret_cast<const char*>(info.data()), info.size()));
  ASSERT_TRUE(with_salt) << with_salt.error().message;
  EXPECT_EQ(hex(*with_salt), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
  auto no_salt = age::hkdf_sha256(ikm, {}, "");
  ASSERT_TRUE(no_salt) << no_salt.error().message;
  EXPECT_EQ(hex(*no_salt), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d");
}

TEST(AgeCrypto, HmacMatchesRfc4231) {
  auto mac = age::hmac_sha256(as_bytes("Jefe"), as_bytes("what do ya want for nothing?"));
  ASSERT_TRUE(mac) << mac.error().message;
  EXPECT_EQ(hex(*mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(AgeCrypto, ScryptMatchesRfc7914WithR8P1) {
  // N = 16384 needs 16 MiB; the memory limit must follow N.
  auto key = age::scrypt_key("pleaseletmein", as_bytes("SodiumChloride"), 14);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(hex(*key), "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2");
}

TEST(AgeCrypto, ScryptRaisesOpenSslsMemoryLimitForHighWorkFactors) {
  // 2^16 * 128 * 8 = 64 MiB, above OpenSSL's default 32 MiB cap.
  auto key = age::scrypt_key("x", as_bytes("salt"), 16);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->size(), 32u);
}

TEST(AgeCrypto, ChaChaPolyDetectsTamperingAndNonceMismatch) {
  Bytes key(32, 7);
  auto sealer = age::ChaChaPoly::create(key, true);
  auto opener = age::ChaChaPoly::create(key, false);
  ASSERT_TRUE(sealer && opener);
  age::AeadNonce nonce{};
  nonce[11] = 1;
  for (std::size_t size : {0, 1, 64, 1000}) {
    Bytes plain(size, 0x33);
    Bytes sealed(size + age::kTagSize);
    ASSERT_TRUE(sealer->seal(nonce, plain, sealed.data()));
    Bytes out(size);
    EXPECT_TRUE(opener->open(nonce, sealed, out.data())) << size;
    EXPECT_EQ(out, plain);
    age::AeadNonce other = nonce;
    other[11] = 0;
    EXPECT_FALSE(opener->open(other, sealed, out.data())) << size;
    for (std::size_t i : {std::size_t{0}, sealed.size() - 1}) {
      Bytes damaged = sealed;
      damaged[i] ^= 1;
      EXPECT_FALSE(opener->open(nonce, damaged, out.data())) << size << " byte " << i;
    }
    // Still usable after a failure.
    EXPECT_TRUE(opener->open(nonce, sealed, out.data())) << size;
  }
  Bytes short_input(age::kTagSize - 1);
  EXPECT_FALSE(opener->open(nonce, short_input, nullptr));
}

}  // namespace
}  // namespace kf
