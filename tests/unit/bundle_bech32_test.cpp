// Bech32 (BIP 173) as age uses it: the BIP's test vectors, the case rules and the checksum.
#include <gtest/gtest.h>

#include "bundle/bech32.hpp"

namespace kf::bech32 {
namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// BIP 173, "Test vectors": valid Bech32 strings.
TEST(Bech32, DecodesTheBip173ValidVectorsAndEncodesThemBack) {
  for (const std::string& text : std::vector<std::string>{
           "A12UEL5L",
           "a12uel5l",
           "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5"
           "tgs",
           "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
           "11" + std::string(82, 'q') + "c8247j",  // 90 characters, the BIP's maximum
           "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
           "?1ezyfcl",
       }) {
    auto decoded = decode(text);
    ASSERT_TRUE(decoded) << text << ": " << decoded.error().message;
    auto encoded = encode(decoded->hrp, decoded->values);
    ASSERT_TRUE(encoded) << text;
    EXPECT_EQ(std::string(encoded->view()), text) << "the case of the hrp is kept";
    auto again = encode(lower(decoded->hrp), decoded->values);
    ASSERT_TRUE(again);
    EXPECT_EQ(std::string(again->view()), lower(text));
  }
}

// BIP 173, "Test vectors": invalid Bech32 strings, each with the reason the BIP gives.
TEST(Bech32, RefusesTheBip173InvalidVectors) {
  const std::pair<std::string, std::string> invalid[] = {
      {std::string("\x20") + "1nwldj5", "printable ASCII"},  // HRP character out of range
      {std::string("\x7f") + "1axkwrx", "printable ASCII"},
      {std::string("\x80") + "1eym55h", "printable ASCII"},
      {"pzry9x0s0muk", "no separator"},
      {"1pzry9x0s0muk", "human-readable part is empty"},
      {"x1b4n0q5v", "alphabet"},                       // invalid data character
      {"li1dgmt3", "fewer than 6"},                    // too short checksum
      {std::string("de1lg7wt") + "\xff", "alphabet"},  // invalid character in checksum
      {"A1G7SGD8", "checksum"},                        // checksum made with the upper-case HRP
      {"10a06t8", "human-readable part is empty"},
      {"1qzzfhee", "human-readable part is empty"},
  };
  for (const auto& [text, why] : invalid) {
    auto decoded = decode(text);
    ASSERT_FALSE(decoded) << text;
    EXPECT_EQ(decoded.error().code, ExitCode::usage);
    EXPECT_NE(decoded.error().message.find(why), std::string::npos)
        << text << ": " << decoded.error().message;
  }
}

// BIP 173 caps a string at 90 characters; age does not (its identities need no more, but its
// recipients' Go library dropped the limit), so neither does keyfleet.
TEST(Bech32, HasNoLengthLimitUnlikeBip173) {
  std::string text =
      "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx";
  ASSERT_GT(text.size(), 90u);
  auto decoded = decode(text);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->hrp.size(), 84u);
}

TEST(Bech32, RefusesMixedCaseAnywhere) {
  auto decoded = decode("A12uEL5L");
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message.find("mixes upper and lower case"), std::string::npos);
  EXPECT_FALSE(decode("a12UEL5L"));
  EXPECT_FALSE(encode("Age", {}));
}

TEST(Bech32, EveryChangedCharacterBreaksTheChecksum) {
  const std::string good = "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw";
  ASSERT_TRUE(decode(good));
  for (std::size_t i = good.find('1') + 1; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = bad[i] == 'q' ? 'p' : 'q';
    auto decoded = decode(bad);
    ASSERT_FALSE(decoded) << bad;
    EXPECT_NE(decoded.error().message.find("checksum"), std::string::npos) << bad;
  }
  std::string swapped = good;
  std::swap(swapped[10], swapped[11]);
  EXPECT_FALSE(decode(swapped));
}

TEST(Bech32, RegroupsBitsBothWaysAndRefusesNonCanonicalPadding) {
  const std::uint8_t bytes[] = {0xff, 0x00, 0xa5, 0x5a, 0x01};
  SecretBytes values = to_values(bytes);
  EXPECT_EQ(values.size(), 8u);
  auto back = to_bytes(values);
  ASSERT_TRUE(back);
  EXPECT_EQ(SecretBytes(std::begin(bytes), std::end(bytes)), *back);

  const std::uint8_t one[] = {0xab};
  SecretBytes two = to_values(one);  // 8 bits in two 5-bit values: 2 bits of zero padding
  ASSERT_EQ(two.size(), 2u);
  two[1] |= 1;  // a padding bit set
  EXPECT_FALSE(to_bytes(two));
  const std::uint8_t three[] = {1, 2, 3};  // 15 bits: 7 of padding, more than 4
  EXPECT_FALSE(to_bytes(three));
  const std::uint8_t too_big[] = {32};
  EXPECT_FALSE(to_bytes(too_big));
}

}  // namespace
}  // namespace kf::bech32
