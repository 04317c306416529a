// create-keys --import / --secret and pull through the real binary: options, output, help.
#include <gtest/gtest.h>

#include <boost/filesystem/operations.hpp>

#include "support/test_support.hpp"

namespace kf {
namespace {

using test::keyfleet;
using test::TempDir;

TEST(CliImport, ImportsPrintsModesAndExclusionsAndBundlesTheSet) {
  TempDir tmp;
  boost::filesystem::create_directories(tmp / "src" / "sub");
  test::write_text(tmp / "src" / ".hidden", "h", 0640);
  test::write_text(tmp / "src" / "sub" / "key", "k", 0600);
  test::write_text(tmp / "src" / "old.bak", "b", 0600);
  auto r = keyfleet({"create-keys", "--out", (tmp / "keys").string(), "--import",
                     (tmp / "src").string(), "--exclude-path", "*.bak"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("imported, 2 files"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(".hidden"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0640"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("excluded: old.bak"), std::string::npos) << r.out;
  test::write_text(tmp / "pass", "a passphrase\n", 0600);
  auto bundled =
      keyfleet({"bundle", "--keys", (tmp / "keys").string(), "--out", (tmp / "b.kfb").string(),
                "--passphrase-file", (tmp / "pass").string(), "--work-factor", "10"});
  ASSERT_EQ(bundled.exit_code, 0) << bundled.err;
  auto inspected =
      keyfleet({"inspect", (tmp / "b.kfb").string(), "--passphrase-file", (tmp / "pass").string()});
  EXPECT_EQ(inspected.exit_code, 0) << inspected.err;
  EXPECT_NE(inspected.out.find("sub/key"), std::string::npos) << inspected.out;
  // unpack installs it with the source's modes.
  auto unpacked = keyfleet({"unpack", (tmp / "b.kfb").string(), "--dest", (tmp / "dest").string(),
                            "--passphrase-file", (tmp / "pass").string()});
  ASSERT_EQ(unpacked.exit_code, 0) << unpacked.err;
  EXPECT_EQ(test::file_mode(tmp / "dest" / "current" / ".hidden"), 0640u);
  EXPECT_EQ(test::read_text(tmp / "dest" / "current" / "sub" / "key"), "k");
}

// inspect of an imported set shows what applies to it -- kind, key set, exclusions,
// directories -- not a generated set's empty certificate lines; and the names it prints come from
// the bundle, escaped as every other name keyfleet prints.
TEST(CliImport, InspectShowsWhatAppliesToAnImportedSetWithNamesEscaped) {
  TempDir tmp;
  boost::filesystem::create_directories(tmp / "src" / "private-keys-v1.d");
  test::write_text(tmp / "src" / "private-keys-v1.d" / "A.key", "k", 0600);
  // A backslash is allowed in a name; printed raw it would pass for an escape of ours.
  test::write_text(tmp / "src" / "a\\x1b[2Jb.key", "e", 0600);
  test::write_text(tmp / "src" / "old.bak", "b", 0600);
  auto made = keyfleet({"create-keys", "--out", (tmp / "keys").string(), "--import",
                        (tmp / "src").string(), "--exclude-path", "*.bak"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  test::write_text(tmp / "pass", "a passphrase\n", 0600);
  ASSERT_EQ(
      keyfleet({"bundle", "--keys", (tmp / "keys").string(), "--out", (tmp / "b.kfb").string(),
                "--passphrase-file", (tmp / "pass").string(), "--work-factor", "10"})
          .exit_code,
      0);
  auto inspected =
      keyfleet({"inspect", (tmp / "b.kfb").string(), "--passphrase-file", (tmp / "pass").string()});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  const std::string& out = inspected.out;
  EXPECT_NE(out.find("kind          imported"), std::string::npos) << out;
  EXPECT_NE(out.find("key set       "), std::string::npos) << out;
  EXPECT_NE(out.find("excluded      *.bak"), std::string::npos) << out;
  EXPECT_NE(out.find("private-keys-v1.d/\n"), std::string::npos) << out;
  EXPECT_NE(out.find("private-keys-v1.d/A.key"), std::string::npos) << out;
  EXPECT_NE(out.find("a\\\\x1b[2Jb.key"), std::string::npos) << out;
  EXPECT_EQ(out.find(" a\\x1b[2Jb.key"), std::string::npos) << "the name printed raw";
  for (const char* absent : {"key type", "not after", "hosts ", "\nca ", "\nagent "}) {
    EXPECT_EQ(out.find(absent), std::string::npos) << absent << " in:\n" << out;
  }
}

TEST(CliImport, OptionsThatMeanNothingForAnImportAreRefused) {
  TempDir tmp;
  boost::filesystem::create_directories(tmp / "src");
  for (const char* option : {"--host", "--days", "--cn"}) {
    auto r = keyfleet({"create-keys", "--out", (tmp / "k").string(), "--import",
                       (tmp / "src").string(), option, "10"});
    EXPECT_EQ(r.exit_code, 2) << option << r.err;
    EXPECT_NE(r.err.find("excludes"), std::string::npos) << r.err;
  }
  auto needs = keyfleet(
      {"create-keys", "--out", (tmp / "k").string(), "--host", "node1", "--exclude-path", ".ssl"});
  EXPECT_EQ(needs.exit_code, 2) << needs.err;
  EXPECT_NE(needs.err.find("--import"), std::string::npos) << needs.err;
  auto bad_secret = keyfleet(
      {"create-keys", "--out", (tmp / "k").string(), "--host", "node1", "--secret", "rootkey:8"});
  EXPECT_EQ(bad_secret.exit_code, 2);
  EXPECT_NE(bad_secret.err.find("--secret rootkey:8: the size must be 16 to 1024 bytes"),
            std::string::npos)
      << bad_secret.err;
}

TEST(CliImport, HelpTeachesWithExamples) {
  auto create = keyfleet({"create-keys", "--help"});
  EXPECT_NE(create.out.find("--import /var/lib/keytrustee/.keytrustee"), std::string::npos);
  EXPECT_NE(create.out.find("--keep-secret rootkey"), std::string::npos);
  auto pull = keyfleet({"pull", "--help"});
  EXPECT_EQ(pull.exit_code, 0);
  EXPECT_NE(pull.out.find("keyfleet pull --inventory kms.toml --node kms1 \\\n"), std::string::npos)
      << pull.out;
  EXPECT_NE(pull.out.find("--exclude-path"), std::string::npos);
  auto missing = keyfleet({"pull", "--inventory", "x.toml"});
  EXPECT_EQ(missing.exit_code, 2);
}

}  // namespace
}  // namespace kf
