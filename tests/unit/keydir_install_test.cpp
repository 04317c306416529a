// keydir::apply_plan (as decided by keydir::decide) and ensure_layout on an in-memory node (every
// failure injected) and on a real key directory through keydir::LocalRemote (the real switch script
// and lock holder).
#include "keydir/install.hpp"

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "keydir/local_remote.hpp"
#include "keydir/lock.hpp"
#include "keydir/plan.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/fake_remote.hpp"
#include "support/test_support.hpp"

namespace kf::keydir {
namespace {

namespace fs = boost::filesystem;
using namespace std::chrono_literals;
using bundle::OpenedBundle;
using test::FakeRemote;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

OpenedBundle opened(std::uint64_t generation) {
  std::string tar = test::craft_tar(test::valid_entries(test::keyset_files(false), generation));
  auto result = bundle::validate_tar(as_bytes(tar));
  if (!result) throw std::runtime_error(result.error().message);
  return std::move(*result);
}

NodeState read_state(Remote& node, const KeyDir& dir) {
  auto state = read_node_state(node, dir, {}, "read");
  EXPECT_TRUE(state) << state.error().message;
  return state ? std::move(*state) : NodeState{};
}

// Reads the node, decides and carries the plan out, as push does.
NodeResult<InstallResult> install_by_plan(Remote& node, DestLock* lock, const KeyDir& dir,
                                          const OpenedBundle& b, const InstallOptions& options) {
  const GenerationContent content = GenerationContent::of(b);
  auto state = read_for_plan(node, dir, content.number, "read");
  if (!state) return std::unexpected(state.error());
  const Plan plan = decide(*state, BundleIdentity::of(b.manifest, content), {});
  return apply_plan(node, lock, dir, *state, plan, content, options, "install");
}

// Everything on the in-memory node, for "nothing changed" checks.
std::map<std::string, std::string> dump(const FakeRemote& node) {
  std::map<std::string, std::string> out;
  for (const auto& [path, e] : node.entries) {
    out[path] = fmt::format("{} {:o} {} {}", static_cast<int>(e.type), e.mode,
                            std::string(e.data.begin(), e.data.end()), e.target);
  }
  return out;
}

// Paths an interrupted install would leave: generations/.tmp-*, current.tmp-*.
std::vector<std::string> temporaries(const FakeRemote& node) {
  std::vector<std::string> out;
  for (const auto& [path, e] : node.entries) {
    if (path.find("/.tmp-") != std::string::npos || path.find("/current.tmp-") != std::string::npos)
      out.push_back(path);
  }
  return out;
}

bool uploaded_anything(const FakeRemote& node) {
  return std::any_of(node.log.begin(), node.log.end(),
                     [](const std::string& l) { return l.starts_with("upload "); });
}

class InstallFake : public ::testing::Test {
 protected:
  NodeResult<InstallResult> install(const OpenedBundle& b, DestLock* lock = nullptr) {
    return install_by_plan(node_, lock, dir_, b, options_);
  }
  void expect_generation(const OpenedBundle& b) {
    const std::string gen = dir_.generation(b.manifest.generation);
    ASSERT_TRUE(node_.exists(gen));
    EXPECT_EQ(node_.entries.at(gen).type, FileType::directory);
    EXPECT_EQ(node_.entries.at(gen).mode, 0700u);
    EXPECT_EQ(node_.text(gen + "/manifest.json"),
              std::string(b.manifest_bytes.begin(), b.manifest_bytes.end()));
    EXPECT_EQ(node_.entries.at(gen + "/manifest.json").mode, 0644u);
    for (const auto& f : b.files) {
      EXPECT_EQ(node_.text(gen + "/" + f.name), std::string(f.data.begin(), f.data.end()));
      EXPECT_EQ(node_.entries.at(gen + "/" + f.name).mode, f.mode) << f.name;
    }
  }
  [[nodiscard]] std::string current() const {
    auto it = node_.entries.find(dir_.current());
    return it == node_.entries.end() ? "" : it->second.target;
  }

  FakeRemote node_;
  KeyDir dir_{"/srv/agent"};
  InstallOptions options_{.owner = std::nullopt, .lock_wait = 1};
};

TEST_F(InstallFake, FreshDestGetsGenerationsAndCurrent) {
  node_.add_dir("/srv", 0755);
  auto one = opened(1);
  auto installed = install(one);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_FALSE(installed->reused);
  EXPECT_EQ(node_.entries.at("/srv/agent").mode, 0700u);
  EXPECT_EQ(node_.entries.at("/srv/agent/generations").mode, 0700u);
  EXPECT_EQ(current(), "generations/000001");
  expect_generation(one);
  EXPECT_THAT(temporaries(node_), IsEmpty());

  auto two = opened(2);
  installed = install(two);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(current(), "generations/000002");
  expect_generation(one);  // kept for rollback
  expect_generation(two);
  EXPECT_THAT(temporaries(node_), IsEmpty());
}

TEST_F(InstallFake, UnderALockTheSwitchIsARequestToItsHolder) {
  node_.add_dir("/srv/agent/generations", 0700);
  auto lock = DestLock::acquire(node_, dir_, 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  auto one = opened(1);
  auto installed = install(one, &*lock);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_NE(std::find(node_.log.begin(), node_.log.end(), "request switch 000001"),
            node_.log.end());
  EXPECT_THAT(temporaries(node_), IsEmpty());
}

// An install interrupted after its generation was renamed into place, but before `current`
// moved, is finished by switching only.
TEST_F(InstallFake, ReusesAnIdenticalGenerationWithoutWritingIt) {
  node_.add_dir("/srv", 0755);
  auto one = opened(1);
  ASSERT_TRUE(install(one));
  auto two = opened(2);
  const std::string gen = dir_.generation(2);
  node_.add_dir(gen, 0700);
  node_.add_file(gen + "/manifest.json",
                 std::string(two.manifest_bytes.begin(), two.manifest_bytes.end()), 0644);
  for (const auto& f : two.files) {
    node_.add_file(gen + "/" + f.name, std::string(f.data.begin(), f.data.end()), f.mode);
  }
  node_.log.clear();
  auto installed = install(two);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_TRUE(installed->reused);
  EXPECT_FALSE(uploaded_anything(node_));
  EXPECT_EQ(current(), "generations/000002");
  expect_generation(two);
}

// A generations/G that is not this bundle's (a file's mode changed, or no manifest) is replaced
// atomically: written anew under a temporary name, the old one moved aside and removed.
TEST_F(InstallFake, ReplacesAnExistingGenerationThatDiffers) {
  node_.add_dir("/srv", 0755);
  auto one = opened(1);
  ASSERT_TRUE(install(one));
  auto two = opened(2);
  const std::string gen = dir_.generation(2);
  auto plant = [&] {
    node_.add_dir(gen, 0700);
    node_.add_file(gen + "/manifest.json",
                   std::string(two.manifest_bytes.begin(), two.manifest_bytes.end()), 0644);
    for (const auto& f : two.files) {
      node_.add_file(gen + "/" + f.name, std::string(f.data.begin(), f.data.end()), f.mode);
    }
  };
  plant();
  node_.entries.at(gen + "/agent.key").mode = 0644;  // one mode changed is enough to differ
  auto installed = install(two);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_FALSE(installed->reused);
  EXPECT_EQ(current(), "generations/000002");
  expect_generation(two);
  EXPECT_THAT(temporaries(node_), IsEmpty());
  for (const auto& [path, e] : node_.entries) EXPECT_EQ(path.find("/.tmp-"), std::string::npos);

  // One without its manifest is not this bundle's generation either.
  node_.entries.at(dir_.current()).target = "generations/000001";  // as a rollback leaves it
  node_.entries.erase(gen + "/manifest.json");
  installed = install(two);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(current(), "generations/000002");
  expect_generation(two);
}

// A file where `current` belongs is moved aside for the switch and removed once it is done; if
// the switch fails it is put back, and the node is as it was found.
TEST_F(InstallFake, ACurrentThatIsAFileIsRemovedAfterTheSwitchOrPutBack) {
  node_.add_dir("/srv/agent/generations", 0700);
  node_.add_file("/srv/agent/current", "generations/000001\n", 0644);
  const auto before = dump(node_);
  node_.fail_next("request", "switch", {NodeStatus::failed, "exec", "fake: injected"});
  auto one = opened(1);
  auto failed = install(one);
  ASSERT_FALSE(failed);
  EXPECT_EQ(dump(node_), before);

  auto installed = install(one);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(current(), "generations/000001");
  expect_generation(one);
  EXPECT_THAT(temporaries(node_), IsEmpty());
  EXPECT_THAT(installed->warnings, IsEmpty());
}

struct InjectedFailure {
  std::string op;
  std::string path;  // any when empty; a substring of the command or request for exec/request
  bool with_lock = false;
  bool with_owner = false;
  bool posix_rename = false;  // the switch over SFTP, not in the lock's holder
};

class InstallFailure : public InstallFake, public ::testing::WithParamInterface<InjectedFailure> {};

TEST_P(InstallFailure, LeavesCurrentUntouchedAndNoTemporaryBehind) {
  const InjectedFailure& failure = GetParam();
  node_.add_dir("/srv", 0755);
  auto one = opened(1);
  ASSERT_TRUE(install(one));
  if (failure.with_owner) options_.owner = Owner{1234, 5678};
  node_.posix_rename = failure.posix_rename;
  std::optional<DestLock> lock;
  if (failure.with_lock) {
    auto acquired = DestLock::acquire(node_, dir_, 1, "lock");
    ASSERT_TRUE(acquired) << acquired.error().message;
    lock.emplace(std::move(*acquired));
  }
  const auto before = dump(node_);
  node_.fail_next(failure.op, failure.path,
                  {NodeStatus::failed, "sftp", "fake: injected " + failure.op + " failure"});
  auto installed = install(opened(2), lock ? &*lock : nullptr);
  ASSERT_FALSE(installed) << "the injected failure was not hit";
  EXPECT_EQ(installed.error().step, "install");
  EXPECT_THAT(installed.error().message, HasSubstr("injected " + failure.op));
  EXPECT_EQ(current(), "generations/000001");
  EXPECT_THAT(temporaries(node_), IsEmpty());
  EXPECT_EQ(dump(node_), before);
}

INSTANTIATE_TEST_SUITE_P(
    EveryStep, InstallFailure,
    ::testing::Values(InjectedFailure{"mkdir", ""},      // the temporary generation
                      InjectedFailure{"upload", ""},     // manifest.json
                      InjectedFailure{"fsync_dir", ""},  // every file written, then this
                      InjectedFailure{"symlink", ""},    // the new `current` link
                      InjectedFailure{"request", "switch"},
                      InjectedFailure{"request", "switch", true},
                      InjectedFailure{"replace", "", false, false, true},
                      InjectedFailure{"replace", "", true, false, true},
                      InjectedFailure{"chown", "", false, true}),
    [](const auto& info) {
      std::string name = info.param.op + (info.param.with_lock ? "UnderLock" : "");
      return name == "fsync_dir" ? std::string("fsync") : name;
    });

// The owner's files, and the directories it must pass through.
TEST_F(InstallFake, OwnerGetsTheGenerationAndDestItsGroup) {
  node_.add_dir("/srv", 0755);
  options_.owner = Owner{1234, 5678};
  auto one = opened(1);
  auto installed = install(one);
  ASSERT_TRUE(installed) << installed.error().message;
  const std::string gen = dir_.generation(1);
  EXPECT_EQ(node_.owners[gen], 1234u);
  EXPECT_EQ(node_.groups[gen], 5678u);
  EXPECT_EQ(node_.owners[gen + "/manifest.json"], 1234u);
  for (const auto& f : one.files) {
    EXPECT_EQ(node_.owners[gen + "/" + f.name], 1234u) << f.name;
    EXPECT_EQ(node_.groups[gen + "/" + f.name], 5678u) << f.name;
  }
  for (const std::string& d : {dir_.dest(), dir_.generations()}) {
    EXPECT_EQ(node_.entries.at(d).mode, 0710u) << d;
    EXPECT_EQ(node_.groups[d], 5678u) << d;
    EXPECT_FALSE(node_.owners.contains(d)) << d << " stays ours";
  }
  EXPECT_EQ(node_.entries.at(gen).mode, 0700u);
}

TEST_F(InstallFake, EnsureLayoutRefusesASymlinkedDestAndNeedsItsParent) {
  node_.add_dir("/elsewhere", 0755);
  node_.add_dir("/srv", 0755);
  ASSERT_TRUE(node_.symlink("/elsewhere", "/srv/agent"));
  auto made = ensure_layout(node_, dir_, options_, "install");
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().status, NodeStatus::refused);
  EXPECT_FALSE(node_.exists("/elsewhere/generations"));

  auto orphan = ensure_layout(node_, KeyDir("/no/such/agent"), options_, "install");
  ASSERT_FALSE(orphan);
  EXPECT_THAT(orphan.error().message, HasSubstr("parent directory does not exist"));
}

class InstallLocal : public ::testing::Test {
 protected:
  [[nodiscard]] fs::path dest() const { return tmp_ / "agent"; }
  [[nodiscard]] KeyDir dir() const { return KeyDir(dest().string()); }
  [[nodiscard]] std::string current() const {
    return fs::is_symlink(dest() / "current") ? fs::read_symlink(dest() / "current").string() : "";
  }
  [[nodiscard]] std::vector<std::string> temporaries() const {
    std::vector<std::string> out;
    for (const fs::path& d : {dest(), dest() / "generations"}) {
      if (!fs::is_directory(d)) continue;
      for (fs::directory_iterator it(d), end; it != end; ++it) {
        std::string name = it->path().filename().string();
        if (name.starts_with(".tmp-") || name.starts_with("current.tmp-")) out.push_back(name);
      }
    }
    return out;
  }
  NodeResult<InstallResult> install(const OpenedBundle& b, DestLock* lock = nullptr) {
    return install_by_plan(remote_, lock, dir(), b, options_);
  }
  void expect_generation(const OpenedBundle& b) const {
    EXPECT_TRUE(test::current_is_complete(dest(), b.manifest.generation));
  }

  test::TempDir tmp_;
  LocalRemote remote_{"local", Deadline::after(60s)};
  InstallOptions options_{.owner = std::nullopt, .lock_wait = 1};
};

TEST_F(InstallLocal, FreshDestThenNextGenerationUnderTheLock) {
  auto one = opened(1);
  auto installed = install(one);  // one-shot switch: the script takes the lock itself
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(test::file_mode(dest()), 0700u);
  EXPECT_EQ(test::file_mode(dest() / "generations"), 0700u);
  EXPECT_EQ(test::file_mode(dest() / "generations" / "000001"), 0700u);
  EXPECT_EQ(current(), "generations/000001");
  expect_generation(one);

  auto lock = DestLock::acquire(remote_, dir(), 1, "lock");
  ASSERT_TRUE(lock) << lock.error().message;
  auto two = opened(2);
  installed = install(two, &*lock);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(current(), "generations/000002");
  expect_generation(two);
  EXPECT_TRUE(fs::is_directory(dest() / "generations" / "000001"));
  EXPECT_THAT(temporaries(), IsEmpty());
}

TEST_F(InstallLocal, ReusesAnIdenticalGeneration) {
  auto one = opened(1);
  ASSERT_TRUE(install(one));
  auto two = opened(2);
  fs::path gen = dest() / "generations" / "000002";
  fs::create_directories(gen);
  fs::permissions(gen, fs::perms::owner_all);
  test::write_text(gen / "manifest.json",
                   std::string(two.manifest_bytes.begin(), two.manifest_bytes.end()), 0644);
  for (const auto& f : two.files) {
    test::write_text(gen / f.name, std::string(f.data.begin(), f.data.end()), f.mode);
  }
  auto installed = install(two);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_TRUE(installed->reused);
  EXPECT_EQ(current(), "generations/000002");
  expect_generation(two);
}

// `current` moved between reading the node and switching: the switch script refuses, and the
// generation written meanwhile goes.
TEST_F(InstallLocal, ANodeChangedAfterItWasReadIsRefusedCleanly) {
  auto one = opened(1);
  ASSERT_TRUE(install(one));
  NodeState state = read_state(remote_, dir());
  fs::create_directories(dest() / "generations" / "000005");
  fs::remove(dest() / "current");
  fs::create_symlink("generations/000005", dest() / "current");
  auto two = opened(2);
  const GenerationContent content = GenerationContent::of(two);
  const Plan plan = decide(state, BundleIdentity::of(two.manifest, content), {});
  auto installed = apply_plan(remote_, nullptr, dir(), state, plan, content, options_, "install");
  ASSERT_FALSE(installed);
  EXPECT_THAT(installed.error().message, HasSubstr("changed meanwhile"));
  EXPECT_EQ(current(), "generations/000005");
  EXPECT_FALSE(fs::exists(dest() / "generations" / "000002"));
  EXPECT_THAT(temporaries(), IsEmpty());
}

}  // namespace
}  // namespace kf::keydir
