#include "support/tls_server.hpp"

#include <stdexcept>

#include "support/fleet_fixture.hpp"

namespace kf::test {
namespace {

std::string script() {
  return source_dir() + "/tests/fleet/tls_server.sh";
}

}  // namespace

TlsServer::TlsServer(fs::path dir, const std::string& cert, const std::string& key,
                     const std::string& client_ca, const Sni& sni)
    : dir_(std::move(dir)), port_(unused_port()) {
  std::vector<std::string> argv{script(), "start", dir_.string(), std::to_string(port_), cert, key};
  if (!client_ca.empty() || !sni.name.empty()) argv.push_back(client_ca);
  if (!sni.name.empty()) argv.insert(argv.end(), {sni.name, sni.cert, sni.key});
  auto started = run(argv);
  if (started.exit_code != 0) {
    stop();
    throw std::runtime_error("tls_server.sh start failed: " + started.err);
  }
}

TlsServer::~TlsServer() {
  stop();
}

void TlsServer::restart() {
  auto restarted = run({script(), "restart", dir_.string()});
  if (restarted.exit_code != 0) {
    throw std::runtime_error("tls_server.sh restart failed: " + restarted.err);
  }
}

void TlsServer::stop() {
  run({script(), "stop", dir_.string()});
}

std::string TlsServer::restart_command() const {
  return script() + " restart " + dir_.string();
}

}  // namespace kf::test
