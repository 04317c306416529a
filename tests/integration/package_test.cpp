// The Debian package, made by CPack from this build tree (as `make package` does from its Release
// tree): what it holds, and that the binary it installs runs.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/test_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using ::testing::HasSubstr;

class PackageTest : public ::testing::Test {
 protected:
  // One package per test process, in its own directory (cpack takes a few seconds).
  static void SetUpTestSuite() {
    dir_ = std::make_unique<test::TempDir>();
    auto r = test::run({"cpack", "--config", std::string(KEYFLEET_BUILD_DIR) + "/CPackConfig.cmake",
                        "-B", dir_->path().string()},
                       [] {
                         test::RunOptions options;
                         options.cwd = KEYFLEET_BUILD_DIR;
                         return options;
                       }());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    for (fs::directory_iterator it(dir_->path()), end; it != end; ++it) {
      if (it->path().extension() == ".deb") deb_ = it->path();
    }
    ASSERT_FALSE(deb_.empty()) << "cpack made no .deb:\n" << r.out;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::unique_ptr<test::TempDir> dir_;
  static fs::path deb_;
};

std::unique_ptr<test::TempDir> PackageTest::dir_;
fs::path PackageTest::deb_;

TEST_F(PackageTest, IsNamedAfterVersionAndArchitecture) {
  std::string arch = test::run({"dpkg", "--print-architecture"}).out;
  arch.erase(arch.find_last_not_of('\n') + 1);
  EXPECT_EQ(deb_.filename().string(), fmt::format("keyfleet_{}-1_{}.deb", KEYFLEET_VERSION, arch));
}

TEST_F(PackageTest, ListsEveryExpectedPath) {
  auto r = test::run({"dpkg-deb", "-c", deb_.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* path :
       {"./usr/bin/keyfleet", "./usr/share/man/man1/keyfleet.1.gz",
        "./usr/share/man/man1/keyfleet-push.1.gz",
        "./usr/share/man/man1/keyfleet-inventory-show.1.gz",
        "./usr/share/bash-completion/completions/keyfleet",
        "./usr/share/zsh/vendor-completions/_keyfleet",
        "./usr/share/fish/vendor_completions.d/keyfleet.fish", "./usr/share/keyfleet/certs/",
        "./usr/share/doc/keyfleet/README.md", "./usr/share/doc/keyfleet/inventory.md",
        "./usr/share/doc/keyfleet/copyright", "./usr/share/doc/keyfleet/changelog.Debian.gz"}) {
    EXPECT_THAT(r.out, HasSubstr(std::string(path) + "\n")) << path;
  }
}

TEST_F(PackageTest, DependsOnTheRuntimeLibraries) {
  auto r = test::run({"dpkg-deb", "--field", deb_.string(), "Depends"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* library : {"libssh-4", "libarchive13", "libsodium23", "libssl3"}) {
    EXPECT_THAT(r.out, HasSubstr(library)) << r.out;
  }
}

TEST_F(PackageTest, TheInstalledBinaryRunsAndPrintsItsVersion) {
  test::TempDir root;
  auto x = test::run({"dpkg-deb", "-x", deb_.string(), root.path().string()});
  ASSERT_EQ(x.exit_code, 0) << x.err;
  auto r = test::run({(root.path() / "usr/bin/keyfleet").string(), "--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, fmt::format("keyfleet {}\n", KEYFLEET_VERSION));
  auto page = test::shell(
      "gzip -dc '" + (root.path() / "usr/share/man/man1/keyfleet.1.gz").string() + "' | head -1");
  EXPECT_THAT(page.out, HasSubstr(".TH KEYFLEET 1"));
}

TEST_F(PackageTest, LintianFindsNoErrors) {
  if (test::shell("command -v lintian").exit_code != 0) {
    GTEST_SKIP() << "lintian is not installed (scripts/deps.sh package)";
  }
  auto r = test::run({"lintian", "--tag-display-limit", "0", deb_.string()});
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("E: "))) << r.out << r.err;
}

}  // namespace
}  // namespace kf
