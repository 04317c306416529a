// push --dry-run's free-space check (push_node with dry_run) against an in-memory node whose
// staging and DEST sit on filesystems of their own: too little room in either is said, at that
// step, before anything is written.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fleet/push.hpp"
#include "support/bundle_fixtures.hpp"
#include "support/fake_remote.hpp"

namespace kf {
namespace {

using test::FakeRemote;
using ::testing::HasSubstr;

bundle::OpenedBundle opened(std::uint64_t generation) {
  std::string tar = test::craft_tar(test::valid_entries(test::keyset_files(false), generation));
  auto result = bundle::validate_tar(as_bytes(tar));
  if (!result) throw std::runtime_error(result.error().message);
  return std::move(*result);
}

// What an install of `b` writes, as push counts it.
std::uint64_t installed_size(const bundle::OpenedBundle& b) {
  std::uint64_t total = b.manifest_bytes.size();
  for (const auto& file : b.files) total += file.data.size();
  return total;
}

class PushRoom : public ::testing::Test {
 protected:
  void SetUp() override {
    opened_.sha256 = sha256_hex(bytes_);
    opened_.size = bytes_.size();
    node_.name = "fake";
    node_.dest = "/keys";
    node_.staging = "/stage";
    // Generation 1 installed, so that generation 2 would be installed.
    const bundle::OpenedBundle one = opened(1);
    r_.add_dir("/keys", 0700);
    r_.add_dir("/keys/generations", 0700);
    r_.add_dir("/keys/generations/000001", 0700);
    r_.add_file("/keys/generations/000001/manifest.json",
                std::string(one.manifest_bytes.begin(), one.manifest_bytes.end()), 0644);
    for (const auto& f : one.files) {
      r_.add_file("/keys/generations/000001/" + f.name, std::string(f.data.begin(), f.data.end()),
                  f.mode);
    }
    ASSERT_TRUE(r_.symlink("generations/000001", "/keys/current"));
    r_.add_dir("/stage", 0700);
    // `test -d DIR && test -w DIR`: both there and writable.
    r_.on_exec = [](std::string_view, std::span<const std::uint8_t>) -> NodeResult<ExecResult> {
      return ExecResult{0, "", ""};
    };
    // Each filesystem answers for itself: DEST's for paths under /keys, staging's for the rest.
    r_.on_call = [this](std::string_view op, const std::string& path) {
      if (op == "space") r_.space_info = path.starts_with("/keys") ? at_dest_ : at_staging_;
    };
  }

  NodeOutcome dry_run() {
    PushOptions options;
    options.dry_run = true;
    r_.log.clear();
    return push_node(r_, node_, {bytes_, &opened_}, options);
  }

  // The dry run wrote nothing on the node.
  void expect_nothing_written() const {
    for (const auto& line : r_.log) {
      for (const char* op : {"mkdir ", "upload ", "rename ", "replace ", "unlink ", "rmdir ",
                             "symlink ", "chmod ", "chown ", "lock "}) {
        EXPECT_FALSE(line.starts_with(op)) << line;
      }
    }
  }

  std::vector<std::uint8_t> bytes_ = std::vector<std::uint8_t>(4096, 'a');  // the bundle file
  bundle::OpenedBundle opened_ = opened(2);
  NodeConfig node_;
  FakeRemote r_;
  SpaceInfo at_staging_{1ULL << 30, 1ULL << 31, false};
  SpaceInfo at_dest_{1ULL << 29, 1ULL << 30, false};
};

TEST_F(PushRoom, EnoughRoomInBothWouldInstall) {
  auto out = dry_run();
  EXPECT_EQ(out.status, NodeStatus::would_install) << out.error;
  EXPECT_THAT(r_.log, ::testing::Contains("space /stage"));
  EXPECT_THAT(r_.log, ::testing::Contains("space /keys"));
  expect_nothing_written();
}

TEST_F(PushRoom, StagingWithTooLittleRoomFailsAtStaging) {
  at_staging_.available = bytes_.size() - 1;
  auto out = dry_run();
  EXPECT_EQ(out.status, NodeStatus::failed) << out.error;
  EXPECT_EQ(out.step, "staging");
  EXPECT_THAT(out.error, HasSubstr(fmt::format("/stage has {} bytes free, the push needs {}",
                                               bytes_.size() - 1, bytes_.size())));
  EXPECT_EQ(out.generation, std::optional<std::uint64_t>(1));
  expect_nothing_written();
}

TEST_F(PushRoom, ReadOnlyStagingFailsAtStaging) {
  at_staging_.read_only = true;
  auto out = dry_run();
  EXPECT_EQ(out.status, NodeStatus::failed) << out.error;
  EXPECT_EQ(out.step, "staging");
  EXPECT_THAT(out.error, HasSubstr("/stage has"));
  EXPECT_THAT(out.error, HasSubstr("and is read-only"));
  expect_nothing_written();
}

TEST_F(PushRoom, DestWithTooLittleRoomFailsAtInstall) {
  const std::uint64_t installed = installed_size(opened_);
  at_dest_.available = installed - 1;
  auto out = dry_run();
  EXPECT_EQ(out.status, NodeStatus::failed) << out.error;
  EXPECT_EQ(out.step, "install");
  EXPECT_THAT(out.error, HasSubstr(fmt::format("/keys has {} bytes free, the push needs {}",
                                               installed - 1, installed)));
  expect_nothing_written();
}

// Staging and DEST on one filesystem: the copy and the install both need room there.
TEST_F(PushRoom, OneFilesystemForBothNeedsRoomForBoth) {
  const std::uint64_t both = bytes_.size() + installed_size(opened_);
  at_staging_ = SpaceInfo{both - 1, 1ULL << 30, false};
  at_dest_ = at_staging_;
  auto out = dry_run();
  EXPECT_EQ(out.status, NodeStatus::failed) << out.error;
  EXPECT_EQ(out.step, "staging");
  EXPECT_THAT(out.error, HasSubstr(fmt::format("the push needs {}", both)));

  at_staging_.available = both;
  at_dest_ = at_staging_;
  out = dry_run();
  EXPECT_EQ(out.status, NodeStatus::would_install) << out.error;
}

}  // namespace
}  // namespace kf
