#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fleet/scheduler.hpp"
#include "inventory/inventory.hpp"
#include "keydir/layout.hpp"
#include "keydir/remote.hpp"

// The one shape of every fleet command: connect -> work -> report, over the scheduler.
namespace kf {

// How a node is reached: SSH by default (ssh_connector); tests of the orchestration may hand out
// in-memory nodes. Shared: a SessionPool keeps a connection for a second pass.
using Connector = std::function<NodeResult<std::shared_ptr<Remote>>(const NodeConfig&)>;

// One SSH session per node, bounded by the node's `timeout` from the moment it starts.
Connector ssh_connector();

struct FleetRunOptions {
  ScheduleOptions schedule;
  Connector connect = ssh_connector();
  // Asked before a node is connected to: an outcome here means the node is not touched at all
  // (push, when the bundle turned out not to open).
  std::function<std::optional<NodeOutcome>(const NodeConfig&)> before_connect;
};

// What a command's work on one node gives besides its outcome (cleanup's receipt, verify's view
// of the installed files), in inventory order; nullopt for nodes that did not get that far.
template <class T>
struct FleetRun {
  std::vector<NodeReport> reports;
  std::vector<std::optional<T>> values;
};

// Runs `work` on every node, each over its own connection, at most `schedule.parallel` at once.
// A node that cannot be connected to is reported with its connection error and `work` never
// runs for it. `work` may set the node's value.
template <class T>
FleetRun<T> run_on_nodes(
    std::span<const NodeConfig> nodes, const FleetRunOptions& options,
    const std::function<NodeOutcome(Remote&, const NodeConfig&, std::optional<T>&)>& work) {
  FleetRun<T> run;
  run.values.resize(nodes.size());
  std::mutex values_mutex;
  NodeTask task = [&](const NodeConfig& node) -> NodeOutcome {
    if (options.before_connect) {
      if (auto early = options.before_connect(node)) return *early;
    }
    auto remote = options.connect(node);
    if (!remote) return NodeOutcome::from_error(remote.error());
    std::optional<T> value;
    NodeOutcome outcome = work(**remote, node, value);
    remote->reset();  // says goodbye before the node counts as done
    if (value) {
      std::lock_guard lock(values_mutex);
      run.values[static_cast<std::size_t>(&node - nodes.data())] = std::move(value);
    }
    return outcome;
  };
  run.reports = run_fleet(nodes, options.schedule, task);
  return run;
}

// Connections kept from one pass over the fleet to the next (push reads its plan, asks, then works
// over the same sessions). Only worth it when every node's session can stay open at once.
class SessionPool {
 public:
  // Hands out `base`'s connections, keeping each one that succeeds for the next pass.
  [[nodiscard]] Connector connector(Connector base);
  // Runs `wait` (a question on the terminal) off every kept session's clock.
  void off_the_clock(const std::function<void()>& wait);
  // Says goodbye to every kept session.
  void close();

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Remote>> sessions_;
};

// The same for work that gives nothing but its outcome.
std::vector<NodeReport> run_on_nodes(
    std::span<const NodeConfig> nodes, const FleetRunOptions& options,
    const std::function<NodeOutcome(Remote&, const NodeConfig&)>& work);

// The end of `error`'s message when a switch of `current` to `generation` failed and `current`
// could not be read again (the watchdog cut the connection at the node's deadline): the node may
// be on either generation, so its report names none and says what it may be, and where the hooks
// it would then owe are recorded (DEST/.pending, dropped by the next run if the switch did not
// happen).
std::string current_unread_note(const NodeError& error, const NodeConfig& node,
                                const keydir::KeyDir& dir, std::uint64_t generation);

}  // namespace kf
