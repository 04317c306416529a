// Interoperability with the reference implementation, the `age` CLI (Debian package age).
#include <gtest/gtest.h>

#include "bundle/age.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

using Bytes = std::vector<std::uint8_t>;
using test::TempDir;

constexpr std::string_view kPassphrase = "interop passphrase 1";

Bytes pattern(std::size_t size) {
  Bytes out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>((i * 31) ^ (i >> 9));
  return out;
}

Bytes read_bytes(const test::fs::path& path) {
  std::string text = test::read_text(path);
  return Bytes(text.begin(), text.end());
}

void write_bytes(const test::fs::path& path, std::span<const std::uint8_t> data) {
  test::write_text(path, std::string(data.begin(), data.end()));
}

// age reads passphrases only from a terminal. script(1) runs it on a pseudo-terminal and relays
// our stdin to it; the typed lines wait in the terminal's buffer until age reads them, so they can
// be written before its prompt appears. timeout(1) keeps a prompt nobody answers from hanging.
test::RunResult age_on_a_terminal(const std::string& args, const std::string& typed) {
  test::RunOptions options;
  options.input = typed;
  return test::run({"timeout", "120", "script", "-qec", "age " + args, "/dev/null"}, options);
}

std::string quoted(const test::fs::path& path) {
  return "'" + path.string() + "'";
}

TEST(AgeInterop, AgeDecryptsWhatWeEncrypt) {
  TempDir dir;
  for (std::size_t size : {std::size_t{0}, std::size_t{65536}, std::size_t{200 * 1024 + 3}}) {
    Bytes plaintext = pattern(size);
    auto file = age::encrypt_scrypt(plaintext, kPassphrase, 10);
    ASSERT_TRUE(file) << file.error().message;
    write_bytes(dir / "ours.age", *file);
    test::fs::remove(dir / "out");
    auto age = age_on_a_terminal("-d -o " + quoted(dir / "out") + " " + quoted(dir / "ours.age"),
                                 std::string(kPassphrase) + "\n");
    ASSERT_EQ(age.exit_code, 0) << size << " bytes\n" << age.out << age.err;
    EXPECT_EQ(read_bytes(dir / "out"), plaintext) << size;
  }
}

TEST(AgeInterop, AgeRefusesOurFileWithTheWrongPassphrase) {
  TempDir dir;
  auto file = age::encrypt_scrypt(pattern(10), kPassphrase, 10);
  ASSERT_TRUE(file);
  write_bytes(dir / "ours.age", *file);
  auto age = age_on_a_terminal("-d -o " + quoted(dir / "out") + " " + quoted(dir / "ours.age"),
                               "not the passphrase\n");
  EXPECT_NE(age.exit_code, 0) << age.out << age.err;
  EXPECT_NE((age.out + age.err).find("incorrect passphrase"), std::string::npos)
      << age.out << age.err;
}

TEST(AgeInterop, WeDecryptWhatAgeEncrypts) {
  TempDir dir;
  Bytes plaintext = pattern(3 * 65536 + 17);
  write_bytes(dir / "plain", plaintext);
  // age asks twice when encrypting; it uses its default work factor, 18 (256 MiB of scrypt).
  std::string typed = std::string(kPassphrase) + "\n" + std::string(kPassphrase) + "\n";
  auto age =
      age_on_a_terminal("-p -o " + quoted(dir / "theirs.age") + " " + quoted(dir / "plain"), typed);
  ASSERT_EQ(age.exit_code, 0) << age.out << age.err;
  Bytes file = read_bytes(dir / "theirs.age");

  auto info = age::inspect_header(file);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->work_factor, age::kDefaultWorkFactor);
  auto decrypted = age::decrypt_scrypt(file, kPassphrase);
  ASSERT_TRUE(decrypted) << decrypted.error().message;
  EXPECT_TRUE(std::equal(decrypted->begin(), decrypted->end(), plaintext.begin(), plaintext.end()));
}

}  // namespace
}  // namespace kf
