#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "core/lock.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

TEST(Lock, SecondLockIsRefusedAndNamesTheFile) {
  TempDir dir;
  auto first = FileLock::try_acquire(dir / ".lock");
  ASSERT_TRUE(first) << first.error().message;
  // flock locks belong to the open file description: a second open in this process conflicts too.
  auto second = FileLock::try_acquire(dir / ".lock");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ExitCode::refused);
  EXPECT_NE(second.error().message.find((dir / ".lock").string()), std::string::npos)
      << second.error().message;
}

TEST(Lock, TheLockFileIsPrivate) {
  TempDir dir;
  auto lock = FileLock::try_acquire(dir / ".lock");
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_EQ(test::file_mode(dir / ".lock"), 0600u);
}

TEST(Lock, IsLetGoWhenTheOwnerIsDestroyedOrMoved) {
  TempDir dir;
  {
    auto first = FileLock::try_acquire(dir / ".lock");
    ASSERT_TRUE(first);
    FileLock moved = std::move(*first);
    EXPECT_FALSE(FileLock::try_acquire(dir / ".lock")) << "a moved lock is still held";
  }
  EXPECT_TRUE(FileLock::try_acquire(dir / ".lock")) << "the lock outlived its owner";
}

// The node side takes the same lock with flock(1) (lib/fleet/node_scripts.cpp); both must see each
// other, or a local unpack and a script could interleave.
TEST(Lock, ConflictsWithFlockOneInAnotherProcess) {
  TempDir dir;
  auto lock = FileLock::try_acquire(dir / ".lock");
  ASSERT_TRUE(lock);
  auto other = test::run({"flock", "-n", (dir / ".lock").string(), "true"});
  EXPECT_EQ(other.exit_code, 1) << other.err;
}

TEST(Lock, ALockHeldByAnotherProcessIsRefusedUntilThatProcessEnds) {
  TempDir dir;
  int ready[2];
  int release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(release[1]);  // or the read below never sees the parent close its end
    auto lock = FileLock::try_acquire(dir / ".lock");
    char c = lock ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(release[0], &c, 1);  // returns when the parent closes its end
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y') << "the child could not take the lock";
  auto refused = FileLock::try_acquire(dir / ".lock");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ExitCode::refused);
  EXPECT_NE(refused.error().message.find("another keyfleet"), std::string::npos);
  ::close(release[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ::close(ready[0]);
  EXPECT_TRUE(FileLock::try_acquire(dir / ".lock")) << "the lock outlived the process that held it";
}

TEST(Lock, DoesNotFollowASymlink) {
  TempDir dir;
  ASSERT_EQ(::symlink((dir / "elsewhere").c_str(), (dir / ".lock").c_str()), 0);
  auto lock = FileLock::try_acquire(dir / ".lock");
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().code, ExitCode::failure);
  EXPECT_FALSE(boost::filesystem::exists(dir / "elsewhere"));
}

TEST(Lock, AMissingDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  auto lock = FileLock::try_acquire(dir / "missing" / ".lock");
  ASSERT_FALSE(lock);
  EXPECT_NE(lock.error().message.find("missing/.lock"), std::string::npos) << lock.error().message;
  EXPECT_NE(lock.error().message.find("No such file"), std::string::npos) << lock.error().message;
}

}  // namespace
}  // namespace kf
