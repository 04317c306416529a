#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <boost/filesystem/operations.hpp>

#include "core/files.hpp"
#include "pki/keyset.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

// A GnuPG-home-like source: dotfiles, a nested directory, modes of every allowed kind.
void make_source(const fs::path& src) {
  fs::create_directories(src);
  ::chmod(src.c_str(), 0700);
  test::write_text(src / "secring.gpg", "secret ring", 0600);
  test::write_text(src / "pubring.kbx", "public ring", 0640);
  test::write_text(src / "trustdb.gpg", "trust", 0644);
  fs::create_directories(src / "private-keys-v1.d");
  ::chmod((src / "private-keys-v1.d").c_str(), 0750);
  test::write_text(src / "private-keys-v1.d" / "ABCDEF.key", "a private key", 0600);
  fs::create_directories(src / ".ssl");
  ::chmod((src / ".ssl").c_str(), 0755);
  test::write_text(src / ".ssl" / "ssl.key", "tls key", 0600);
  test::write_text(src / "secring.gpg.bak", "old ring", 0600);
}

CreateKeysOptions import_options(const fs::path& out, const fs::path& src,
                                 std::vector<std::string> exclude = {}) {
  CreateKeysOptions o;
  o.out = out;
  o.import_dir = src;
  o.exclude = std::move(exclude);
  return o;
}

void expect_refused(const Result<CreatedKeyset>& r, ExitCode code, std::string_view words) {
  ASSERT_FALSE(r) << "accepted; expected: " << words;
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
}

TEST(Import, TakesEveryFileAndDirectoryWithTheSourceModesInTheManifest) {
  TempDir tmp;
  make_source(tmp / "src");
  auto created = create_keyset(import_options(tmp / "keys", tmp / "src", {".ssl", "*.bak"}));
  ASSERT_TRUE(created) << created.error().message;
  const Manifest& m = created->manifest;
  EXPECT_TRUE(m.imported());
  EXPECT_EQ(m.generation, 1u);
  EXPECT_EQ(m.exclude, (std::vector<std::string>{".ssl", "*.bak"}));
  EXPECT_EQ(created->excluded, (std::vector<std::string>{".ssl", "secring.gpg.bak"}));
  ASSERT_EQ(m.directories.size(), 1u);
  EXPECT_EQ(m.directories[0], (ManifestDirectory{"private-keys-v1.d", 0750}));
  std::vector<std::string> names;
  for (const auto& f : m.files) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"private-keys-v1.d/ABCDEF.key", "pubring.kbx",
                                             "secring.gpg", "trustdb.gpg"}));
  EXPECT_EQ(m.find("pubring.kbx")->mode, 0640u);
  EXPECT_EQ(m.find("trustdb.gpg")->mode, 0644u);
  EXPECT_EQ(m.find("secring.gpg")->sha256, sha256_hex(as_bytes("secret ring")));
  EXPECT_EQ(m.find("secring.gpg")->size, 11u);
  // The copies are keyfleet's: 0600 and 0700 whatever the source had.
  EXPECT_EQ(test::file_mode(tmp / "keys" / "pubring.kbx"), 0600u);
  EXPECT_EQ(test::file_mode(tmp / "keys" / "trustdb.gpg"), 0600u);
  EXPECT_EQ(test::file_mode(tmp / "keys" / "private-keys-v1.d"), 0700u);
  EXPECT_EQ(test::read_text(tmp / "keys" / "private-keys-v1.d" / "ABCDEF.key"), "a private key");
  EXPECT_FALSE(fs::exists(tmp / "keys" / ".ssl"));
  EXPECT_FALSE(fs::exists(tmp / "keys" / "secring.gpg.bak"));
  auto text = test::read_text(tmp / "keys" / "manifest.json");
  EXPECT_NE(text.find("keyfleet-keyset/2"), std::string::npos);
  auto reread = parse_manifest(text, "manifest.json");
  ASSERT_TRUE(reread) << reread.error().message;
  EXPECT_EQ(*reread, m);
}

TEST(Import, IsTheNextGenerationOfTheDirectoryWithTheSameLineage) {
  TempDir tmp;
  make_source(tmp / "src");
  auto first = create_keyset(import_options(tmp / "keys", tmp / "src"));
  ASSERT_TRUE(first) << first.error().message;
  // Without --force an existing set is refused, and nothing changes.
  auto before = test::snapshot(tmp / "keys");
  expect_refused(create_keyset(import_options(tmp / "keys", tmp / "src")), ExitCode::refused,
                 "add --force");
  EXPECT_EQ(test::snapshot(tmp / "keys"), before);

  test::write_text(tmp / "src" / "secring.gpg", "rotated ring", 0600);
  auto o = import_options(tmp / "keys", tmp / "src");
  o.force = true;
  auto second = create_keyset(o);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->manifest.generation, 2u);
  EXPECT_EQ(second->manifest.keyset, first->manifest.keyset);
  ASSERT_TRUE(second->archived_to);
  // The nested directory moved whole into the archive.
  EXPECT_EQ(test::read_text(*second->archived_to / "private-keys-v1.d" / "ABCDEF.key"),
            "a private key");
  EXPECT_EQ(test::read_text(*second->archived_to / "secring.gpg"), "secret ring");
  EXPECT_EQ(test::read_text(tmp / "keys" / "secring.gpg"), "rotated ring");

  // A TLS set after an imported one: the archive takes the whole imported set.
  CreateKeysOptions tls;
  tls.out = tmp / "keys";
  tls.hosts = {"node1"};
  tls.force = true;
  auto third = create_keyset(tls);
  ASSERT_TRUE(third) << third.error().message;
  EXPECT_EQ(third->manifest.generation, 3u);
  EXPECT_EQ(third->manifest.keyset, first->manifest.keyset);
  EXPECT_FALSE(fs::exists(tmp / "keys" / "private-keys-v1.d"));
  EXPECT_TRUE(fs::exists(tmp / "keys" / "archive" / "000002" / "private-keys-v1.d"));
}

TEST(Import, RefusesEachKindOfEntryNamingIt) {
  struct Case {
    std::string what;
    std::function<void(const fs::path&)> make;
    std::string words;
  };
  std::vector<Case> cases = {
      {"symlink", [](const fs::path& s) { fs::create_symlink("/etc/passwd", s / "link"); },
       "'link' is a symbolic link"},
      {"symlinked directory",
       [](const fs::path& s) { fs::create_directory_symlink("/etc", s / "etc"); },
       "'etc' is a symbolic link"},
      {"fifo", [](const fs::path& s) { ASSERT_EQ(::mkfifo((s / "pipe").c_str(), 0600), 0); },
       "'pipe' is a FIFO"},
      {"socket",
       [](const fs::path& s) {
         int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
         sockaddr_un addr{};
         addr.sun_family = AF_UNIX;
         std::string path = (s / "sock").string();
         ASSERT_LT(path.size(), sizeof(addr.sun_path));
         std::copy(path.begin(), path.end(), addr.sun_path);
         ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
         ::close(fd);
       },
       "'sock' is a socket"},
      {"hard link",
       [](const fs::path& s) {
         test::write_text(s / "a", "x", 0600);
         ASSERT_EQ(::link((s / "a").c_str(), (s / "b").c_str()), 0);
       },
       "'b' is a hard link to 'a'"},
      {"wide file", [](const fs::path& s) { test::write_text(s / "open.key", "x", 0666); },
       "'open.key' has mode 0666"},
      {"executable", [](const fs::path& s) { test::write_text(s / "run.sh", "x", 0755); },
       "'run.sh' has mode 0755"},
      {"wide directory",
       [](const fs::path& s) {
         fs::create_directory(s / "shared");
         ::chmod((s / "shared").c_str(), 0777);
       },
       "'shared' has mode 0777"},
      {"control byte", [](const fs::path& s) { test::write_text(s / "bad\x1b[2J", "x", 0600); },
       "'bad\\x1b[2J': the name is refused: a control character"},
      {"too deep",
       [](const fs::path& s) {
         fs::path p = s;
         for (int i = 1; i <= 8; ++i) p /= std::to_string(i);
         fs::create_directories(p);
         test::write_text(p / "x", "x", 0600);
       },
       "'1/2/3/4/5/6/7/8/x': the name is refused: more than 8 levels deep"},
      {"reserved manifest", [](const fs::path& s) { test::write_text(s / "manifest.json", "{}"); },
       "'manifest.json' is a name the key directory keeps for itself"},
      {"reserved archive", [](const fs::path& s) { fs::create_directory(s / "archive"); },
       "'archive' is a name the key directory keeps for itself"},
      {"empty", [](const fs::path&) {}, "no file to import"},
  };
  if (::geteuid() == 0) {
    cases.push_back({"device",
                     [](const fs::path& s) {
                       if (::mknod((s / "null").c_str(), S_IFCHR | 0600, makedev(1, 3)) != 0) {
                         GTEST_SKIP() << "mknod: " << std::strerror(errno);
                       }
                     },
                     "'null' is a device"});
  }
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    TempDir tmp;
    fs::create_directories(tmp / "src");
    if (c.what != "empty") test::write_text(tmp / "src" / "ok.key", "fine", 0600);
    c.make(tmp / "src");
    if (testing::Test::IsSkipped()) continue;
    expect_refused(create_keyset(import_options(tmp / "keys", tmp / "src")), ExitCode::usage,
                   c.words);
    // Nothing was written: no manifest, no copy.
    EXPECT_FALSE(fs::exists(tmp / "keys" / "manifest.json"));
    EXPECT_FALSE(fs::exists(tmp / "keys" / "ok.key"));
  }
}

TEST(Import, AnExcludePatternLetsARefusedEntryStayBehind) {
  TempDir tmp;
  fs::create_directories(tmp / "src");
  test::write_text(tmp / "src" / "secring.gpg", "ring", 0600);
  fs::create_symlink("/etc/passwd", tmp / "src" / "S.gpg-agent");
  ASSERT_EQ(::mkfifo((tmp / "src" / "S.gpg-agent.ssh").c_str(), 0600), 0);
  auto created = create_keyset(import_options(tmp / "keys", tmp / "src", {"S.gpg-agent*"}));
  ASSERT_TRUE(created) << created.error().message;
  ASSERT_EQ(created->manifest.files.size(), 1u);
  EXPECT_EQ(created->manifest.files[0].name, "secring.gpg");
  EXPECT_EQ(created->excluded, (std::vector<std::string>{"S.gpg-agent", "S.gpg-agent.ssh"}));
}

TEST(Import, CheckSourceEntryRefusesWhatNoDiskHolds) {
  auto refused = [](std::string path, std::string_view words) {
    auto r = check_source_entry({std::move(path), SourceType::regular, 0600}, "pull node1:/x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ExitCode::usage);
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.rfind("pull node1:/x: ", 0), 0u) << r.error().message;
  };
  refused("../etc/passwd", "a '..' component");
  refused("/etc/passwd", "an absolute path");
  refused(std::string(256, 'x'), "a component longer than 255 bytes");
  EXPECT_TRUE(check_source_entry({"a/.b/c", SourceType::regular, 0644}, "x"));
}

TEST(Import, OutInsideTheSourceAndHostsAreUsageErrors) {
  TempDir tmp;
  make_source(tmp / "src");
  expect_refused(create_keyset(import_options(tmp / "src" / "keys", tmp / "src")), ExitCode::usage,
                 "is inside --import");
  auto o = import_options(tmp / "keys", tmp / "src");
  o.hosts = {"node1"};
  expect_refused(create_keyset(o), ExitCode::usage, "has no hosts");
  expect_refused(create_keyset(import_options(tmp / "keys", tmp / "missing")), ExitCode::usage,
                 "cannot open the directory");
  fs::create_directory_symlink(tmp / "src", tmp / "link");
  expect_refused(create_keyset(import_options(tmp / "keys2", tmp / "link")), ExitCode::usage,
                 "a symbolic link: give the directory it points at");
}

TEST(Import, AStrayEntryInTheKeyDirectoryIsNeverOverwritten) {
  TempDir tmp;
  make_source(tmp / "src");
  fs::create_directories(tmp / "keys");
  ::chmod((tmp / "keys").c_str(), 0700);
  test::write_text(tmp / "keys" / "secring.gpg", "an operator's own copy", 0600);
  expect_refused(create_keyset(import_options(tmp / "keys", tmp / "src")), ExitCode::refused,
                 "secring.gpg already exists and belongs to no key set");
  EXPECT_EQ(test::read_text(tmp / "keys" / "secring.gpg"), "an operator's own copy");
  EXPECT_FALSE(fs::exists(tmp / "keys" / "manifest.json"));
}

}  // namespace
}  // namespace kf
