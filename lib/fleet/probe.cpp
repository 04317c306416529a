#include "fleet/probe.hpp"

#include <poll.h>

#include <chrono>
#include <thread>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fmt/format.h>

#include "core/escape.hpp"
#include "core/handle.hpp"
#include "core/hostname.hpp"
#include "pki/cert.hpp"
#include "pki/cert_check.hpp"
#include "pki/key.hpp"
#include "ssh/jump.hpp"
#include "ssh/tcp.hpp"

namespace kf {
namespace {

using SslCtxPtr = Handle<SSL_CTX, SSL_CTX_free>;
using SslPtr = Handle<SSL, SSL_free>;

std::unexpected<NodeError> unreachable(const NodeConfig& node, std::string why) {
  return node_fail(NodeStatus::served_down, "probe", "{}: probe {}: {}", node.name,
                   endpoint_name(*node.probe), why);
}

Result<void> use_client_credentials(SSL_CTX& ctx, const ClientCredentials& client) {
  KF_TRY_ASSIGN(auto cert, parse_cert_pem(client.cert_pem, "agent.crt"));
  KF_TRY_ASSIGN(auto key, parse_private_key_pem(client.key_pem, "agent.key"));
  if (SSL_CTX_use_certificate(&ctx, cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(&ctx, key.get()) != 1) {
    return fail_openssl(ExitCode::failure, "cannot offer agent.crt as the client certificate");
  }
  return {};
}

// Drives a non-blocking handshake to its end or the deadline.
Result<void> handshake(SSL& ssl, int fd, Deadline deadline) {
  for (;;) {
    ERR_clear_error();
    int rc = SSL_connect(&ssl);
    if (rc == 1) return {};
    int error = SSL_get_error(&ssl, rc);
    short events = 0;
    if (error == SSL_ERROR_WANT_READ) {
      events = POLLIN;
    } else if (error == SSL_ERROR_WANT_WRITE) {
      events = POLLOUT;
    } else if (error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      return fail(ExitCode::failure, "the TLS handshake failed: the server closed the connection");
    } else {
      return fail_openssl(ExitCode::failure, "the TLS handshake failed");
    }
    pollfd pfd{fd, events, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(deadline.remaining().count()));
    if (ready == 0) {
      return fail(ExitCode::failure, "no TLS handshake within the connect timeout");
    }
    if (ready < 0 && errno != EINTR) return fail_errno("poll failed during the TLS handshake");
  }
}

}  // namespace

std::string endpoint_name(const ProbeEndpoint& endpoint) {
  if (endpoint.host.contains(':')) return fmt::format("[{}]:{}", endpoint.host, endpoint.port);
  return fmt::format("{}:{}", endpoint.host, endpoint.port);
}

namespace {

// A TCP connection to the probe's endpoint, through the node's jump hosts when it has some: the
// agent is reached the way its node is.
NodeResult<Fd> connect_endpoint(const NodeConfig& node, const ProbeEndpoint& endpoint,
                                Deadline deadline) {
  if (node.jump.empty()) return tcp_connect(node.name, endpoint.host, endpoint.port, deadline);
  KF_TRY_ASSIGN(std::shared_ptr<Tunnel> via, command_jump_hosts()->route(node, deadline));
  return via->open(node.name, endpoint.host, endpoint.port, deadline);
}

}  // namespace

NodeResult<ServedChain> fetch_served_chain(const NodeConfig& node, Deadline deadline,
                                           const ClientCredentials* client) {
  const ProbeEndpoint& endpoint = *node.probe;
  auto fd = connect_endpoint(node, endpoint, deadline);
  if (!fd) {
    NodeError error = fd.error();
    error.status = NodeStatus::served_down;
    error.step = "probe";
    error.message =
        fmt::format("{}: probe: {}", node.name,
                    error.message.substr(std::min(error.message.size(), node.name.size() + 2)));
    return std::unexpected(std::move(error));
  }
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return unreachable(node, "cannot set up TLS: " + openssl_error());
  // The chain is judged after the handshake, against the node's own ca.crt: a certificate this
  // machine's trust store knows nothing of is the normal case.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (client != nullptr) {
    if (auto used = use_client_credentials(*ctx, *client); !used) {
      return node_fail(NodeStatus::failed, "probe", "{}: {}", node.name, used.error().message);
    }
  }
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), fd->get()) != 1) {
    return unreachable(node, "cannot set up TLS: " + openssl_error());
  }
  // SNI carries names only, never an address literal (RFC 6066 section 3).
  if (auto kind = classify_host(endpoint.host); kind && *kind == HostKind::dns) {
    SSL_set_tlsext_host_name(ssl.get(), endpoint.host.c_str());
  }
  if (auto done = handshake(*ssl, fd->get(), deadline); !done) {
    return unreachable(node, escape_untrusted(done.error().message, 300));
  }
  ServedChain chain;
  STACK_OF(X509)* sent = SSL_get_peer_cert_chain(ssl.get());  // the client's view: leaf first
  for (int i = 0; sent != nullptr && i < sk_X509_num(sent); ++i) {
    X509* cert = sk_X509_value(sent, i);
    X509_up_ref(cert);
    chain.certs.emplace_back(cert);
  }
  (void)SSL_shutdown(ssl.get());  // a courtesy; the socket closes either way
  ERR_clear_error();
  if (chain.certs.empty()) return unreachable(node, "the server sent no certificate");
  return chain;
}

NodeResult<ServedChain> probe_served(const NodeConfig& node, const ClientCredentials* client) {
  return fetch_served_chain(node, Deadline::after_seconds(node.connect_timeout), client);
}

std::vector<std::pair<std::uint64_t, std::string>> agent_fingerprints(
    const keydir::NodeState& state, std::uint64_t except) {
  std::vector<std::pair<std::uint64_t, std::string>> out;
  for (const auto& generation : state.generations) {
    if (generation.number != except && generation.manifest &&
        !generation.manifest->agent_fingerprint.empty()) {
      out.emplace_back(generation.number, generation.manifest->agent_fingerprint);
    }
  }
  return out;
}

ServedCheck judge_served(const NodeConfig& node, const NodeResult<ServedChain>& served,
                         const ExpectedServed& expected, std::time_t now) {
  ServedCheck check;
  check.endpoint = endpoint_name(*node.probe);
  if (!served) {
    check.status = served.error().status == NodeStatus::served_down ? NodeStatus::served_down
                                                                    : NodeStatus::failed;
    check.error = served.error().message;
    return check;
  }
  X509& leaf = *served->certs.front();
  check.sha256 = fingerprint(leaf);
  if (check.sha256 != expected.agent_sha256) {
    check.status = NodeStatus::served_stale;
    for (const auto& [generation, sha256] : expected.other_generations) {
      if (sha256 == check.sha256) check.matches_generation = generation;
    }
    check.error = fmt::format(
        "{}: {} serves certificate {}, not generation {}'s agent.crt ({}){}", node.name,
        check.endpoint, check.sha256, generation_name(expected.generation), expected.agent_sha256,
        check.matches_generation
            ? fmt::format(": it is generation {}'s: the agent was not restarted or reloaded",
                          generation_name(*check.matches_generation))
            : std::string(": no generation on the node has it"));
    return check;
  }
  std::vector<X509*> intermediates;
  for (std::size_t i = 1; i < served->certs.size(); ++i)
    intermediates.push_back(served->certs[i].get());
  if (auto trusted =
          check_server_certificate(leaf, intermediates, expected.ca, node.probe->host, now);
      !trusted) {
    check.status = NodeStatus::served_untrusted;
    check.error = fmt::format("{}: {}: {}", node.name, check.endpoint, trusted.error().message);
    return check;
  }
  check.status = NodeStatus::served_ok;
  return check;
}

std::function<NodeResult<void>(std::uint64_t)> served_check_after_install(
    const NodeConfig& node, const bundle::OpenedBundle& opened,
    std::vector<std::pair<std::uint64_t, std::string>> others, Prober prober) {
  return [&node, &opened, others = std::move(others),
          prober = std::move(prober)](std::uint64_t generation) -> NodeResult<void> {
    auto file = [&](std::string_view name) -> std::span<const std::uint8_t> {
      for (const auto& f : opened.files) {
        if (f.name == name) return f.data;
      }
      return {};
    };
    ExpectedServed expected;
    expected.generation = generation;
    expected.agent_sha256 = opened.manifest.agent_fingerprint;
    expected.other_generations = others;
    auto ca = parse_certs_pem(file(keyset_files::ca_crt), keyset_files::ca_crt);
    if (!ca) return node_fail(NodeStatus::failed, "probe", "{}: {}", node.name, ca.error().message);
    expected.ca = std::move(*ca);
    const ClientCredentials client{file(keyset_files::agent_crt), file(keyset_files::agent_key)};
    const Deadline patience = Deadline::after_seconds(node.connect_timeout);
    for (;;) {
      ServedCheck check = judge_served(node, prober(node, &client), expected, std::time(nullptr));
      if (check.status == NodeStatus::served_ok) return {};
      bool may_settle =
          check.status == NodeStatus::served_down || check.status == NodeStatus::served_stale;
      if (!may_settle || patience.expired()) {
        std::string why = check.error;
        if (why.starts_with(node.name + ": ")) why.erase(0, node.name.size() + 2);
        return node_fail(NodeStatus::failed, "probe", "{}: {}: {}", node.name, check.status, why);
      }
      std::this_thread::sleep_for(std::min(std::chrono::milliseconds(250), patience.remaining()));
    }
  };
}

}  // namespace kf
