#include "fleet/run.hpp"

#include "ssh/ssh_session.hpp"

namespace kf {

Connector ssh_connector() {
  return [](const NodeConfig& node) -> NodeResult<std::unique_ptr<Remote>> {
    KF_TRY_ASSIGN(SshSession session,
                  SshSession::connect(node, Deadline::after_seconds(node.timeout)));
    return std::make_unique<SshSession>(std::move(session));
  };
}

std::vector<NodeReport> run_on_nodes(
    std::span<const NodeConfig> nodes, const FleetRunOptions& options,
    const std::function<NodeOutcome(Remote&, const NodeConfig&)>& work) {
  struct None {};
  return run_on_nodes<None>(nodes, options,
                            [&](Remote& remote, const NodeConfig& node, std::optional<None>&) {
                              return work(remote, node);
                            })
      .reports;
}

}  // namespace kf
