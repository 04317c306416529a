#include <sys/stat.h>

#include <gtest/gtest.h>

#include "ssh/sftp_batch.hpp"

namespace kf {
namespace {

// Builds answer packets (type byte onwards) the way an SFTP v3 server writes them.
class Packet {
 public:
  explicit Packet(std::uint8_t type, std::uint32_t id) {
    bytes_.push_back(static_cast<char>(type));
    u32(id);
  }
  Packet& u32(std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      bytes_.push_back(static_cast<char>((value >> shift) & 0xff));
    }
    return *this;
  }
  Packet& u64(std::uint64_t value) {
    u32(static_cast<std::uint32_t>(value >> 32));
    return u32(static_cast<std::uint32_t>(value));
  }
  Packet& string(std::string_view text) {
    u32(static_cast<std::uint32_t>(text.size()));
    bytes_.append(text);
    return *this;
  }
  // Every attribute OpenSSH sends, and one extended pair.
  Packet& attrs(std::uint32_t permissions, std::uint64_t size, std::uint32_t mtime) {
    u32(SSH_FILEXFER_ATTR_SIZE | SSH_FILEXFER_ATTR_UIDGID | SSH_FILEXFER_ATTR_PERMISSIONS |
        SSH_FILEXFER_ATTR_ACMODTIME | SSH_FILEXFER_ATTR_EXTENDED);
    u64(size).u32(1000).u32(1001).u32(permissions).u32(7).u32(mtime);
    return u32(1).string("name@example.com").string("value");
  }
  [[nodiscard]] const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

TEST(SftpAnswer, StatusCarriesItsCodeWithOrWithoutMessage) {
  auto eof =
      parse_sftp_answer(Packet(SSH_FXP_STATUS, 7).u32(SSH_FX_EOF).string("End").string("").bytes());
  ASSERT_TRUE(eof);
  EXPECT_EQ(eof->first, 7u);
  EXPECT_TRUE(eof->second.at_eof());
  EXPECT_TRUE(eof->second.failed());
  auto ok = parse_sftp_answer(Packet(SSH_FXP_STATUS, 8).u32(SSH_FX_OK).bytes());
  ASSERT_TRUE(ok);
  EXPECT_FALSE(ok->second.failed());
}

TEST(SftpAnswer, HandleAndDataCarryTheirBytes) {
  auto handle = parse_sftp_answer(Packet(SSH_FXP_HANDLE, 1).string("h1").bytes());
  ASSERT_TRUE(handle);
  EXPECT_EQ(handle->second.type, SSH_FXP_HANDLE);
  EXPECT_EQ(handle->second.bytes, "h1");
  const std::string binary("a\0b\xff", 4);
  auto data = parse_sftp_answer(Packet(SSH_FXP_DATA, 2).string(binary).bytes());
  ASSERT_TRUE(data);
  EXPECT_EQ(data->second.bytes, binary);
}

TEST(SftpAnswer, NameListsEveryEntryWithItsLstatAttributes) {
  auto name = parse_sftp_answer(Packet(SSH_FXP_NAME, 3)
                                    .u32(4)
                                    .string(".")
                                    .string("drwx------ ...")
                                    .attrs(S_IFDIR | 0700, 4096, 5)
                                    .string("current")
                                    .string("lrwxrwxrwx ...")
                                    .attrs(S_IFLNK | 0777, 18, 6)
                                    .string("agent.key")
                                    .string("-rw------- ...")
                                    .attrs(S_IFREG | 0600, 241, 1700000000)
                                    .string("fifo")
                                    .string("prw------- ...")
                                    .attrs(S_IFIFO | 0600, 0, 9)
                                    .bytes());
  ASSERT_TRUE(name);
  const auto& entries = name->second.entries;
  ASSERT_EQ(entries.size(), 4u);  // "." too: list_dir leaves it out, readlink's answer may be it
  EXPECT_EQ(entries[0].stat.type, FileType::directory);
  EXPECT_EQ(entries[1].name, "current");
  EXPECT_EQ(entries[1].stat.type, FileType::symlink);
  EXPECT_EQ(entries[2].stat.type, FileType::regular);
  EXPECT_EQ(entries[2].stat.mode, 0600u);
  EXPECT_EQ(entries[2].stat.size, 241u);
  EXPECT_EQ(entries[2].stat.uid, 1000u);
  EXPECT_EQ(entries[2].stat.gid, 1001u);
  EXPECT_EQ(entries[2].stat.mtime, 1700000000u);
  EXPECT_EQ(entries[3].stat.type, FileType::other);
}

TEST(SftpAnswer, AttrsWithoutPermissionsIsOfNoKnownType) {
  auto attrs =
      parse_sftp_answer(Packet(SSH_FXP_ATTRS, 4).u32(SSH_FILEXFER_ATTR_SIZE).u64(12).bytes());
  ASSERT_TRUE(attrs);
  EXPECT_EQ(attrs->second.attrs.size, 12u);
  EXPECT_EQ(attrs->second.attrs.type, FileType::other);
}

TEST(SftpAnswer, MalformedAnswersAreNone) {
  const std::string handle = Packet(SSH_FXP_HANDLE, 1).string("h1").bytes();
  // Cut anywhere: nothing.
  for (std::size_t n = 0; n < handle.size(); ++n) {
    EXPECT_FALSE(parse_sftp_answer(std::string_view(handle).substr(0, n))) << n;
  }
  EXPECT_FALSE(parse_sftp_answer(handle + "x"));  // bytes after the answer
  EXPECT_FALSE(parse_sftp_answer(Packet(SSH_FXP_HANDLE, 1).u32(1000).bytes()));  // too long
  EXPECT_FALSE(parse_sftp_answer(Packet(SSH_FXP_NAME, 1)
                                     .u32(2)
                                     .string("a")
                                     .string("b")
                                     .attrs(S_IFREG | 0600, 1, 1)
                                     .bytes()));                                 // one entry short
  EXPECT_FALSE(parse_sftp_answer(Packet(SSH_FXP_OPEN, 1).string("x").bytes()));  // a request
}

}  // namespace
}  // namespace kf
