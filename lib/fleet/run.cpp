#include "fleet/run.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "ssh/jump.hpp"
#include "ssh/ssh_session.hpp"

namespace kf {

Connector ssh_connector() {
  // One session per jump host for the whole command, shared by the nodes behind it.
  auto jumps = command_jump_hosts();
  return [jumps](const NodeConfig& node) -> NodeResult<std::shared_ptr<Remote>> {
    const Deadline deadline = Deadline::after_seconds(node.timeout);
    std::shared_ptr<Tunnel> via;
    if (!node.jump.empty()) {
      KF_TRY_ASSIGN(via, jumps->route(node, deadline.earliest(Deadline::after_seconds(
                                                std::max(node.connect_timeout, 1)))));
    }
    KF_TRY_ASSIGN(SshSession session, SshSession::connect(node, deadline, std::move(via)));
    return std::make_shared<SshSession>(std::move(session));
  };
}

Connector SessionPool::connector(Connector base) {
  return [this,
          base = std::move(base)](const NodeConfig& node) -> NodeResult<std::shared_ptr<Remote>> {
    {
      std::lock_guard lock(mutex_);
      if (auto it = sessions_.find(node.name); it != sessions_.end()) return it->second;
    }
    KF_TRY_ASSIGN(std::shared_ptr<Remote> remote, base(node));
    std::lock_guard lock(mutex_);
    sessions_[node.name] = remote;
    return remote;
  };
}

void SessionPool::off_the_clock(const std::function<void()>& wait) {
  std::vector<std::shared_ptr<Remote>> held;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, remote] : sessions_) held.push_back(remote);
  }
  // Nested: each session stops its clock around the next, the innermost runs `wait`.
  std::function<void(std::size_t)> hold = [&](std::size_t i) {
    if (i == held.size()) {
      wait();
    } else {
      held[i]->off_the_clock([&] { hold(i + 1); });
    }
  };
  hold(0);
}

void SessionPool::close() {
  std::lock_guard lock(mutex_);
  sessions_.clear();
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

std::string current_unread_note(const NodeError& error, const NodeConfig& node,
                                const keydir::KeyDir& dir, std::uint64_t generation) {
  std::string note =
      fmt::format("; current could not be read again after the {}: it may already be generation {}",
                  error.status == NodeStatus::timeout ? "timeout" : "failure", generation);
  if (!node.post.empty() || !node.check.empty()) {
    note += fmt::format(
        "; the hooks still owed are recorded in {} and run at the next push or rollback",
        dir.pending());
  }
  return note;
}

}  // namespace kf
