// HostKeyNotes: what known_hosts lookups note, said once per known_hosts line however many nodes'
// lookups come across it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ssh/known_hosts.hpp"
#include "ssh/ssh_session.hpp"

namespace kf {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

known_hosts::HostKey some_key() {
  known_hosts::HostKey key;
  key.type = "ssh-ed25519";
  key.blob = {1, 2, 3};
  return key;
}

TEST(HostKeyNotes, EachLineOfEachFileIsNotedOnce) {
  HostKeyNotes notes;
  notes.add("/kh", {"/kh:3: a line for node1 was skipped: its key type or key cannot be read",
                    "/kh:7: line skipped: '@revoke' is not a marker"});
  // The next node's lookup: the same lines, one in words that name that node.
  notes.add("/kh", {"/kh:3: a line for node2 was skipped: its key type or key cannot be read",
                    "/kh:7: line skipped: '@revoke' is not a marker"});
  notes.add("/other", {"/other:3: line skipped: '@revoke' is not a marker"});
  EXPECT_THAT(notes.take(),
              ElementsAre(HasSubstr("/kh:3: a line for node1"), HasSubstr("/kh:7: line skipped"),
                          HasSubstr("/other:3: line skipped")));
  EXPECT_THAT(notes.take(), IsEmpty());
  // Taken once is said: a later pass over the fleet does not repeat it.
  notes.add("/kh", {"/kh:7: line skipped: '@revoke' is not a marker"});
  EXPECT_THAT(notes.take(), IsEmpty());
  // Line 30 is not line 3.
  notes.add("/kh", {"/kh:30: line skipped: '@revoke' is not a marker"});
  EXPECT_THAT(notes.take(), ElementsAre(HasSubstr("/kh:30: ")));
}

TEST(HostKeyNotes, NotesOfRealLookupsOfTwoHostsCollapse) {
  const std::string text =
      "@revoke node1 ssh-ed25519 "
      "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
      "@cert-authority * ssh-ed25519 "
      "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
  HostKeyNotes notes;
  for (const char* host : {"node1", "node2", "node3"}) {
    notes.add("/etc/kf/known_hosts",
              known_hosts::check(text, "/etc/kf/known_hosts", host, 22, some_key()).notes);
  }
  EXPECT_THAT(notes.take(), ElementsAre(HasSubstr("/etc/kf/known_hosts:1: "),
                                        HasSubstr("/etc/kf/known_hosts:2: ")));
}

// A file's name is escaped in its notes (known_hosts.cpp); the same name is recognised.
TEST(HostKeyNotes, AFileNameWithControlCharactersIsRecognised) {
  const std::string file = "/tmp/k\x1bh";
  const std::string text = "@revoke node1 ssh-ed25519 AAAA\n";
  HostKeyNotes notes;
  notes.add(file, known_hosts::check(text, file, "node1", 22, some_key()).notes);
  notes.add(file, known_hosts::check(text, file, "node2", 22, some_key()).notes);
  auto taken = notes.take();
  ASSERT_THAT(taken, ElementsAre(HasSubstr("/tmp/k\\x1bh:1: ")));
  EXPECT_EQ(taken[0].find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace kf
