// The Debian package, made by CPack from this build tree (as `make package` does from its Release
// tree): what it holds, and that the binary it installs runs.
#include <fcntl.h>
#include <sys/file.h>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/fd.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using ::testing::HasSubstr;

// ctest runs each test in its own process: the package is made once per build, in the build tree,
// and made again only when the binary or the CPack configuration is newer than it.
fs::path package_of_this_build() {
  const fs::path build = KEYFLEET_BUILD_DIR;
  const fs::path dir = build / "package-test";
  Fd lock(::open((build / "package-test.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock || ::flock(lock.get(), LOCK_EX) != 0) return {};
  auto find_deb = [&]() -> fs::path {
    if (!fs::is_directory(dir)) return {};
    for (fs::directory_iterator it(dir), end; it != end; ++it) {
      if (it->path().extension() == ".deb") return it->path();
    }
    return {};
  };
  fs::path deb = find_deb();
  const std::time_t made = deb.empty() ? 0 : fs::last_write_time(deb);
  if (deb.empty() || made < fs::last_write_time(build / "keyfleet") ||
      made < fs::last_write_time(build / "CPackConfig.cmake")) {
    fs::remove_all(dir);
    test::RunOptions options;
    options.cwd = build.string();
    auto r = test::run(
        {"cpack", "--config", (build / "CPackConfig.cmake").string(), "-B", dir.string()}, options);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    deb = find_deb();
  }
  return deb;
}

class PackageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { deb_ = package_of_this_build(); }
  void SetUp() override { ASSERT_FALSE(deb_.empty()) << "cpack made no .deb"; }

  static fs::path deb_;
};

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
