// keyfleet's known_hosts reader against OpenSSH's ssh client, both facing the same real sshd on
// loopback: the key the node presents is taken from libssh exactly as SshSession takes it
// (ssh_key_type_to_char + ssh_pki_export_pubkey_base64), and `ssh -o StrictHostKeyChecking=yes`
// says what OpenSSH makes of the same known_hosts file.
#include <libssh/libssh.h>

#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/handle.hpp"
#include "ssh/known_hosts.hpp"
#include "support/fleet_fixture.hpp"

namespace kf::known_hosts {
namespace {

namespace fs = boost::filesystem;
using test::Fleet;
using ::testing::HasSubstr;

using SessionPtr = Handle<ssh_session_struct, ssh_free>;
using KeyPtr = Handle<ssh_key_struct, ssh_key_free>;

// The host key node k presents, through libssh: only the key exchange, no authentication.
HostKey presented_key(const NodeConfig& node) {
  SessionPtr session(ssh_new());
  if (!session) throw std::runtime_error("ssh_new failed");
  ssh_session s = session.get();
  int port = node.port;
  long timeout = 10;
  bool no_config = false;
  if (ssh_options_set(s, SSH_OPTIONS_HOST, node.host.c_str()) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_PORT, &port) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no_config) != SSH_OK ||
      ssh_connect(s) != SSH_OK) {
    throw std::runtime_error(std::string("cannot connect with libssh: ") + ssh_get_error(s));
  }
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(s, &raw) != SSH_OK) throw std::runtime_error("no host key");
  KeyPtr key(raw);
  char* base64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key.get(), &base64) != SSH_OK) {
    throw std::runtime_error("cannot export the host key");
  }
  std::string text(base64);
  ssh_string_free_char(base64);
  ssh_disconnect(s);
  auto parsed = parse_host_key(ssh_key_type_to_char(ssh_key_type(key.get())), text);
  if (!parsed) throw std::runtime_error(parsed.error().message);
  return *parsed;
}

class KnownHostsInterop : public ::testing::Test {
 protected:
  // Started by the first test's SetUp, not SetUpTestSuite: a failure there would show as
  // skipped tests, and ctest counts skipped tests as no failure.
  static inline bool started_ = false;
  static void start_suite() {
    fleet_ = std::make_unique<Fleet>(1);
    key_ = presented_key(fleet_->node(1));
    host_ = "[127.0.0.1]:" + std::to_string(fleet_->node(1).port);
    // The fleet's known_hosts line for the node: "[127.0.0.1]:PORT ssh-ed25519 AAAA...".
    line_ = test::read_text(fleet_->known_hosts());
    line_ = line_.substr(0, line_.find('\n'));
    key_text_ = line_.substr(line_.find(' ') + 1);
    started_ = true;
  }
  void SetUp() override {
    if (!started_) start_suite();
    if (IsSkipped()) return;
    ASSERT_TRUE(started_) << "the suite's fleet did not start";
  }
  static void TearDownTestSuite() {
    fleet_.reset();
    started_ = false;
  }

  static fs::path write(const std::string& name, const std::string& text) {
    fs::path path = fleet_->dir() / name;
    test::write_text(path, text, 0644);
    return path;
  }

  // OpenSSH's client with nothing but this known_hosts file, never asking, never writing it.
  static test::RunResult ssh(const fs::path& known_hosts) {
    const NodeConfig& node = fleet_->node(1);
    return test::run({"timeout",
                      "60",
                      "ssh",
                      "-F",
                      "/dev/null",
                      "-o",
                      "BatchMode=yes",
                      "-o",
                      "StrictHostKeyChecking=yes",
                      "-o",
                      "UserKnownHostsFile=" + known_hosts.string(),
                      "-o",
                      "GlobalKnownHostsFile=/dev/null",
                      "-o",
                      "IdentitiesOnly=yes",
                      "-o",
                      "ConnectTimeout=10",
                      "-i",
                      fleet_->client_key().string(),
                      "-p",
                      std::to_string(node.port),
                      "-l",
                      node.user,
                      node.host,
                      "true"});
  }

  static Lookup ours(const fs::path& known_hosts) {
    auto found = check_file(known_hosts, fleet_->node(1).host, fleet_->node(1).port, key_);
    if (!found) throw std::runtime_error(found.error().message);
    return *found;
  }

  static std::unique_ptr<Fleet> fleet_;
  static HostKey key_;
  static std::string host_;
  static std::string line_;
  static std::string key_text_;
};

std::unique_ptr<Fleet> KnownHostsInterop::fleet_;
HostKey KnownHostsInterop::key_;
std::string KnownHostsInterop::host_;
std::string KnownHostsInterop::line_;
std::string KnownHostsInterop::key_text_;

TEST_F(KnownHostsInterop, TheFleetsOwnFileIsOkForBoth) {
  EXPECT_EQ(key_.type, "ssh-ed25519");
  fs::path file = write("kh_plain", line_ + "\n");
  auto openssh = ssh(file);
  EXPECT_EQ(openssh.exit_code, 0) << openssh.err;
  Lookup found = ours(file);
  EXPECT_EQ(found.verdict, Verdict::ok);
  EXPECT_EQ(found.line, 1u);
}

TEST_F(KnownHostsInterop, RevokedKeyBesideAPlainLineIsRefusedByBoth) {
  for (std::string revoked : {"@revoked * " + key_text_, "@revoked " + host_ + " " + key_text_}) {
    fs::path file = write("kh_revoked", line_ + "\n" + revoked + "\n");
    auto openssh = ssh(file);
    EXPECT_EQ(openssh.exit_code, 255) << revoked;
    EXPECT_THAT(openssh.err, HasSubstr("REVOKED HOST KEY")) << revoked;
    Lookup found = ours(file);
    EXPECT_EQ(found.verdict, Verdict::revoked) << revoked;
    EXPECT_EQ(found.line, 2u);
  }
}

TEST_F(KnownHostsInterop, HashedFileIsOkForBoth) {
  fs::path file = write("kh_hashed", line_ + "\n");
  auto hashed = test::run({"ssh-keygen", "-H", "-f", file.string()});
  ASSERT_EQ(hashed.exit_code, 0) << hashed.err;
  ASSERT_EQ(test::read_text(file).rfind("|1|", 0), 0u);
  EXPECT_EQ(ssh(file).exit_code, 0);
  EXPECT_EQ(ours(file).verdict, Verdict::ok);
}

TEST_F(KnownHostsInterop, AnotherKeyIsRefusedByBoth) {
  fs::path other = fleet_->dir() / "other_key";
  if (!fs::exists(other)) {
    ASSERT_EQ(
        test::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other.string()}).exit_code,
        0);
  }
  std::string pub = test::read_text(other.string() + ".pub");
  std::string other_text = pub.substr(0, pub.find(' ', pub.find(' ') + 1));
  fs::path file = write("kh_changed", host_ + " " + other_text + "\n");
  auto openssh = ssh(file);
  EXPECT_EQ(openssh.exit_code, 255);
  EXPECT_THAT(openssh.err, HasSubstr("REMOTE HOST IDENTIFICATION HAS CHANGED"));
  EXPECT_EQ(ours(file).verdict, Verdict::changed);
}

// The one place keyfleet refuses where OpenSSH does not: a key revoked for another host.
TEST_F(KnownHostsInterop, KeyRevokedForAnotherHostIsRefusedByKeyfleetOnly) {
  fs::path file =
      write("kh_revoked_elsewhere", "@revoked elsewhere " + key_text_ + "\n" + line_ + "\n");
  EXPECT_EQ(ssh(file).exit_code, 0);
  EXPECT_EQ(ours(file).verdict, Verdict::revoked);
}

}  // namespace
}  // namespace kf::known_hosts
