#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "core/secret.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

TEST(Secret, CleanseZeroesTheBytesAndToleratesNothing) {
  char buf[] = "hunter2 hunter2";
  cleanse(buf, sizeof buf);
  for (char c : buf) EXPECT_EQ(c, 0);
  cleanse(nullptr, 10);
  cleanse(buf, 0);
}

TEST(Secret, SecretStringWipesItsWholeBufferAndKeepsItsCapacity) {
  SecretString s("a passphrase longer than the small-string buffer");
  const char* data = s.data();
  std::size_t capacity = s.capacity();
  EXPECT_EQ(s.view(), "a passphrase longer than the small-string buffer");
  s.wipe();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.data(), data) << "wipe() must not free the buffer before it is cleansed";
  // Reading our own live buffer: every byte up to the capacity is zero.
  for (std::size_t i = 0; i < capacity; ++i) EXPECT_EQ(data[i], 0) << "byte " << i;
}

TEST(Secret, SecretStringWipesTheSmallStringBufferToo) {
  SecretString s("short");
  const char* data = s.data();
  s.wipe();
  EXPECT_EQ(std::memcmp(data, "\0\0\0\0\0", 5), 0);
}

// The allocator is what cleanses the buffers a growing container leaves behind (what it frees
// cannot be read back without undefined behaviour): both secret types must use it, and growing
// must keep the contents.
TEST(Secret, SecretTypesUseTheCleansingAllocatorAndGrowIntact) {
  static_assert(std::is_same_v<SecretBytes::allocator_type, CleansingAllocator<std::uint8_t>>);
  static_assert(std::is_same_v<SecretString::Base::allocator_type, CleansingAllocator<char>>);
  SecretBytes bytes;
  SecretString text;
  for (int i = 0; i < 5000; ++i) {
    bytes.push_back(static_cast<std::uint8_t>(i));
    text.push_back(static_cast<char>('a' + i % 26));
  }
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(bytes[i], static_cast<std::uint8_t>(i));
    ASSERT_EQ(text[i], static_cast<char>('a' + i % 26));
  }
}

TEST(Secret, AsBytesViewsTheSameMemory) {
  std::string_view text = "abc";
  auto bytes = as_bytes(text);
  ASSERT_EQ(bytes.size(), 3u);
  EXPECT_EQ(static_cast<const void*>(bytes.data()), static_cast<const void*>(text.data()));
  EXPECT_EQ(bytes[2], 'c');
}

// In a child, so that this test process keeps its own settings.
TEST(Secret, DisableCoreDumpsTurnsOffCoresAndDumpability) {
  int status = test::wait_status_of_child([] {
    disable_core_dumps();
    rlimit limit{};
    ::getrlimit(RLIMIT_CORE, &limit);
    bool ok = limit.rlim_cur == 0 && limit.rlim_max == 0 && ::prctl(PR_GET_DUMPABLE) == 0;
    ::_exit(ok ? 0 : 1);
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "RLIMIT_CORE or PR_SET_DUMPABLE was left on";
}

}  // namespace
}  // namespace kf
