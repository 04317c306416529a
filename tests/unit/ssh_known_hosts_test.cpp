// keyfleet's known_hosts reader, rule by rule, with the host matching cross-checked against
// OpenSSH's own `ssh-keygen -F` (and hashed names made by `ssh-keygen -H`). The real ssh client
// against a real sshd is in tests/integration/known_hosts_interop_test.cpp.
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>

#include <libssh/libssh.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/handle.hpp"
#include "ssh/known_hosts.hpp"
#include "ssh/ssh_key_blob.hpp"
#include "support/test_support.hpp"

namespace kf::known_hosts {
namespace {

namespace fs = boost::filesystem;
using test::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// A key made by ssh-keygen: "TYPE BASE64" as a .pub file holds it, and as keyfleet reads it.
struct TestKey {
  std::string text;
  HostKey key;
};

class KnownHostsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    for (const auto& [name, args] :
         std::map<std::string, std::vector<std::string>>{{"ed1", {"-t", "ed25519"}},
                                                         {"ed2", {"-t", "ed25519"}},
                                                         {"ecdsa", {"-t", "ecdsa", "-b", "256"}},
                                                         {"rsa", {"-t", "rsa", "-b", "1024"}}}) {
      fs::path path = dir_->path() / name;
      std::vector<std::string> argv{"ssh-keygen", "-q", "-N", "", "-C", "", "-f", path.string()};
      argv.insert(argv.end(), args.begin(), args.end());
      auto made = test::run(argv);
      ASSERT_EQ(made.exit_code, 0) << made.err;
      std::string pub = test::read_text(path.string() + ".pub");
      std::string type = pub.substr(0, pub.find(' '));
      std::string base64 = pub.substr(type.size() + 1);
      base64 = base64.substr(0, base64.find_first_of(" \n"));
      auto key = parse_host_key(type, base64);
      ASSERT_TRUE(key) << key.error().message;
      keys_[name] = {type + " " + base64, *key};
    }
  }
  // "TYPE-cert-v01@openssh.com BASE64": a host certificate for `name`'s key, signed by ed2.
  static std::string certificate_text(const std::string& name) {
    fs::path pub = dir_->path() / (name + ".pub");
    auto signed_ = test::run({"ssh-keygen", "-q", "-s", (dir_->path() / "ed2").string(), "-I",
                              "node1", "-h", "-n", "node1", pub.string()});
    EXPECT_EQ(signed_.exit_code, 0) << signed_.err;
    std::string cert = test::read_text(dir_->path() / (name + "-cert.pub"));
    return cert.substr(0, cert.find(' ', cert.find(' ') + 1));
  }
  static void TearDownTestSuite() {
    keys_.clear();
    dir_.reset();
  }

  static const TestKey& key(const std::string& name) { return keys_.at(name); }
  static Lookup lookup(const std::string& text, const std::string& host, int port = 22,
                       const std::string& presented = "ed1") {
    return check(text, "kh", host, port, key(presented).key);
  }
  static fs::path write(const std::string& name, const std::string& text) {
    fs::path path = dir_->path() / name;
    test::write_text(path, text, 0644);
    return path;
  }

  static std::unique_ptr<TempDir> dir_;
  static std::map<std::string, TestKey> keys_;
};

std::unique_ptr<TempDir> KnownHostsTest::dir_;
std::map<std::string, TestKey> KnownHostsTest::keys_;

TEST_F(KnownHostsTest, TheLineWithThisKeyIsOk) {
  std::string text = "# fleet\n\nnode1 " + key("ed1").text + " comment words\n";
  Lookup found = lookup(text, "node1");
  EXPECT_EQ(found.verdict, Verdict::ok);
  EXPECT_EQ(found.line, 3u);
  EXPECT_EQ(found.line_key_type, "ssh-ed25519");
  EXPECT_THAT(found.notes, IsEmpty());
}

TEST_F(KnownHostsTest, AnotherKeyOfTheSameTypeIsChanged) {
  std::string text = "node1 " + key("rsa").text + "\nnode1 " + key("ed2").text + "\n";
  Lookup found = lookup(text, "node1");
  EXPECT_EQ(found.verdict, Verdict::changed);
  EXPECT_EQ(found.line, 2u);
  // A line with the key itself anywhere for the host makes it ok, whatever else is listed.
  EXPECT_EQ(lookup(text + "node1 " + key("ed1").text + "\n", "node1").verdict, Verdict::ok);
}

TEST_F(KnownHostsTest, KeysOfOtherTypesOnlyAreOtherType) {
  std::string text = "other " + key("ed2").text + "\nnode1 " + key("ecdsa").text + "\nnode1 " +
                     key("rsa").text + "\n";
  Lookup found = lookup(text, "node1");
  EXPECT_EQ(found.verdict, Verdict::other_type);
  EXPECT_EQ(found.line, 2u);
  EXPECT_EQ(found.line_key_type, "ecdsa-sha2-nistp256");
}

TEST_F(KnownHostsTest, NoLineForTheHostIsUnknown) {
  Lookup found = lookup("node2 " + key("ed1").text + "\n", "node1");
  EXPECT_EQ(found.verdict, Verdict::unknown);
  EXPECT_EQ(found.line, 0u);
  EXPECT_EQ(lookup("", "node1").verdict, Verdict::unknown);
  EXPECT_EQ(lookup("\n\n# only comments\n   \n", "node1").verdict, Verdict::unknown);
}

TEST_F(KnownHostsTest, PortsAsOpenSshNamesThem) {
  EXPECT_EQ(lookup_name("Node1.Example.com", 22), "node1.example.com");
  EXPECT_EQ(lookup_name("10.0.0.1", 2222), "[10.0.0.1]:2222");
  EXPECT_EQ(lookup_name("::1", 2200), "[::1]:2200");

  std::string plain = "node1 " + key("ed1").text + "\n";
  std::string bracketed = "[node1]:2222 " + key("ed1").text + "\n";
  EXPECT_EQ(lookup(plain, "node1", 22).verdict, Verdict::ok);
  EXPECT_EQ(lookup(plain, "node1", 2222).verdict, Verdict::unknown);  // never a fallback
  EXPECT_EQ(lookup(bracketed, "node1", 2222).verdict, Verdict::ok);
  EXPECT_EQ(lookup(bracketed, "node1", 2223).verdict, Verdict::unknown);
  EXPECT_EQ(lookup("[node1]:22 " + key("ed1").text + "\n", "node1", 22).verdict, Verdict::unknown);
  EXPECT_EQ(lookup("[10.0.0.*]:2222 " + key("ed1").text + "\n", "10.0.0.7", 2222).verdict,
            Verdict::ok);
}

TEST_F(KnownHostsTest, PatternsWildcardsNegationAndCase) {
  const std::string& k = key("ed1").text;
  EXPECT_EQ(lookup("a,node1,b " + k, "node1").verdict, Verdict::ok);
  EXPECT_EQ(lookup("*.example.com " + k, "node1.example.com").verdict, Verdict::ok);
  EXPECT_EQ(lookup("*.example.com " + k, "example.com").verdict, Verdict::unknown);
  EXPECT_EQ(lookup("node? " + k, "node1").verdict, Verdict::ok);
  EXPECT_EQ(lookup("node? " + k, "node10").verdict, Verdict::unknown);
  EXPECT_EQ(lookup("n*e*1 " + k, "node1").verdict, Verdict::ok);
  EXPECT_EQ(lookup("* " + k, "anything").verdict, Verdict::ok);
  // A negated match wins over any positive one, in any order; a negation alone matches nothing.
  EXPECT_EQ(lookup("*.example.com,!bad.example.com " + k, "bad.example.com").verdict,
            Verdict::unknown);
  EXPECT_EQ(lookup("!bad.example.com,*.example.com " + k, "bad.example.com").verdict,
            Verdict::unknown);
  EXPECT_EQ(lookup("*.example.com,!bad.example.com " + k, "good.example.com").verdict, Verdict::ok);
  EXPECT_EQ(lookup("!bad " + k, "good").verdict, Verdict::unknown);
  // Host names are compared without case.
  EXPECT_EQ(lookup("NODE1.Example.COM " + k, "node1.example.com").verdict, Verdict::ok);
  EXPECT_EQ(lookup("node1.example.com " + k, "Node1.EXAMPLE.com").verdict, Verdict::ok);
}

TEST_F(KnownHostsTest, HostMatchingAgreesWithSshKeygenF) {
  struct Case {
    std::string patterns;
    std::string host;
    int port;
  };
  const std::vector<Case> cases = {
      {"node1", "node1", 22},
      {"node1", "node2", 22},
      {"node1,node2", "node2", 22},
      {"*.example.com", "a.example.com", 22},
      {"*.example.com", "example.com", 22},
      {"node?", "node1", 22},
      {"node?", "node12", 22},
      {"*.example.com,!bad.example.com", "bad.example.com", 22},
      {"!bad.example.com,*.example.com", "good.example.com", 22},
      {"!bad.example.com", "good.example.com", 22},
      {"NODE1", "node1", 22},
      {"[node1]:2222", "node1", 2222},
      {"node1", "node1", 2222},
      {"[node1]:2222", "node1", 22},
      {"[10.0.0.*]:2222", "10.0.0.9", 2222},
      {"[*]:*", "node1", 2200},
      {"*", "node1", 2200},
      {"node1," + std::string(1022, '*'), "node1", 22},
      {"node1," + std::string(1023, '*'), "node1", 22},  // too long: the whole list fails
  };
  for (const auto& c : cases) {
    fs::path file = write("match", c.patterns + " " + key("ed1").text + "\n");
    std::string name = lookup_name(c.host, c.port);
    auto keygen = test::run({"ssh-keygen", "-F", name, "-f", file.string()});
    ASSERT_TRUE(keygen.exit_code == 0 || keygen.exit_code == 1) << keygen.err;
    bool openssh_found = keygen.exit_code == 0 && !keygen.out.empty();
    bool ours = lookup(test::read_text(file), c.host, c.port).verdict == Verdict::ok;
    EXPECT_EQ(ours, openssh_found) << "'" << c.patterns << "' for " << name;
  }
}

TEST_F(KnownHostsTest, HashedNamesAsSshKeygenWritesThem) {
  fs::path file = write("hashed", "node1.example.com " + key("ed1").text + "\n[10.1.2.3]:2222 " +
                                      key("ed2").text + "\n");
  auto hashed = test::run({"ssh-keygen", "-H", "-f", file.string()});
  ASSERT_EQ(hashed.exit_code, 0) << hashed.err;
  std::string text = test::read_text(file);
  ASSERT_EQ(text.find("example"), std::string::npos) << text;
  ASSERT_EQ(text.rfind("|1|", 0), 0u) << text;

  EXPECT_EQ(lookup(text, "node1.example.com").verdict, Verdict::ok);
  EXPECT_EQ(lookup(text, "NODE1.example.com").verdict, Verdict::ok);  // hashed lowercase
  EXPECT_EQ(lookup(text, "node2.example.com").verdict, Verdict::unknown);
  Lookup on_port = lookup(text, "10.1.2.3", 2222, "ed2");
  EXPECT_EQ(on_port.verdict, Verdict::ok);
  EXPECT_EQ(on_port.line, 2u);
  EXPECT_EQ(lookup(text, "10.1.2.3", 22, "ed2").verdict, Verdict::unknown);
  EXPECT_EQ(lookup(text, "10.1.2.3", 2222, "ed1").verdict, Verdict::changed);
  // ssh-keygen -F finds the same lines.
  EXPECT_EQ(test::run({"ssh-keygen", "-F", "[10.1.2.3]:2222", "-f", file.string()}).exit_code, 0);

  // A hash that cannot be read (salt of another length, bad base64) is a line skipped.
  std::string first = text.substr(0, text.find('\n'));
  std::string field = first.substr(0, first.find(' '));  // |1|salt|hash
  std::string rest = first.substr(field.size());
  std::string salt = field.substr(3, field.rfind('|') - 3);
  std::string hash = field.substr(field.rfind('|') + 1);
  ASSERT_EQ(lookup("|1|" + salt + "|" + hash + rest, "node1.example.com").verdict, Verdict::ok);
  std::string other_hash = hash;
  other_hash[0] = other_hash[0] == 'A' ? 'B' : 'A';
  for (std::string bad :
       {"|1|AAAA|" + hash, "|1|!!!!" + salt.substr(4) + "|" + hash, "|2|" + salt + "|" + hash,
        "|1|" + salt + "|" + other_hash, "|1|" + salt + "|" + hash + "=", "|1|" + salt + hash}) {
    EXPECT_EQ(lookup(bad + rest + "\n", "node1.example.com").verdict, Verdict::unknown) << bad;
  }
}

TEST_F(KnownHostsTest, RevokedKeyIsRevokedWhateverElseTheFileSays) {
  const std::string& k = key("ed1").text;
  std::string text = "node1 " + k + "\n@revoked node1 " + k + "\n";
  Lookup found = lookup(text, "node1");
  EXPECT_EQ(found.verdict, Verdict::revoked);
  EXPECT_EQ(found.line, 2u);
  // Checked first, and for every host: a key revoked anywhere is never accepted.
  EXPECT_EQ(lookup("@revoked * " + k + "\nnode1 " + k + "\n", "node1").verdict, Verdict::revoked);
  EXPECT_EQ(lookup("@revoked other " + k + "\nnode1 " + k + "\n", "node1").verdict,
            Verdict::revoked);
  // OpenSSH skips a marker followed by a tab (ssh-keygen -F finds no line); keyfleet does not.
  EXPECT_EQ(lookup("@revoked\tnode1 " + k + "\n", "node1").verdict, Verdict::revoked);
  EXPECT_EQ(lookup("  @revoked  node1  " + k + "  # compromised\n", "node1").verdict,
            Verdict::revoked);
  // Another key revoked changes nothing for this one.
  EXPECT_EQ(lookup("@revoked * " + key("ed2").text + "\nnode1 " + k + "\n", "node1").verdict,
            Verdict::ok);
  // Revoked, even with no plain line for the host at all.
  EXPECT_EQ(lookup("@revoked * " + k + "\n", "node1").verdict, Verdict::revoked);
}

TEST_F(KnownHostsTest, ARevokedCertificateRevokesTheKeyItCertifies) {
  std::string cert = certificate_text("ed1");
  ASSERT_EQ(cert.rfind("ssh-ed25519-cert-v01@openssh.com ", 0), 0u) << cert;
  std::string plain = "node1 " + key("ed1").text + "\n";
  EXPECT_EQ(lookup("@revoked * " + cert + "\n" + plain, "node1").verdict, Verdict::revoked);
  // The certificate's signer is not revoked by it.
  EXPECT_EQ(lookup("@revoked * " + cert + "\n" + plain, "node1", 22, "ed2").verdict,
            Verdict::changed);
  // On a plain line, a certificate is not a key keyfleet can match: the line is not used.
  Lookup found = lookup("node1 " + cert + "\n", "node1");
  EXPECT_EQ(found.verdict, Verdict::unknown);
  EXPECT_THAT(found.notes, ElementsAre(HasSubstr("kh:1: a line for node1 lists a certificate")));
}

TEST_F(KnownHostsTest, CertAuthorityLinesAreNotUsedAndSaySoOnce) {
  const std::string& k = key("ed1").text;
  std::string text =
      "@cert-authority *.example.com " + k + "\n@cert-authority node1.example.com " + k + "\n";
  Lookup found = check(text, "/etc/kf/known_hosts", "node1.example.com", 22, key("ed1").key);
  EXPECT_EQ(found.verdict, Verdict::unknown);
  ASSERT_THAT(found.notes, SizeIs(1));
  EXPECT_THAT(found.notes[0], HasSubstr("/etc/kf/known_hosts:1: "));
  EXPECT_THAT(found.notes[0], HasSubstr("does not check host certificates"));
  // For another host, no note: the line is not about it.
  EXPECT_THAT(lookup(text, "elsewhere.org").notes, IsEmpty());
  // Beside a plain line with the key, it is ok, and the note is still given.
  Lookup ok = lookup(text + "node1.example.com " + k + "\n", "node1.example.com");
  EXPECT_EQ(ok.verdict, Verdict::ok);
  EXPECT_EQ(ok.line, 3u);
  EXPECT_THAT(ok.notes, SizeIs(1));
}

TEST_F(KnownHostsTest, UnknownMarkersAndMalformedLinesAreSkipped) {
  const std::string& k = key("ed1").text;
  // "@revoke" is not a marker: the line is skipped, with a note since it was surely meant.
  Lookup typo = lookup("@revoke node1 " + k + "\nnode1 " + k + "\n", "node1");
  EXPECT_EQ(typo.verdict, Verdict::ok);
  ASSERT_THAT(typo.notes, SizeIs(1));
  EXPECT_THAT(typo.notes[0], HasSubstr("kh:1: "));
  EXPECT_THAT(typo.notes[0], HasSubstr("'@revoke' is not a marker"));
  // Two markers on one line: skipped.
  Lookup twice = lookup("@revoked @revoked node1 " + k + "\n", "node1");
  EXPECT_EQ(twice.verdict, Verdict::unknown);
  EXPECT_THAT(twice.notes, ElementsAre(HasSubstr("kh:1: line skipped: a line has one marker")));

  std::string blob = k.substr(k.find(' ') + 1);
  const std::vector<std::string> unreadable = {
      "node1 ssh-ed25519",                            // no key
      "node1 ssh-ed25519 # gone",                     // no key, a comment
      "node1",                                        // nothing after the host
      "node1 ssh-foo " + blob,                        // unknown type
      "node1 ssh-rsa " + blob,                        // the blob says ssh-ed25519
      "node1 ssh-ed25519 " + blob.substr(0, 20),      // truncated base64
      "node1 ssh-ed25519 " + blob.substr(4),          // base64 of something else
      "node1 ssh-ed25519 " + blob + "AAAA",           // trailing bytes in the blob
      "node1 from=\"10.0.0.1\" ssh-ed25519 " + blob,  // options, as in authorized_keys
      "node1 1024 35 12345678901234567890",           // SSH-1 RSA
  };
  for (const auto& line : unreadable) {
    Lookup found = lookup(line + "\n", "node1");
    EXPECT_EQ(found.verdict, Verdict::unknown) << line;
    ASSERT_THAT(found.notes, SizeIs(1)) << line;
    EXPECT_THAT(found.notes[0], HasSubstr("kh:1: a line for node1 was skipped")) << line;
    // OpenSSH agrees that no usable line names the host... and reads the good line after it.
    EXPECT_EQ(lookup(line + "\nnode1 " + k + "\n", "node1").verdict, Verdict::ok) << line;
  }
  // Lines for other hosts are not read at all, so they say nothing.
  EXPECT_THAT(lookup("node2 ssh-foo AAAA\n", "node1").notes, IsEmpty());
}

TEST_F(KnownHostsTest, CommentsBlanksAndLineEndings) {
  const std::string& k = key("ed1").text;
  std::string text = "   # indented comment\n\t\n#node1 " + k + "\r\nnode1\t" + k + "\r\n";
  Lookup found = lookup(text, "node1");
  EXPECT_EQ(found.verdict, Verdict::ok);
  EXPECT_EQ(found.line, 4u);
  EXPECT_EQ(lookup("node1 " + k, "node1").verdict, Verdict::ok);  // no final newline
}

TEST_F(KnownHostsTest, NotesEscapeWhatTheFileHolds) {
  Lookup found = lookup("@re\x1b[2Jvoked node1 " + key("ed1").text + "\n", "node1");
  ASSERT_THAT(found.notes, SizeIs(1));
  EXPECT_THAT(found.notes[0], HasSubstr("'@re\\x1b[2Jvoked'"));
  EXPECT_EQ(found.notes[0].find('\x1b'), std::string::npos);
}

TEST_F(KnownHostsTest, PresentedKeyTypesAsLibsshAndKexNameThem) {
  std::string rsa_base64 = key("rsa").text.substr(key("rsa").text.find(' ') + 1);
  for (std::string type : {"ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"}) {
    auto parsed = parse_host_key(type, rsa_base64);
    ASSERT_TRUE(parsed) << type << ": " << parsed.error().message;
    EXPECT_EQ(parsed->type, "ssh-rsa");
    EXPECT_EQ(parsed->blob, key("rsa").key.blob);
  }
  EXPECT_EQ(lookup("node1 " + key("rsa").text + "\n", "node1", 22, "rsa").verdict, Verdict::ok);
  EXPECT_EQ(key("ecdsa").key.type, "ecdsa-sha2-nistp256");

  auto expect_refused = [](Result<HostKey> parsed, std::string_view why) {
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, ExitCode::integrity);
    EXPECT_THAT(parsed.error().message, HasSubstr(why));
  };
  std::string ed_base64 = key("ed1").text.substr(key("ed1").text.find(' ') + 1);
  expect_refused(parse_host_key("ssh-rsa", ed_base64), "not a well-formed ssh-rsa key");
  expect_refused(parse_host_key("ssh-ed25519", "not base64!"), "not valid base64");
  expect_refused(parse_host_key("ssh-ed25519-cert-v01@openssh.com", ed_base64), "host certificate");
  expect_refused(parse_host_key("ssh-ed25519", ed_base64.substr(0, 40)), "not a well-formed");
}

// The recipe for SshSession::check_host_key: libssh's type name and base64 export, for every key
// type a node may present.
TEST_F(KnownHostsTest, KeysAsLibsshExportsThem) {
  for (const std::string name : {"ed1", "ecdsa", "rsa"}) {
    ::ssh_key raw = nullptr;  // kf::ssh_key is our namespace
    fs::path pub = dir_->path() / (name + ".pub");
    ASSERT_EQ(ssh_pki_import_pubkey_file(pub.c_str(), &raw), SSH_OK) << name;
    Handle<ssh_key_struct, ssh_key_free> libssh_key(raw);
    char* base64 = nullptr;
    ASSERT_EQ(ssh_pki_export_pubkey_base64(libssh_key.get(), &base64), SSH_OK) << name;
    std::string text(base64);
    ssh_string_free_char(base64);
    auto parsed = parse_host_key(ssh_key_type_to_char(ssh_key_type(libssh_key.get())), text);
    ASSERT_TRUE(parsed) << name << ": " << parsed.error().message;
    EXPECT_EQ(parsed->type, key(name).key.type);
    EXPECT_EQ(parsed->blob, key(name).key.blob);
  }
}

TEST(SshKeyBase64, RoundTripsAndIsStrict) {
  for (std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    std::vector<std::uint8_t> bytes(text.begin(), text.end());
    std::string encoded = ssh_key::encode_base64(bytes);
    EXPECT_EQ(ssh_key::decode_base64(encoded), bytes) << encoded;
  }
  EXPECT_EQ(ssh_key::encode_base64(std::vector<std::uint8_t>{'f', 'o', 'o', 'b'}), "Zm9vYg==");
  EXPECT_FALSE(ssh_key::decode_base64("Zm9vYg"));    // padding missing
  EXPECT_FALSE(ssh_key::decode_base64("Zm9vYh=="));  // stray bits
  EXPECT_FALSE(ssh_key::decode_base64("Zm=vYg=="));  // padding inside
  EXPECT_FALSE(ssh_key::decode_base64("Zm9v Yg="));  // not the alphabet
  EXPECT_FALSE(ssh_key::decode_base64("Z==="));
}

TEST_F(KnownHostsTest, ReadsRegularFilesOnlyAndWithinBounds) {
  fs::path good = write("good", "node1 " + key("ed1").text + "\n");
  auto found = check_file(good, "node1", 22, key("ed1").key);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->verdict, Verdict::ok);

  // A symbolic link is followed, as ssh follows it.
  fs::path link = dir_->path() / "link";
  fs::remove(link);
  fs::create_symlink(good, link);
  ASSERT_TRUE(check_file(link, "node1", 22, key("ed1").key));

  auto expect_refused = [](const fs::path& path, std::string_view why) {
    auto read = read_file(path);
    ASSERT_FALSE(read) << path;
    EXPECT_EQ(read.error().code, ExitCode::usage);
    EXPECT_THAT(read.error().message, HasSubstr("known_hosts file " + path.string()));
    EXPECT_THAT(read.error().message, HasSubstr(why));
  };
  expect_refused(dir_->path() / "missing", "does not exist");
  expect_refused(dir_->path(), "a directory");
  expect_refused("/dev/null", "a device");

  fs::path large = dir_->path() / "large";
  test::write_text(large, "", 0644);
  ASSERT_EQ(::truncate(large.c_str(), static_cast<off_t>(kMaxFileSize) + 1), 0);
  expect_refused(large, "larger than 4 MiB");
  ASSERT_EQ(::truncate(large.c_str(), static_cast<off_t>(kMaxFileSize)), 0);
  EXPECT_TRUE(read_file(large));
}

// Opening a FIFO nobody writes to blocks without O_NONBLOCK: checked in a child with an alarm, so
// that a regression fails here instead of hanging the suite.
TEST_F(KnownHostsTest, AFifoIsRefusedAtOnce) {
  static fs::path fifo;
  fifo = dir_->path() / "fifo";
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int status = test::wait_status_of_child([] {
    ::alarm(10);
    auto read = read_file(fifo);
    bool refused = !read && read.error().message.find("a FIFO") != std::string::npos;
    ::_exit(refused ? 0 : 1);
  });
  ASSERT_TRUE(WIFEXITED(status)) << "the reader was killed (signal " << WTERMSIG(status)
                                 << "): it waited on the FIFO";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace kf::known_hosts
