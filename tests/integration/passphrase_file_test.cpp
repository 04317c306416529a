// A passphrase file that is not a regular file, given to the real binary: refused at once (exit
// 2), never waited on.
#include <sys/stat.h>

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using ::testing::HasSubstr;
using Seconds = std::chrono::duration<double>;

TEST(PassphraseFile, AFifoGivenToBundleIsRefusedWithinASecond) {
  test::TempDir dir;
  test::write_keyset(dir / "keys", 1);
  fs::path fifo = dir / "passphrase";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  fs::path out = dir / "keys.age";

  auto start = std::chrono::steady_clock::now();
  // timeout(1) turns a regression (a keyfleet blocked opening the FIFO) into a failure here
  // rather than a suite that hangs.
  auto r = test::run({"timeout", "-s", "KILL", "60", test::keyfleet_bin(), "bundle", "--keys",
                      (dir / "keys").string(), "--out", out.string(), "--passphrase-file",
                      fifo.string()});
  Seconds took = std::chrono::steady_clock::now() - start;

  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("passphrase file " + fifo.string() + ": not a regular file"));
  EXPECT_LT(took.count(), 1.0);
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace kf
