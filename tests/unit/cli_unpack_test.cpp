#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/lock.hpp"
#include "keydir/crash_point.hpp"
#include "keydir/local_install.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using test::RawEntry;
using test::TempDir;

struct Fixture {
  TempDir dir;
  fs::path dest = dir / "agent";
  fs::path pass = test::passphrase_file(dir.path());

  test::RunResult unpack(const fs::path& bundle, std::vector<std::string> extra = {},
                         const test::RunOptions& options = {}) {
    std::vector<std::string> args{"unpack",      bundle.string(),     "--dest",
                                  dest.string(), "--passphrase-file", pass.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::keyfleet(args, options);
  }
  fs::path bundle_of(std::uint64_t generation) {
    fs::path path = dir / fmt::format("gen{}.age", generation);
    if (!fs::exists(path)) test::write_bundle(path, generation);
    return path;
  }
};

// Done when (issue 3): a key set bundled and unpacked twice, generations 1 then 2, leaves
// DEST/current on generation 2 with files byte-identical to the key set.
TEST(CliUnpack, TwoGenerationsEndOnTheSecondWithIdenticalFiles) {
  Fixture f;
  for (std::uint64_t g : {1, 2}) {
    fs::path keys = f.dir / fmt::format("keys{}", g);
    Manifest m = test::write_keyset(keys, g);
    fs::path out = f.dir / fmt::format("keys{}.age", g);
    auto b = test::keyfleet({"bundle", "--keys", keys.string(), "--out", out.string(),
                             "--passphrase-file", f.pass.string(), "--work-factor", "10"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto r = f.unpack(out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(fmt::format("Installed generation {}", g)), std::string::npos) << r.out;
    ASSERT_TRUE(test::current_is_complete(f.dest, g));
    for (const auto& file : m.files) {
      fs::path installed = f.dest / "current" / file.name;
      if (file.name == "ca.key") {
        EXPECT_FALSE(fs::exists(installed));
      } else {
        EXPECT_EQ(test::read_text(installed), test::read_text(keys / file.name)) << file.name;
        EXPECT_EQ(test::file_mode(installed), file.mode) << file.name;
      }
    }
  }
  EXPECT_EQ(fs::read_symlink(f.dest / "current").string(), "generations/000002");
  EXPECT_TRUE(fs::is_directory(f.dest / "generations" / "000001"));
  EXPECT_EQ(test::file_mode(f.dest), 0700u);
}

TEST(CliUnpack, JsonReport) {
  Fixture f;
  ASSERT_EQ(f.unpack(f.bundle_of(1)).exit_code, 0);
  auto r = f.unpack(f.bundle_of(2), {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["dest"], f.dest.string());
  EXPECT_EQ(doc["generation"], 2);
  EXPECT_EQ(doc["previous"], 1);
  EXPECT_EQ(doc["files"].front(), "manifest.json");
  EXPECT_EQ(doc["files"].size(), test::keyset_files(false).size() + 1);
  EXPECT_TRUE(doc["pruned"].empty());
}

// Each of these exits 3 and leaves DEST exactly as it was.
TEST(CliUnpack, RejectsDamagedOrUnsafeBundlesLeavingDestUntouched) {
  Fixture f;
  ASSERT_EQ(f.unpack(f.bundle_of(1)).exit_code, 0);
  const auto before = test::tree(f.dest);

  auto files = test::keyset_files(false);
  files.push_back({"big.bin", 0600, test::random_text(150 * 1024)});  // three STREAM chunks
  auto valid = test::valid_entries(files, 2);
  std::string good_tar = test::craft_tar(valid);
  auto good = test::encrypt(good_tar);
  std::size_t header_size = age::inspect_header(good)->header_size;
  constexpr std::size_t kChunk = 65536 + 16;

  std::vector<std::pair<std::string, std::string>> cases;  // what, bundle bytes
  auto add = [&](std::string what, std::vector<std::uint8_t> bytes) {
    cases.emplace_back(std::move(what), std::string(bytes.begin(), bytes.end()));
  };
  auto flipped = [&](std::size_t offset) {
    auto bytes = good;
    bytes.at(offset) ^= 0x01;
    return bytes;
  };
  add("flipped header byte", flipped(header_size / 2));
  for (std::size_t chunk = 0; chunk < 3; ++chunk) {
    add(fmt::format("flipped byte in chunk {}", chunk),
        flipped(std::min(header_size + 16 + chunk * kChunk + 10, good.size() - 1)));
  }
  auto dropped = good;
  dropped.resize(header_size + 16 + 2 * kChunk);
  add("dropped final chunk", dropped);
  auto appended = good;
  appended.push_back('x');
  add("appended bytes", appended);
  add("wrong passphrase", test::encrypt(good_tar, "another passphrase"));
  add("empty file", {});
  std::string wf30(good.begin(), good.end());
  auto eol = wf30.find('\n', wf30.find("-> scrypt "));
  wf30.replace(eol - 2, 2, "30");
  cases.emplace_back("work factor 30", wf30);

  auto tar_case = [&](std::string what, auto change) {
    auto entries = valid;
    change(entries);
    add(what, test::encrypt(test::craft_tar(entries)));
  };
  tar_case("../x", [](auto& e) { e.push_back({"../x", "x"}); });
  tar_case("/abs", [](auto& e) { e.push_back({"/abs", "x"}); });
  tar_case("symlink", [](auto& e) { e.push_back({"evil", "", AE_IFLNK, 0777, "/etc/shadow"}); });
  tar_case("hard link", [](auto& e) {
    e.push_back({"evil", "", AE_IFREG, 0600, "", "agent.key"});
  });
  tar_case("directory", [](auto& e) { e.push_back({"sub", "", AE_IFDIR, 0700}); });
  tar_case("device", [](auto& e) { e.push_back({"null", "", AE_IFCHR, 0600}); });
  tar_case("duplicate", [](auto& e) { e.push_back(e[1]); });
  tar_case("file the manifest lacks", [](auto& e) { e.push_back({"extra", "x"}); });
  tar_case("file the tar lacks", [](auto& e) { e.pop_back(); });
  tar_case("digest mismatch", [](auto& e) { e[2].data[0] ^= 1; });
  tar_case("oversize entry", [](auto& e) {
    e.push_back({"huge", std::string(bundle::kMaxEntrySize + 1, 'x')});
  });

  fs::path file = f.dir / "bad.age";
  for (const auto& [what, bytes] : cases) {
    SCOPED_TRACE(what);
    fs::remove(file);
    test::write_text(file, bytes);
    auto r = f.unpack(file);
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("keyfleet: error: "), std::string::npos);
    EXPECT_EQ(test::tree(f.dest), before);
  }
  fs::remove(file);
  test::write_text(file, std::string(good.begin(), good.end()));
  EXPECT_EQ(f.unpack(file).exit_code, 0);  // the undamaged bundle goes in
}

// An identical install is verified and left alone (exit 0), with or without --allow-downgrade.
TEST(CliUnpack, SameBundleTwiceIsUnchanged) {
  Fixture f;
  const fs::path bundle = f.bundle_of(1);
  ASSERT_EQ(f.unpack(bundle).exit_code, 0);
  auto before = test::tree(f.dest);
  auto r = f.unpack(bundle);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("Unchanged: generation 1")) << r.out;
  r = f.unpack(bundle, {"--allow-downgrade"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::tree(f.dest), before);
}

TEST(CliUnpack, DowngradeNeedsAllowDowngrade) {
  Fixture f;
  ASSERT_EQ(f.unpack(f.bundle_of(3)).exit_code, 0);
  auto before = test::tree(f.dest);
  auto r = f.unpack(f.bundle_of(2));
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("--allow-downgrade"), std::string::npos) << r.err;
  EXPECT_EQ(test::tree(f.dest), before);
  r = f.unpack(f.bundle_of(2), {"--allow-downgrade"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(test::current_is_complete(f.dest, 2));
}

TEST(CliUnpack, ConcurrentUnpackIsRefused) {
  Fixture f;
  ASSERT_EQ(f.unpack(f.bundle_of(1)).exit_code, 0);
  auto before = test::tree(f.dest);
  {
    auto lock = FileLock::try_acquire(f.dest / ".lock");
    ASSERT_TRUE(lock);
    auto r = f.unpack(f.bundle_of(2));
    EXPECT_EQ(r.exit_code, 4);
    EXPECT_NE(r.err.find("locked"), std::string::npos) << r.err;
    EXPECT_EQ(test::tree(f.dest), before);
  }
  EXPECT_EQ(f.unpack(f.bundle_of(2)).exit_code, 0);
}

// SIGKILL right after each step of an install (the KEYFLEET_TEST_CRASH_AT hook): `current` stays on
// a complete generation, old or new, and the next unpack succeeds and clears the leftovers.
TEST(CliUnpack, CrashAtEveryStepLeavesACompleteGeneration) {
  Fixture f;
  std::vector<fs::path> bundles;
  for (std::uint64_t g = 1; g <= 4; ++g) bundles.push_back(f.bundle_of(g));
  bool switched = false;
  for (auto step : keydir::kInstallSteps) {
    SCOPED_TRACE(std::string(step));
    if (step == "current-switched") switched = true;
    fs::remove_all(f.dest);
    ASSERT_EQ(f.unpack(bundles[0], {"--keep", "2"}).exit_code, 0);
    ASSERT_EQ(f.unpack(bundles[1], {"--keep", "2"}).exit_code, 0);
    test::RunOptions crash;
    crash.env[std::string(keydir::kCrashAtVariable)] = std::string(step);
    auto r = f.unpack(bundles[2], {"--keep", "2"}, crash);
    ASSERT_EQ(r.exit_code, 128 + SIGKILL) << "the step was never reached: " << r.err;
    std::uint64_t expected = switched ? 3 : 2;
    EXPECT_TRUE(test::current_is_complete(f.dest, expected));

    // The same bundle again: finishes the interrupted install, or finds it unchanged.
    auto again = f.unpack(bundles[2], {"--keep", "2"});
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_TRUE(test::current_is_complete(f.dest, 3));

    auto next = f.unpack(bundles[3], {"--keep", "2"});
    ASSERT_EQ(next.exit_code, 0) << next.err;
    EXPECT_TRUE(test::current_is_complete(f.dest, 4));
    for (fs::directory_iterator it(f.dest / "generations"), end; it != end; ++it) {
      EXPECT_FALSE(it->path().filename().string().starts_with(".tmp-")) << it->path();
    }
    for (fs::directory_iterator it(f.dest), end; it != end; ++it) {
      EXPECT_FALSE(it->path().filename().string().starts_with("current.tmp-")) << it->path();
    }
  }
}

TEST(CliUnpack, KeepPrunesOldGenerations) {
  Fixture f;
  for (std::uint64_t g = 1; g <= 4; ++g) {
    auto r = f.unpack(f.bundle_of(g), {"--keep", "3", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (g == 4) {
      EXPECT_EQ(nlohmann::json::parse(r.out)["pruned"], nlohmann::json::array({1}));
    }
  }
  EXPECT_FALSE(fs::exists(f.dest / "generations" / "000001"));
  EXPECT_TRUE(fs::exists(f.dest / "generations" / "000002"));
  auto r = f.unpack(f.bundle_of(5), {"--keep", "1"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(CliUnpack, OwnerIsCheckedBeforeAnythingIsWritten) {
  Fixture f;
  auto r = f.unpack(f.bundle_of(1), {"--owner", "no-such-user-kf:nogroup"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no-such-user-kf"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(f.dest));
  r = f.unpack(f.bundle_of(1), {"--owner", "nobody:nogroup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(stat((f.dest / "current" / "agent.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
}

TEST(CliUnpack, PassphraseFromFdAndNoTerminal) {
  Fixture f;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string line = std::string(test::kPassphrase) + "\n";
  ASSERT_EQ(write(fds[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  close(fds[1]);
  test::RunOptions options;
  options.pass_fds = {fds[0]};
  auto r = test::keyfleet({"unpack", f.bundle_of(1).string(), "--dest", f.dest.string(),
                           "--passphrase-fd", std::to_string(fds[0])},
                          options);
  close(fds[0]);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = test::run({"setsid", "-w", test::keyfleet_bin(), "unpack", f.bundle_of(2).string(), "--dest",
                 f.dest.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(test::current_is_complete(f.dest, 1));
}

// A key set tarred by GNU tar and encrypted by `age -p` installs like a keyfleet bundle.
TEST(CliUnpackInterop, AcceptsABundleMadeByTheAgeCli) {
  Fixture f;
  fs::path keys = f.dir / "keys";
  Manifest m = test::write_keyset(keys, 6, test::keyset_files(false));
  std::string names = "manifest.json";
  for (const auto& file : m.files) names += " " + file.name;
  fs::path tar = f.dir / "keys.tar";
  ASSERT_EQ(test::shell(
                fmt::format("tar --format=pax -C {} -cf {} {}", keys.string(), tar.string(), names))
                .exit_code,
            0);
  fs::path sealed = f.dir / "keys.age";
  std::string typed = std::string(test::kPassphrase) + "\n";
  auto age =
      test::age_cli(fmt::format("-p -o {} {}", sealed.string(), tar.string()), typed + typed);
  ASSERT_EQ(age.exit_code, 0) << age.out;
  auto r = f.unpack(sealed);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(test::current_is_complete(f.dest, 6));
  for (const auto& file : m.files) {
    EXPECT_EQ(test::read_text(f.dest / "current" / file.name), test::read_text(keys / file.name));
  }
}

TEST(CliUnpack, HelpTeachesWithAnExample) {
  auto r = test::keyfleet({"unpack", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("keyfleet unpack keys-gen2.age --dest /etc/keyfleet/agent"),
            std::string::npos);
  EXPECT_NE(r.out.find("--allow-downgrade"), std::string::npos);
}

}  // namespace
}  // namespace kf
