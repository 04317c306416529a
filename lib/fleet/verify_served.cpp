#include "fleet/verify_served.hpp"

#include <fmt/format.h>

#include "core/escape.hpp"
#include "keydir/layout.hpp"
#include "keydir/node_state.hpp"
#include "pki/cert.hpp"

namespace kf {
namespace {

constexpr std::size_t kMaxCertFile = std::size_t{1} << 20;

std::span<const std::uint8_t> bundle_file(const bundle::OpenedBundle& opened,
                                          std::string_view name) {
  for (const auto& f : opened.files) {
    if (f.name == name) return f.data;
  }
  return {};
}

// The served check applied to a report judge_by_majority left ok.
void apply(NodeReport& report, const ServedCheck& check) {
  report.status = check.status;
  report.step = "probe";
  report.error = check.status == NodeStatus::served_ok ? "" : check.error;
}

struct Read {
  NodeInstall install;
  std::optional<ServedCheck> served;
};

}  // namespace

NodeResult<ExpectedServed> expected_served(Remote& remote, const NodeConfig& node) {
  const keydir::KeyDir dir = keydir::KeyDir::of(node);
  KF_TRY_ASSIGN(auto state, keydir::read_node_state(remote, dir, {false}, "probe"));
  if (!state.current) {
    return node_fail(NodeStatus::damaged, "probe", "{}: {}", node.name,
                     escape_untrusted(state.describe_current()));
  }
  const std::string generation = dir.generation(*state.current);
  KF_TRY_ASSIGN(auto agent_pem,
                remote.read_file(join_path(generation, keyset_files::agent_crt), kMaxCertFile));
  KF_TRY_ASSIGN(auto ca_pem,
                remote.read_file(join_path(generation, keyset_files::ca_crt), kMaxCertFile));
  ExpectedServed expected;
  expected.generation = *state.current;
  expected.other_generations = agent_fingerprints(state, *state.current);
  auto agent = parse_certs_pem(agent_pem, join_path(generation, keyset_files::agent_crt));
  auto ca = parse_certs_pem(ca_pem, join_path(generation, keyset_files::ca_crt));
  if (!agent || !ca) {
    return node_fail(NodeStatus::damaged, "probe", "{}: {}", node.name,
                     (!agent ? agent : ca).error().message);
  }
  expected.agent_sha256 = fingerprint(*agent->front());
  expected.ca = std::move(*ca);
  return expected;
}

namespace {

std::optional<ServedCheck> probe_node(Remote& remote, const NodeConfig& node,
                                      const ServedVerifyOptions& options) {
  if (!node.probe || !options.prober) return std::nullopt;
  auto expected = expected_served(remote, node);
  if (!expected) {
    ServedCheck failed;
    failed.status = expected.error().status;
    failed.endpoint = endpoint_name(*node.probe);
    failed.error = expected.error().message;
    return failed;
  }
  std::optional<ClientCredentials> client;
  if (options.bundle != nullptr) {
    client = ClientCredentials{bundle_file(*options.bundle, keyset_files::agent_crt),
                               bundle_file(*options.bundle, keyset_files::agent_key)};
  }
  return judge_served(node, options.prober(node, client ? &*client : nullptr), *expected,
                      options.now);
}

}  // namespace

NodeOutcome with_served(NodeOutcome verified, Remote& remote, const NodeConfig& node,
                        const ServedVerifyOptions& options) {
  if (verified.status != NodeStatus::ok && verified.status != NodeStatus::pending_hooks) {
    return verified;
  }
  auto check = probe_node(remote, node, options);
  if (!check) return verified;
  if (check->status != NodeStatus::served_ok) {
    return {check->status, "probe", check->error, verified.generation, {}};
  }
  if (verified.status == NodeStatus::ok) verified.status = NodeStatus::served_ok;
  return verified;
}

FleetVerification verify_fleet_served(std::span<const NodeConfig> nodes,
                                      const std::optional<Manifest>& expected,
                                      const ServedVerifyOptions& options,
                                      const FleetRunOptions& run) {
  FleetVerification out;
  if (expected) {
    out.generation = expected->generation;
    out.nodes = run_on_nodes(nodes, run, [&](Remote& remote, const NodeConfig& node) {
      return with_served(verify_node(remote, keydir::KeyDir::of(node), *expected), remote, node,
                         options);
    });
    return out;
  }
  // Against the majority: every node is probed while connected; the verdict waits for the vote.
  auto read = run_on_nodes<Read>(
      nodes, run, [&](Remote& remote, const NodeConfig& node, std::optional<Read>& value) {
        auto install = read_install(remote, keydir::KeyDir::of(node));
        if (!install) return NodeOutcome::from_error(install.error());
        NodeOutcome outcome{NodeStatus::ok, "read", "", install->generation};
        value = Read{std::move(*install), probe_node(remote, node, options)};
        return outcome;
      });
  std::vector<std::optional<NodeInstall>> installs;
  installs.reserve(read.values.size());
  for (auto& value : read.values) {
    installs.push_back(value ? std::optional<NodeInstall>(value->install) : std::nullopt);
  }
  out.nodes = std::move(read.reports);
  out.generation = judge_by_majority(out.nodes, installs);
  for (std::size_t i = 0; i < out.nodes.size(); ++i) {
    NodeReport& report = out.nodes[i];
    const bool verified =
        report.status == NodeStatus::ok || report.status == NodeStatus::pending_hooks;
    if (!verified || !read.values[i] || !read.values[i]->served) continue;
    const ServedCheck& check = *read.values[i]->served;
    if (check.status != NodeStatus::served_ok || report.status == NodeStatus::ok) {
      apply(report, check);
    }
  }
  return out;
}

}  // namespace kf
