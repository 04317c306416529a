#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "core/passphrase.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;
namespace fs = boost::filesystem;

Result<SecretString> from_file(const fs::path& path) {
  return read_passphrase({path, std::nullopt}, PassphrasePurpose::encrypt);
}

TEST(Passphrase, FileFirstLineWithoutLineEnding) {
  TempDir dir;
  test::write_text(dir / "p", "first line\nsecond line\n", 0600);
  auto p = from_file(dir / "p");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->view(), "first line");
  test::write_text(dir / "crlf", "windows\r\n", 0400);
  EXPECT_EQ(from_file(dir / "crlf")->view(), "windows");
  test::write_text(dir / "bare", "  spaces kept  ", 0600);
  EXPECT_EQ(from_file(dir / "bare")->view(), "  spaces kept  ");
}

TEST(Passphrase, FileReadableByOthersIsRefused) {
  TempDir dir;
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    test::write_text(dir / "p", "secret\n", mode);
    auto p = from_file(dir / "p");
    ASSERT_FALSE(p) << std::oct << mode;
    EXPECT_EQ(p.error().code, ExitCode::usage);
    EXPECT_NE(p.error().message.find((dir / "p").string()), std::string::npos);
    EXPECT_NE(p.error().message.find(fmt::format("mode {:04o}", mode)), std::string::npos)
        << p.error().message;
  }
}

TEST(Passphrase, FileMustBeARegularFileNotASymlinkAndNotEmpty) {
  TempDir dir;
  test::write_text(dir / "real", "secret\n", 0600);
  ASSERT_EQ(symlink((dir / "real").c_str(), (dir / "link").c_str()), 0);
  auto link = from_file(dir / "link");
  ASSERT_FALSE(link);
  EXPECT_EQ(link.error().code, ExitCode::usage);
  EXPECT_NE(link.error().message.find("symbolic link"), std::string::npos);

  auto directory = from_file(dir.path());
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, ExitCode::usage);

  auto missing = from_file(dir / "missing");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ExitCode::usage);

  for (std::string empty : {"", "\n", "\r\nsecond\n"}) {
    test::write_text(dir / "empty", empty, 0600);
    auto p = from_file(dir / "empty");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, ExitCode::usage);
    EXPECT_NE(p.error().message.find("empty"), std::string::npos);
  }
  test::write_text(dir / "long", std::string(5000, 'x'), 0600);
  EXPECT_FALSE(from_file(dir / "long"));
}

// A FIFO nobody writes to would block open(2) without O_NONBLOCK: checked in a child with an
// alarm, so that a regression fails here instead of hanging the suite.
TEST(Passphrase, NonRegularFilesAreRefusedAtOnce) {
  static TempDir* dir = nullptr;
  TempDir tmp;
  dir = &tmp;
  ASSERT_EQ(mkfifo((tmp / "fifo").c_str(), 0600), 0);
  int status = test::wait_status_of_child([] {
    alarm(10);
    auto fifo = from_file(*dir / "fifo");
    bool refused = !fifo && fifo.error().code == ExitCode::usage &&
                   fifo.error().message.find("not a regular file") != std::string::npos;
    _exit(refused ? 0 : 1);
  });
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status)
                                 << ": the passphrase reader waited on the FIFO";
  EXPECT_EQ(WEXITSTATUS(status), 0);

  auto device = from_file("/dev/zero");
  ASSERT_FALSE(device);
  EXPECT_EQ(device.error().code, ExitCode::usage);
  EXPECT_NE(device.error().message.find("not a regular file"), std::string::npos);
}

TEST(Passphrase, FdReadsOnlyTheFirstLine) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string input = "from the pipe\nrest stays\n";
  ASSERT_EQ(write(fds[1], input.data(), input.size()), static_cast<ssize_t>(input.size()));
  close(fds[1]);
  auto p = read_passphrase({std::nullopt, fds[0]}, PassphrasePurpose::decrypt);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->view(), "from the pipe");
  char rest[32] = {};
  EXPECT_EQ(read(fds[0], rest, sizeof rest), 11);
  EXPECT_STREQ(rest, "rest stays\n");
  close(fds[0]);
}

TEST(Passphrase, FdWithoutNewlineAndBadFds) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "no newline", 10), 10);
  close(fds[1]);
  auto p = read_passphrase({std::nullopt, fds[0]}, PassphrasePurpose::decrypt);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->view(), "no newline");
  close(fds[0]);

  auto closed = read_passphrase({std::nullopt, fds[0]}, PassphrasePurpose::decrypt);
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().code, ExitCode::usage);
  EXPECT_NE(closed.error().message.find("not an open file descriptor"), std::string::npos);

  ASSERT_EQ(pipe(fds), 0);
  close(fds[1]);
  auto empty = read_passphrase({std::nullopt, fds[0]}, PassphrasePurpose::decrypt);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ExitCode::usage);
  close(fds[0]);
}

TEST(Passphrase, BothSourcesAreAUsageError) {
  auto p = read_passphrase({fs::path("/nonexistent"), 0}, PassphrasePurpose::decrypt);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ExitCode::usage);
}

TEST(Passphrase, HasPassphrase) {
  EXPECT_FALSE(has_passphrase({}));
  EXPECT_TRUE(has_passphrase({fs::path("f"), std::nullopt}));
  EXPECT_TRUE(has_passphrase({std::nullopt, 3}));
}

}  // namespace
}  // namespace kf
