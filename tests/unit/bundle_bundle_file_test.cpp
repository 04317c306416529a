#include "bundle/bundle_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "core/fd.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf::bundle {
namespace {

using test::TempDir;

// A pipe holding `text`, as --passphrase-fd would see it. Whatever is left unread stays in it,
// so a test can tell whether the passphrase was read.
struct PassphrasePipe {
  Fd read_end;
  Fd write_end;

  explicit PassphrasePipe(const std::string& text) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    read_end = Fd(fds[0]);
    write_end = Fd(fds[1]);
    EXPECT_EQ(::write(write_end.get(), text.data(), text.size()),
              static_cast<ssize_t>(text.size()));
    write_end = Fd();  // EOF after the text
  }

  PassphraseSource source() const { return PassphraseSource{std::nullopt, read_end.get()}; }

  std::string unread() const {
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = ::read(read_end.get(), buf, sizeof buf)) > 0) out.append(buf, std::size_t(n));
    return out;
  }
};

void expect_error(const auto& result, ExitCode code, const std::string& message_start) {
  ASSERT_FALSE(result) << "succeeded, expected: " << message_start;
  EXPECT_EQ(result.error().code, code) << result.error().message;
  EXPECT_EQ(result.error().message.substr(0, message_start.size()), message_start)
      << result.error().message;
}

TEST(BundleFile, OpensAGoodBundleAndKeepsItsBytes) {
  TempDir dir;
  Manifest written = test::write_bundle(dir / "keys.age", 4);
  const std::string on_disk = test::read_text(dir / "keys.age");
  PassphraseSource source{test::passphrase_file(dir.path()), std::nullopt};

  auto file = open_bundle_file(dir / "keys.age", source);
  ASSERT_TRUE(file) << file.error().message;
  EXPECT_EQ(std::string(file->bytes.begin(), file->bytes.end()), on_disk);
  EXPECT_EQ(file->bundle.sha256, sha256_hex(file->bytes));
  EXPECT_EQ(file->bundle.size, on_disk.size());
  EXPECT_EQ(file->bundle.manifest, written);
  ASSERT_EQ(file->bundle.files.size(), written.files.size());
  for (std::size_t i = 0; i < written.files.size(); ++i) {
    EXPECT_EQ(file->bundle.files[i].name, written.files[i].name);
    EXPECT_EQ(file->bundle.files[i].data.size(), written.files[i].size);
  }
}

TEST(BundleFile, CheckReadsTheHeaderWithoutAPassphrase) {
  TempDir dir;
  test::write_bundle(dir / "keys.age", 2);
  auto checked = check_bundle_file(dir / "keys.age");
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->path, dir / "keys.age");
  EXPECT_EQ(checked->info.size, checked->bytes.size());
  EXPECT_EQ(checked->info.sha256, sha256_hex(checked->bytes));
  EXPECT_EQ(checked->info.header.work_factor, test::kTestWorkFactor);

  PassphrasePipe pipe(std::string(test::kPassphrase) + "\n");
  auto opened = open_checked_bundle(*checked, pipe.source());
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->manifest.generation, 2u);
  EXPECT_EQ(opened->sha256, checked->info.sha256);
}

TEST(BundleFile, ANonBundleFailsBeforeThePassphraseIsRead) {
  TempDir dir;
  test::write_text(dir / "notes.txt", "just some text, not an age file\n");
  test::write_text(dir / "empty.age", "");
  const std::string typed = std::string(test::kPassphrase) + "\n";

  for (const char* name : {"notes.txt", "empty.age"}) {
    PassphrasePipe pipe(typed);
    fs::path path = dir / name;
    expect_error(open_bundle_file(path, pipe.source()), ExitCode::integrity, path.string() + ": ");
    EXPECT_EQ(pipe.unread(), typed) << name << ": the passphrase was read";
  }

  PassphrasePipe pipe(typed);
  fs::path missing = dir / "missing.age";
  expect_error(open_bundle_file(missing, pipe.source()), ExitCode::usage,
               "bundle " + missing.string() + " does not exist");
  EXPECT_EQ(pipe.unread(), typed);
}

TEST(BundleFile, AWrongPassphraseIsAnIntegrityErrorNamingTheFile) {
  TempDir dir;
  test::write_bundle(dir / "keys.age", 1);
  PassphrasePipe pipe("not the passphrase\n");
  auto file = open_bundle_file(dir / "keys.age", pipe.source());
  expect_error(file, ExitCode::integrity, (dir / "keys.age").string() + ": ");
  EXPECT_EQ(to_int(file.error().code), 3);
}

TEST(BundleFile, ATamperedBundleFailsAfterItsHeaderPassed) {
  TempDir dir;
  test::write_bundle(dir / "keys.age", 1);
  std::string bytes = test::read_text(dir / "keys.age");
  bytes[bytes.size() - 20] ^= 1;  // inside the payload: the header still parses
  test::write_text(dir / "keys.age", bytes);
  ASSERT_TRUE(check_bundle_file(dir / "keys.age"));
  PassphraseSource source{test::passphrase_file(dir.path()), std::nullopt};
  expect_error(open_bundle_file(dir / "keys.age", source), ExitCode::integrity,
               (dir / "keys.age").string() + ": ");
}

TEST(BundleFile, APassphraseProblemKeepsItsOwnMessage) {
  TempDir dir;
  test::write_bundle(dir / "keys.age", 1);
  fs::path loose = test::passphrase_file(dir.path());
  fs::permissions(loose, fs::perms(0644));
  auto file = open_bundle_file(dir / "keys.age", PassphraseSource{loose, std::nullopt});
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code, ExitCode::usage) << file.error().message;
  EXPECT_NE(file.error().message.find(loose.string()), std::string::npos) << file.error().message;
}

}  // namespace
}  // namespace kf::bundle
