// age's X25519 recipients: key encodings, stanzas, and whole files with several recipients.
#include <gtest/gtest.h>

#include "bundle/age.hpp"
#include "bundle/age_format.hpp"
#include "bundle/age_x25519.hpp"
#include "bundle/bech32.hpp"

namespace kf::age {
namespace {

using Bytes = std::vector<std::uint8_t>;

// From the CCTV vector "x25519"; its recipient as `age-keygen -y` prints it.
constexpr std::string_view kIdentity =
    "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";
constexpr std::string_view kRecipient =
    "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef";

X25519Identity fresh() {
  auto identity = generate_identity();
  EXPECT_TRUE(identity);
  return std::move(*identity);
}

Bytes pattern(std::size_t size) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i * 7 + 3);
  return out;
}

TEST(AgeX25519, ParsesAnIdentityAndDerivesItsRecipientAsAgeKeygenDoes) {
  auto identity = parse_identity(kIdentity);
  ASSERT_TRUE(identity) << identity.error().message;
  EXPECT_EQ(identity->scalar.size(), 32u);
  EXPECT_EQ(format_recipient(recipient_of(*identity)), kRecipient);
  auto text = format_identity(*identity);
  ASSERT_TRUE(text);
  EXPECT_EQ(text->view(), kIdentity);
  auto recipient = parse_recipient(kRecipient);
  ASSERT_TRUE(recipient) << recipient.error().message;
  EXPECT_EQ(recipient->public_key, identity->public_key);
}

TEST(AgeX25519, RefusesIdentitiesOfTheWrongShapeWithoutQuotingThem) {
  std::string lower(kIdentity);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string typo(kIdentity);
  typo[20] = typo[20] == 'Q' ? 'P' : 'Q';
  const std::pair<std::string, std::string> bad[] = {
      {lower, "upper case"},
      {typo, "checksum"},
      {std::string(kRecipient), "AGE-SECRET-KEY-1"},
      {"AGE-SECRET-KEY-PQ-1HZLGZUPT4ETPKDEV8HSGFDCYZ4E522W0A7PU2LHT8EH9W6YLNC3SW78XKG",
       "post-quantum"},
      {"AGE-PLUGIN-YUBIKEY-1QQQQQQ", "plugin"},
      {"", "separator"},
      {std::string(bech32::encode("AGE-SECRET-KEY-", bech32::to_values(Bytes(16, 1)))->view()),
       "32-byte"},
  };
  for (const auto& [text, why] : bad) {
    auto identity = parse_identity(text);
    ASSERT_FALSE(identity) << text;
    EXPECT_EQ(identity.error().code, ExitCode::usage);
    EXPECT_NE(identity.error().message.find(why), std::string::npos)
        << text << ": " << identity.error().message;
    if (text.size() > 20) {
      EXPECT_EQ(identity.error().message.find(text.substr(16)), std::string::npos)
          << "an identity must never be quoted: " << identity.error().message;
    }
  }
}

TEST(AgeX25519, RefusesRecipientsOfTheWrongShape) {
  std::string upper(kRecipient);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& text : {upper, std::string(kIdentity), std::string("age1qqqqqqqq"),
                                  std::string(kRecipient) + "q", std::string("ssh-ed25519 AAAA")}) {
    auto recipient = parse_recipient(text);
    ASSERT_FALSE(recipient) << text;
    EXPECT_EQ(recipient.error().code, ExitCode::usage);
    EXPECT_NE(recipient.error().message.find("age1..."), std::string::npos);
  }
}

TEST(AgeX25519, EveryRecipientOpensAFileSealedToSeveral) {
  X25519Identity a = fresh();
  X25519Identity b = fresh();
  X25519Identity stranger = fresh();
  Bytes plaintext = pattern(3 * 65536 + 5);
  std::vector<X25519Recipient> to = {recipient_of(a), recipient_of(b)};
  auto file = encrypt_x25519(plaintext, to);
  ASSERT_TRUE(file) << file.error().message;

  auto info = inspect_header(*file);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->kind, RecipientKind::x25519);
  EXPECT_EQ(info->x25519_stanzas, 2u);
  EXPECT_EQ(info->work_factor, 0);

  for (const X25519Identity* one : {&a, &b}) {
    auto opened = decrypt_x25519(*file, std::span(one, 1));
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_TRUE(std::equal(opened->begin(), opened->end(), plaintext.begin(), plaintext.end()));
  }
  std::vector<X25519Identity> both_wrong = {stranger, fresh()};
  auto refused = decrypt_x25519(*file, both_wrong);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ExitCode::integrity);
  EXPECT_EQ(refused.error().message,
            "no identity matched: 2 identities tried against 2 X25519 stanzas (0 of other types "
            "skipped)");
  // The right identity after a wrong one.
  std::vector<X25519Identity> later = {stranger, b};
  EXPECT_TRUE(decrypt_x25519(*file, later));
  EXPECT_FALSE(encrypt_x25519(plaintext, {}));
}

TEST(AgeX25519, ALowOrderShareIsAHeaderFailureNotAMismatch) {
  X25519Identity me = fresh();
  Bytes file_key(kFileKeySize, 7);
  Bytes plaintext = pattern(10);
  // The identity point (all zero) and a point of order 8 (from the CCTV vector x25519_low_order):
  // X25519 with either is all zero, which OpenSSL 3.0 reports as a failed derivation.
  for (const std::string& share :
       {encode_base64(Bytes(32, 0)), std::string("X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEdc")}) {
    std::vector<Stanza> stanzas = {{{"X25519", share}, Bytes(32, 1)}};
    auto file = seal_file(stanzas, file_key, plaintext);
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_TRUE(inspect_header(*file)) << "well-formed: only a key shows the problem";
    auto opened = decrypt_x25519(*file, std::span(&me, 1));
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code, ExitCode::integrity);
    EXPECT_NE(opened.error().message.find("invalid age header"), std::string::npos)
        << opened.error().message;
    EXPECT_NE(opened.error().message.find("low-order"), std::string::npos)
        << opened.error().message;
  }
  X25519Recipient zero{};
  auto sealed = encrypt_x25519(plaintext, std::span(&zero, 1));
  ASSERT_FALSE(sealed);
  EXPECT_EQ(sealed.error().code, ExitCode::usage) << sealed.error().message;
}

TEST(AgeX25519, MalformedStanzasFailTheHeaderBeforeAnyKeyIsTried) {
  X25519Identity stranger = fresh();
  Bytes file_key(kFileKeySize, 9);
  std::string share = encode_base64(recipient_of(fresh()).public_key);
  const std::pair<Stanza, std::string> bad[] = {
      {{{"X25519", share, "extra"}, Bytes(32, 1)}, "needs 1 argument"},
      {{{"X25519"}, Bytes(32, 1)}, "needs 1 argument"},
      {{{"X25519", encode_base64(Bytes(31, 5))}, Bytes(32, 1)}, "32 bytes"},
      {{{"X25519", encode_base64(Bytes(33, 5))}, Bytes(32, 1)}, "32 bytes"},
      {{{"X25519", share}, Bytes(48, 1)}, "body is 48 bytes"},  // a longer file key
      {{{"X25519", share}, Bytes(31, 1)}, "body is 31 bytes"},
  };
  for (const auto& [stanza, why] : bad) {
    std::vector<Stanza> stanzas = {stanza};
    auto file = seal_file(stanzas, file_key, pattern(5));
    ASSERT_TRUE(file);
    auto inspected = inspect_header(*file);
    auto opened = decrypt_x25519(*file, std::span(&stranger, 1));
    ASSERT_FALSE(inspected) << why;
    ASSERT_FALSE(opened) << why;
    for (const Error& error : {inspected.error(), opened.error()}) {
      EXPECT_EQ(error.code, ExitCode::integrity);
      EXPECT_NE(error.message.find("invalid age header"), std::string::npos) << error.message;
      EXPECT_NE(error.message.find(why), std::string::npos) << error.message;
    }
  }
}

TEST(AgeX25519, SkipsUnknownStanzasButNeverMixesWithScrypt) {
  X25519Identity me = fresh();
  Bytes file_key(kFileKeySize, 4);
  Stanza mine = *make_x25519_stanza(file_key, recipient_of(me));
  Stanza grease{{"grease-Zz", "x"}, Bytes(5, 2)};
  std::vector<Stanza> greased = {grease, mine, grease};
  auto file = seal_file(greased, file_key, pattern(100));
  ASSERT_TRUE(file);
  auto info = inspect_header(*file);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->x25519_stanzas, 1u);
  EXPECT_EQ(info->other_stanzas, 2u);
  EXPECT_TRUE(decrypt_x25519(*file, std::span(&me, 1)));

  std::vector<Stanza> only_grease = {grease};
  file = seal_file(only_grease, file_key, pattern(100));
  ASSERT_TRUE(file);
  auto none = inspect_header(*file);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no identity matched"), std::string::npos);
  auto unopened = decrypt_x25519(*file, std::span(&me, 1));
  ASSERT_FALSE(unopened);
  EXPECT_NE(unopened.error().message.find("against 0 X25519 stanzas (1 of other types skipped)"),
            std::string::npos)
      << unopened.error().message;

  auto scrypt = make_scrypt_stanza(file_key, "pass", 10);
  ASSERT_TRUE(scrypt);
  std::vector<Stanza> mixed = {mine, *scrypt};
  file = seal_file(mixed, file_key, pattern(100));
  ASSERT_TRUE(file);
  auto refused = inspect_header(*file);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("must be the only stanza"), std::string::npos);
  EXPECT_FALSE(decrypt_x25519(*file, std::span(&me, 1)));

  auto passphrase_file = encrypt_scrypt(pattern(10), "pass", 10);
  ASSERT_TRUE(passphrase_file);
  auto wrong_kind = decrypt_x25519(*passphrase_file, std::span(&me, 1));
  ASSERT_FALSE(wrong_kind);
  EXPECT_NE(wrong_kind.error().message.find("encrypted with a passphrase"), std::string::npos);
}

}  // namespace
}  // namespace kf::age
