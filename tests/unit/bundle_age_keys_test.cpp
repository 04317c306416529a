// Identity files (age-keygen's format) and recipients files (age -R's), and writing an identity.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <gtest/gtest.h>

#include "bundle/age_keys.hpp"
#include "support/test_support.hpp"

namespace kf::age {
namespace {

using test::TempDir;
namespace fs = boost::filesystem;

constexpr std::string_view kIdentityA =
    "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";
constexpr std::string_view kRecipientA =
    "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef";
constexpr std::string_view kIdentityB =
    "AGE-SECRET-KEY-143WN7DCXU4G8R5AXQSSYD9AEPYDNT3HXSLWSPK36CDU6E8M59SSSAGZ3KG";

std::span<const std::uint8_t> bytes(std::string_view text) {
  return as_bytes(text);
}

TEST(AgeKeyFiles, ParsesCommentsBlankLinesCrlfAndSeveralKeys) {
  std::string text = "# created: 2026-01-31T12:00:00Z\n# public key: " + std::string(kRecipientA) +
                     "\n" + std::string(kIdentityA) + "\n\n#another one\r\n" +
                     std::string(kIdentityB) + "\r\n";
  auto identities = parse_identity_file(bytes(text), "ids");
  ASSERT_TRUE(identities) << identities.error().message;
  ASSERT_EQ(identities->size(), 2u);
  EXPECT_EQ(format_recipient(recipient_of((*identities)[0])), kRecipientA);
  // No final newline is fine too.
  auto last = parse_identity_file(bytes(kIdentityB), "ids");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->size(), 1u);
}

TEST(AgeKeyFiles, NamesTheBadLineOfAnIdentityFileWithoutQuotingIt) {
  std::string typo(kIdentityB);
  typo[30] = typo[30] == 'Q' ? 'P' : 'Q';
  std::string text = "# a comment\n" + std::string(kIdentityA) + "\n\n" + typo + "\n";
  auto identities = parse_identity_file(bytes(text), "/keys/ids");
  ASSERT_FALSE(identities);
  EXPECT_EQ(identities.error().code, ExitCode::usage);
  EXPECT_NE(identities.error().message.find("identity file /keys/ids:4: "), std::string::npos)
      << identities.error().message;
  EXPECT_EQ(identities.error().message.find(typo.substr(16, 20)), std::string::npos);

  for (std::string_view bad : {" AGE-SECRET-KEY-1...", "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s",
                               "  # indented comments are not comments"}) {
    auto refused = parse_identity_file(bytes(std::string(bad) + "\n"), "f");
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("identity file f:1: "), std::string::npos);
  }
  auto empty = parse_identity_file(bytes("# nothing but comments\n\n"), "f");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("holds no identity"), std::string::npos);
}

TEST(AgeKeyFiles, AnIdentityFileMustBePrivateAndRegular) {
  TempDir dir;
  fs::path file = dir / "ids";
  test::write_text(file, std::string(kIdentityA) + "\n", 0600);
  auto ok = read_identity_file(file);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->size(), 1u);
  test::write_text(dir / "ro", std::string(kIdentityA) + "\n", 0400);
  EXPECT_TRUE(read_identity_file(dir / "ro"));

  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    ::chmod(file.c_str(), mode);
    auto loose = read_identity_file(file);
    ASSERT_FALSE(loose) << std::oct << mode;
    EXPECT_EQ(loose.error().code, ExitCode::usage);
    EXPECT_NE(loose.error().message.find("identity file " + file.string()), std::string::npos)
        << loose.error().message;
    EXPECT_NE(loose.error().message.find("chmod 600"), std::string::npos);
  }
  ::chmod(file.c_str(), 0600);
  fs::create_symlink(file, dir / "link");
  fs::create_directory(dir / "directory");
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  // A FIFO nobody writes to must be refused at once, not waited on.
  auto start = std::chrono::steady_clock::now();
  for (const char* name : {"link", "directory", "fifo", "missing"}) {
    auto refused = read_identity_file(dir / name);
    ASSERT_FALSE(refused) << name;
    EXPECT_EQ(refused.error().code, ExitCode::usage) << name;
    EXPECT_NE(refused.error().message.find((dir / name).string()), std::string::npos)
        << refused.error().message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto devices = read_identity_file("/dev/null");
  ASSERT_FALSE(devices);
  EXPECT_EQ(devices.error().code, ExitCode::usage);
}

TEST(AgeKeyFiles, ParsesARecipientsFileAndNamesItsBadLine) {
  std::string text = "# deploy hosts\n" + std::string(kRecipientA) + "\n\n# second\n" +
                     format_recipient(recipient_of(*parse_identity(kIdentityB))) + "\n";
  auto recipients = parse_recipients_file(text, "r.txt");
  ASSERT_TRUE(recipients) << recipients.error().message;
  EXPECT_EQ(recipients->size(), 2u);

  auto bad = parse_recipients_file(text + "age1notarecipient\n", "r.txt");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ExitCode::usage);
  EXPECT_NE(bad.error().message.find("recipients file r.txt:6: \"age1notarecipient\""),
            std::string::npos)
      << bad.error().message;
  auto none = parse_recipients_file("# empty\n", "r.txt");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("holds no recipient"), std::string::npos);

  TempDir dir;
  test::write_text(dir / "r.txt", text, 0644);  // public keys: any mode is fine
  auto read = read_recipients_file(dir / "r.txt");
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->size(), 2u);
  auto missing = read_recipients_file(dir / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ExitCode::usage);
}

TEST(AgeKeyFiles, WritesAnIdentityFileInAgeKeygensFormatOnceOnly) {
  TempDir dir;
  auto identity = generate_identity();
  ASSERT_TRUE(identity);
  fs::path file = dir / "identity.txt";
  ASSERT_TRUE(write_identity_file(file, *identity, 1769860800));  // 2026-01-31T12:00:00Z
  EXPECT_EQ(test::file_mode(file), 0600u);
  std::string recipient = format_recipient(recipient_of(*identity));
  std::string text = test::read_text(file);
  EXPECT_EQ(text, "# created: 2026-01-31T12:00:00Z\n# public key: " + recipient + "\n" +
                      std::string(format_identity(*identity)->view()) + "\n");
  auto back = read_identity_file(file);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->front().public_key, identity->public_key);

  auto again = write_identity_file(file, *generate_identity(), 0);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ExitCode::refused);
  EXPECT_EQ(test::read_text(file), text) << "an existing identity is never replaced";
  fs::create_symlink(dir / "elsewhere", dir / "dangling");
  auto through = write_identity_file(dir / "dangling", *identity, 0);
  ASSERT_FALSE(through);
  EXPECT_EQ(through.error().code, ExitCode::refused);
  EXPECT_FALSE(fs::exists(dir / "elsewhere"));
}

}  // namespace
}  // namespace kf::age
