#pragma once

#include <string>

#include "support/test_support.hpp"

namespace kf::test {

// A node's agent: `openssl s_server` on a free 127.0.0.1 port serving `cert` and `key`
// (tests/fleet/tls_server.sh), read when it starts, as an agent reads DEST/current/agent.crt.
// Always stopped on destruction.
class TlsServer {
 public:
  // A second certificate for clients that ask for `name` by TLS SNI (s_server -servername).
  struct Sni {
    std::string name;
    std::string cert;
    std::string key;
  };
  // `dir` holds its state (pid, port, log); `cert` and `key` may be paths through DEST/current.
  // With `client_ca`, the server requires a client certificate that CA signed (s_server -Verify).
  TlsServer(fs::path dir, const std::string& cert, const std::string& key,
            const std::string& client_ca = "", const Sni& sni = {});
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;
  ~TlsServer();

  [[nodiscard]] int port() const { return port_; }
  // Stops it and starts it again on the same port: the files are read anew.
  void restart();
  void stop();
  // The shell command that restarts it, for a node's post hook.
  [[nodiscard]] std::string restart_command() const;

 private:
  fs::path dir_;
  int port_ = 0;
};

}  // namespace kf::test
