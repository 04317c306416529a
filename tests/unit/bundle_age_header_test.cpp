#include <gtest/gtest.h>

#include "bundle/age_format.hpp"

namespace kf {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

TEST(AgeBase64, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(age::encode_base64(bytes("")), "");
  EXPECT_EQ(age::encode_base64(bytes("f")), "Zg");
  EXPECT_EQ(age::encode_base64(bytes("fo")), "Zm8");
  EXPECT_EQ(age::encode_base64(bytes("foo")), "Zm9v");
  EXPECT_EQ(age::encode_base64(bytes("foob")), "Zm9vYg");
  EXPECT_EQ(age::encode_base64(bytes("fooba")), "Zm9vYmE");
  EXPECT_EQ(age::encode_base64(bytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(age::encode_base64(Bytes{0xfb, 0xff}), "+/8");
}

TEST(AgeBase64, RoundTripsEveryLength) {
  for (std::size_t n = 0; n < 100; ++n) {
    Bytes data(n);
    for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<std::uint8_t>(255 - i * 13);
    auto decoded = age::decode_base64(age::encode_base64(data));
    ASSERT_TRUE(decoded) << n;
    EXPECT_EQ(*decoded, data);
  }
}

TEST(AgeBase64, RejectsPaddingWhitespaceAndNonCanonicalEncodings) {
  using namespace std::string_view_literals;
  for (std::string_view bad : {"Zg=="sv, "Zg="sv, "Zm9v\n"sv, " Zm9v"sv, "Zm 9v"sv, "Zm9v\r"sv,
                               "Z"sv, "Zm9vY"sv, "Zh"sv, "Zm9"sv, "Zm-v"sv, "Zm_v"sv, "Zm9v\0"sv}) {
    EXPECT_FALSE(age::decode_base64(bad)) << bad;
  }
  // "Zh" and "Zm9" carry set bits past the last whole byte; "Zg" and "Zm8" are the canonical forms.
  EXPECT_TRUE(age::decode_base64("Zg"));
  EXPECT_TRUE(age::decode_base64("Zm8"));
}

std::string format_file(const std::vector<age::Stanza>& stanzas) {
  return age::format_header_until_mac(stanzas) + " " + std::string(43, 'A') + "\npayload";
}

TEST(AgeHeader, WrapsBodiesAt64ColumnsAndAlwaysEndsWithAShortLine) {
  for (std::size_t size : {0, 1, 47, 48, 49, 96, 100}) {
    age::Stanza stanza{{"test", "arg"}, Bytes(size, 0xa5)};
    std::string text = format_file({stanza});
    SCOPED_TRACE(text);
    std::size_t body_start = text.find("-> test arg\n") + 12;
    std::string_view body(text.data() + body_start, text.find("---") - body_start);
    std::size_t full_lines = size / 48;
    EXPECT_EQ(body.size(), full_lines * 65 + (size % 48 * 4 + 2) / 3 + 1);
    auto header = age::parse_header(bytes(text));
    ASSERT_TRUE(header) << header.error().message;
    ASSERT_EQ(header->stanzas.size(), 1u);
    EXPECT_EQ(header->stanzas[0].args, (std::vector<std::string>{"test", "arg"}));
    EXPECT_EQ(header->stanzas[0].body, stanza.body);
    EXPECT_EQ(header->size, text.size() - 7);
    EXPECT_EQ(header->mac_input_size, text.find("---") + 3);
  }
}

TEST(AgeHeader, ParsesSeveralStanzasAndTheMac) {
  std::string text = format_file({{{"one"}, Bytes(3, 1)}, {{"two", "a", "b"}, {}}});
  auto header = age::parse_header(bytes(text));
  ASSERT_TRUE(header) << header.error().message;
  ASSERT_EQ(header->stanzas.size(), 2u);
  EXPECT_EQ(header->stanzas[1].args.size(), 3u);
  EXPECT_EQ(header->mac, age::Mac{});
}

void expect_invalid(const std::string& text, std::string_view reason) {
  auto header = age::parse_header(bytes(text));
  ASSERT_FALSE(header) << text;
  EXPECT_EQ(header.error().code, ExitCode::integrity);
  EXPECT_NE(header.error().message.find(reason), std::string::npos) << header.error().message;
}

TEST(AgeHeader, RejectsMalformedHeaders) {
  const std::string mac = "--- " + std::string(43, 'A') + "\n";
  const std::string v1 = "age-encryption.org/v1\n";
  expect_invalid("", "the file is empty");
  expect_invalid("age-encryption.org/v1", "ends inside the version line");
  expect_invalid("age-encryption.org/v2\n", "unsupported age format version \"v2\"");
  expect_invalid("age-encryption.org/v1\r\n", "CRLF");
  expect_invalid(v1 + mac, "no recipient stanza");
  expect_invalid(v1 + "-> a\n", "ends inside a stanza body");
  expect_invalid(v1 + "-> a\n\n", "ends before its MAC line");
  expect_invalid(v1 + "->\n\n" + mac, "must start with \"-> \"");
  expect_invalid(v1 + "-> \n\n" + mac, "empty stanza argument");
  expect_invalid(v1 + "-> a  b\n\n" + mac, "empty stanza argument");
  expect_invalid(v1 + "-> a \n\n" + mac, "empty stanza argument");
  expect_invalid(v1 + "-> a\tb\n\n" + mac, "not printable ASCII");
  expect_invalid(v1 + "-> a\n" + std::string(65, 'A') + "\n\n" + mac, "longer than 64 columns");
  expect_invalid(v1 + "-> a\nZg==\n" + mac, "not canonical");
  expect_invalid(v1 + "-> a\n" + mac, "not canonical");  // the MAC line read as a body line
  expect_invalid(v1 + "-> a\n" + std::string(64, 'A') + "\n" + mac, "not canonical");
  expect_invalid(v1 + "-> a\nAA\nAA\n" + mac, "expected a recipient stanza");
  expect_invalid(v1 + "-> a\n\n---" + std::string(43, 'A') + "\n", "malformed MAC line");
  expect_invalid(v1 + "-> a\n\n--- " + std::string(42, 'A') + "\n", "malformed MAC line");
  expect_invalid(v1 + "-> a\n\n--- " + std::string(43, 'A') + " \n", "malformed MAC line");
  expect_invalid(v1 + "-> a\n\n--- " + std::string(42, 'A') + "B\n", "not canonical");
  expect_invalid(v1 + "-> a\n\n--- " + std::string(43, 'A'), "ends before its MAC line");
}

TEST(AgeHeader, CapsTheNumberOfStanzas) {
  std::string many = "age-encryption.org/v1\n";
  for (int i = 0; i < 256; ++i) many += "-> a\n\n";
  std::string mac = "--- " + std::string(43, 'A') + "\n";
  EXPECT_TRUE(age::parse_header(bytes(many + mac)));
  expect_invalid(many + "-> a\n\n" + mac, "more than 256 recipient stanzas");

  std::string args = "age-encryption.org/v1\n->";
  for (int i = 0; i < 64; ++i) args += " a";
  EXPECT_TRUE(age::parse_header(bytes(args + "\n\n" + mac)));
  expect_invalid(args + " a\n\n" + mac, "more than 64 arguments");
}

}  // namespace
}  // namespace kf
