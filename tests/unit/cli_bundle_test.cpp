#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bundle/age.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::TempDir;

struct Fixture {
  TempDir dir;
  fs::path keys = dir / "keys";
  fs::path out = dir / "keys.age";
  fs::path pass = test::passphrase_file(dir.path());
  Manifest manifest = test::write_keyset(keys, 4);

  test::RunResult bundle(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"bundle",      "--keys",        keys.string(),
                                  "--out",       out.string(),    "--passphrase-file",
                                  pass.string(), "--work-factor", "10"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::keyfleet(args);
  }
};

SecretBytes decrypt(const fs::path& path) {
  auto bytes = read_file(path, age::kMaxFileSize);
  EXPECT_TRUE(bytes);
  auto plain = age::decrypt_scrypt(*bytes, test::kPassphrase);
  EXPECT_TRUE(plain) << plain.error().message;
  return plain ? *plain : SecretBytes{};
}

TEST(CliBundle, WritesA0600BundleAndPrintsDigestAndGeneration) {
  Fixture f;
  auto r = f.bundle();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::file_mode(f.out), 0600u);
  std::string sha = sha256_hex(as_bytes(test::read_text(f.out)));
  EXPECT_NE(r.out.find(sha), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("generation  4"), std::string::npos) << r.out;
  auto opened = bundle::load_bundle(f.out, test::kPassphrase);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->manifest.find("ca.key"), nullptr);
  EXPECT_EQ(opened->manifest.files.size(), f.manifest.files.size() - 1);
}

TEST(CliBundle, JsonIsOneDocument) {
  Fixture f;
  auto r = f.bundle({"--json", "--include-ca-key"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["path"], f.out.string());
  EXPECT_EQ(doc["generation"], 4);
  EXPECT_EQ(doc["sha256"], sha256_hex(as_bytes(test::read_text(f.out))));
  std::vector<std::string> names;
  for (const auto& file : f.manifest.files) names.push_back(file.name);
  EXPECT_EQ(doc["files"].get<std::vector<std::string>>(), names);
  EXPECT_NE(r.err.find("ca.key"), std::string::npos);  // a warning, on stderr
}

TEST(CliBundle, SameKeySetGivesSameTar) {
  Fixture f;
  ASSERT_EQ(f.bundle().exit_code, 0);
  fs::path second = f.dir / "again.age";
  auto r = test::keyfleet({"bundle", "--keys", f.keys.string(), "--out", second.string(),
                           "--passphrase-file", f.pass.string(), "--work-factor", "10"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(test::read_text(f.out), test::read_text(second));  // fresh salt and nonce
  EXPECT_EQ(decrypt(f.out), decrypt(second));
}

TEST(CliBundle, RefusesToOverwrite) {
  Fixture f;
  test::write_text(f.out, "precious", 0644);
  auto r = f.bundle();
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  EXPECT_EQ(test::read_text(f.out), "precious");
}

TEST(CliBundle, RefusesAnEditedKeySetNamingTheFile) {
  Fixture f;
  test::write_text(f.keys / "storepass", "changed", 0600);
  auto r = f.bundle();
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("storepass"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(f.out));
}

TEST(CliBundle, WorkFactorRange) {
  Fixture f;
  for (std::string wf : {"9", "23", "30"}) {
    auto r = test::keyfleet({"bundle", "--keys", f.keys.string(), "--out", f.out.string(),
                             "--passphrase-file", f.pass.string(), "--work-factor", wf});
    EXPECT_EQ(r.exit_code, 2) << wf;
    EXPECT_FALSE(fs::exists(f.out));
  }
}

TEST(CliBundle, PassphraseFileReadableByOthersIsAUsageError) {
  Fixture f;
  chmod(f.pass.c_str(), 0644);
  auto r = f.bundle();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(f.pass.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0644"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(f.out));
}

TEST(CliBundle, PassphraseFromFd) {
  Fixture f;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string line = std::string(test::kPassphrase) + "\n";
  ASSERT_EQ(write(fds[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  close(fds[1]);
  int fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 20);
  close(fds[0]);
  test::RunOptions options;
  options.pass_fds = {fd};
  auto r = test::keyfleet({"bundle", "--keys", f.keys.string(), "--out", f.out.string(),
                           "--passphrase-fd", std::to_string(fd), "--work-factor", "10"},
                          options);
  close(fd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(bundle::load_bundle(f.out, test::kPassphrase));
}

TEST(CliBundle, FileAndFdAreMutuallyExclusive) {
  Fixture f;
  auto r = f.bundle({"--passphrase-fd", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(fs::exists(f.out));
}

// setsid(1) runs keyfleet without a controlling terminal, as under cron or CI.
TEST(CliBundle, NoPassphraseAndNoTerminal) {
  Fixture f;
  auto r = test::run({"setsid", "-w", test::keyfleet_bin(), "bundle", "--keys", f.keys.string(),
                      "--out", f.out.string(), "--work-factor", "10"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--passphrase-file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(f.out));
}

TEST(CliBundle, PromptsTwiceOnTheTerminal) {
  Fixture f;
  std::string cmd = fmt::format("{} bundle --keys {} --out {} --work-factor 10",
                                test::keyfleet_bin(), f.keys.string(), f.out.string());
  test::RunOptions typed;
  typed.input = "typed secret\ntyped secret\n";
  auto r = test::run({"script", "-qec", cmd, "/dev/null"}, typed);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Repeat the passphrase"), std::string::npos) << r.out;
  EXPECT_TRUE(bundle::load_bundle(f.out, "typed secret"));

  fs::remove(f.out);
  typed.input = "one\ntwo\n";
  r = test::run({"script", "-qec", cmd, "/dev/null"}, typed);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("the two passphrases differ"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(f.out));
}

// Emergency access: the standard age tool opens a keyfleet bundle, and tar lists the key set.
TEST(CliBundle, AgeCliDecryptsABundleIntoATar) {
  Fixture f;
  ASSERT_EQ(f.bundle().exit_code, 0);
  fs::path tar = f.dir / "plain.tar";
  auto age = test::age_cli(fmt::format("-d -o {} {}", tar.string(), f.out.string()),
                           std::string(test::kPassphrase) + "\n");
  ASSERT_EQ(age.exit_code, 0) << age.out << age.err;
  auto listed = test::run({"tar", "-tf", tar.string()});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::string expected = "manifest.json\n";
  for (const auto& file : f.manifest.files) {
    if (file.name != "ca.key") expected += file.name + "\n";
  }
  EXPECT_EQ(listed.out, expected);
  auto opened = bundle::load_bundle(f.out, test::kPassphrase);
  ASSERT_TRUE(opened);
  auto extracted = test::run({"tar", "-xOf", tar.string(), "agent.key"});
  EXPECT_EQ(extracted.out, test::read_text(f.keys / "agent.key"));
}

TEST(CliBundle, HelpTeachesWithAnExample) {
  auto r = test::keyfleet({"bundle", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("keyfleet bundle --keys keys/ --out"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--passphrase-fd"), std::string::npos);
  EXPECT_NE(r.out.find("Exit codes"), std::string::npos);
}

}  // namespace
}  // namespace kf
