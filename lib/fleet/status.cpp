#include "fleet/status.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/escape.hpp"
#include "core/time.hpp"
#include "pki/cert.hpp"

namespace kf {
namespace {

// A certificate file is a few KiB; ca.crt during a CA change a few more.
constexpr std::size_t kMaxCertFile = std::size_t{1} << 20;

std::string plural(long n, std::string_view word) {
  return fmt::format("{} {}{}", n, word, n == 1 || n == -1 ? "" : "s");
}

// "agent certificate expires in 9 days (2026-12-03T10:00:00Z)".
std::string describe_expiry(const CertificateStatus& cert) {
  std::string what = cert.cert == "agent" ? "agent certificate" : cert.cert + " certificate";
  std::string when = rfc3339_utc(cert.not_after);
  if (cert.days_left < 0) {
    return fmt::format("{} expired {} ago ({})", what, plural(-cert.days_left, "day"), when);
  }
  if (cert.days_left == 0) return fmt::format("{} expires within a day ({})", what, when);
  return fmt::format("{} expires in {} ({})", what, plural(cert.days_left, "day"), when);
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : std::string(separator)) + p;
  return out;
}

NodeResult<std::vector<std::uint8_t>> read_cert_file(Remote& remote,
                                                     const keydir::GenerationState& generation,
                                                     std::string_view name) {
  auto bytes = remote.read_file(join_path(generation.path, name), kMaxCertFile);
  if (!bytes) return std::unexpected(at_step(bytes.error(), "read"));
  return bytes;
}

}  // namespace

NodeResult<NodeKeyStatus> describe_install(const std::string& node, const keydir::NodeState& state,
                                           std::span<const std::uint8_t> agent_crt,
                                           std::span<const std::uint8_t> ca_crt, std::time_t now) {
  const keydir::GenerationState* current = state.current_generation();
  NodeKeyStatus keys;
  if (current != nullptr) {
    keys.generation = current->number;
    if (current->manifest) keys.keyset = current->manifest->keyset;
  }
  keys.generations_kept = state.generations.size();
  keys.leftovers = state.leftovers;
  if (state.pending && state.pending->generation == state.current) {
    keys.pending_hooks = state.pending->hooks;
  }
  keys.pending_unknown = state.pending_unreadable;

  auto add = [&](std::span<const std::uint8_t> pem, std::string_view file,
                 std::string_view first_name) -> NodeResult<void> {
    std::string origin = fmt::format("{}: {}", node, join_path(current ? current->path : "", file));
    auto certs = parse_certs_pem(pem, origin);
    if (!certs) {
      return node_fail(NodeStatus::damaged, "read", "{}", escape_untrusted(certs.error().message));
    }
    for (std::size_t i = 0; i < certs->size(); ++i) {
      const X509& x = *(*certs)[i];
      CertificateStatus cert;
      cert.cert = i == 0 ? std::string(first_name) : fmt::format("{}-{}", first_name, i + 1);
      cert.file = file;
      cert.subject = subject_line(x);
      cert.sha256 = fingerprint(x);
      auto until = not_after(x);
      if (!until) {
        return node_fail(NodeStatus::damaged, "read", "{}: {}", origin, until.error().message);
      }
      cert.not_after = *until;
      cert.days_left = days_between(now, *until);
      keys.certificates.push_back(std::move(cert));
    }
    return {};
  };
  if (current != nullptr && current->manifest && current->manifest->imported()) return keys;
  KF_CHECK(add(agent_crt, keyset_files::agent_crt, "agent"));
  KF_CHECK(add(ca_crt, keyset_files::ca_crt, "ca"));
  return keys;
}

NodeOutcome judge_status(const NodeKeyStatus& keys, int warn_days) {
  if (keys.served && keys.served->status != NodeStatus::served_ok) {
    return {keys.served->status, "probe", keys.served->error, keys.generation, {}};
  }
  std::vector<std::string> expired;
  std::vector<std::string> expiring;
  for (const auto& cert : keys.certificates) {
    if (cert.days_left < 0) {
      expired.push_back(describe_expiry(cert));
    } else if (cert.days_left < warn_days) {
      expiring.push_back(describe_expiry(cert));
    }
  }
  std::string owed;
  if (keys.pending_unknown) {
    owed = "DEST/.pending is unreadable: which hooks of the last switch ran is unknown";
  } else if (!keys.pending_hooks.empty()) {
    owed = fmt::format(
        "the {} hook{} of the switch to generation {} never ran (DEST/.pending): the next push "
        "or rollback runs them",
        join(keys.pending_hooks, " and "), keys.pending_hooks.size() == 1 ? "" : "s",
        generation_name(keys.generation));
  }
  std::vector<std::string> problems = expired;
  if (!owed.empty()) problems.push_back(owed);
  problems.insert(problems.end(), expiring.begin(), expiring.end());
  NodeStatus status = !expired.empty()    ? NodeStatus::expired
                      : !owed.empty()     ? NodeStatus::pending_hooks
                      : !expiring.empty() ? NodeStatus::expiring
                                          : NodeStatus::ok;
  std::string error = join(problems, "; ");
  if (!expiring.empty()) error += fmt::format(" (--warn-days {})", warn_days);
  return {status, "status", status == NodeStatus::ok ? "" : error, keys.generation, {}};
}

NodeOutcome status_node(Remote& remote, const NodeConfig& node, const StatusOptions& options,
                        std::optional<NodeKeyStatus>& keys) {
  const keydir::KeyDir dir = keydir::KeyDir::of(node);
  auto state = keydir::read_node_state(remote, dir, {true}, "read");
  if (!state) return NodeOutcome::from_error(state.error());
  auto failed = [&](NodeStatus status, std::string why) {
    return NodeOutcome{status, "read", fmt::format("{}: {}", node.name, why), state->current, {}};
  };
  if (state->current_kind == keydir::CurrentKind::absent) {
    if (state->generations.empty()) {
      return failed(NodeStatus::missing,
                    fmt::format("no key set installed: {} does not exist", dir.current()));
    }
    return failed(NodeStatus::damaged,
                  fmt::format("{} is missing while {} holds generations: run keyfleet push to "
                              "repair it",
                              dir.current(), dir.generations()));
  }
  if (state->current_kind == keydir::CurrentKind::unmanaged) {
    return failed(NodeStatus::missing,
                  fmt::format("no key set installed by keyfleet: {} (push --adopt takes it over)",
                              escape_untrusted(state->describe_current())));
  }
  if (state->current_kind != keydir::CurrentKind::generation) {
    return failed(NodeStatus::damaged, fmt::format("{}: run keyfleet push to repair it",
                                                   escape_untrusted(state->describe_current())));
  }
  const keydir::GenerationState& current = *state->current_generation();
  if (!current.manifest) {
    return failed(
        NodeStatus::damaged,
        fmt::format("{} points at {}, which has no valid manifest: {}", state->link_name,
                    escape_untrusted(state->current_text), escape_untrusted(current.problem)));
  }
  if (!current.complete()) {
    return failed(
        NodeStatus::damaged,
        fmt::format("generation {} differs from its manifest: {}: run keyfleet push "
                    "to repair it",
                    generation_name(current.number),
                    escape_untrusted(join(current.differences(current.manifest->files), ", "))));
  }
  if (current.manifest->imported()) {
    // Files taken from elsewhere (create-keys --import, pull) carry no certificate of keyfleet's:
    // what is installed, kept and owed is all there is to say.
    auto described = describe_install(node.name, *state, {}, {}, options.now);
    if (!described) return NodeOutcome::from_error(described.error(), current.number);
    NodeOutcome outcome = judge_status(*described, options.warn_days);
    keys = std::move(*described);
    return outcome;
  }
  auto agent_crt = read_cert_file(remote, current, keyset_files::agent_crt);
  if (!agent_crt) return NodeOutcome::from_error(agent_crt.error(), current.number);
  auto ca_crt = read_cert_file(remote, current, keyset_files::ca_crt);
  if (!ca_crt) return NodeOutcome::from_error(ca_crt.error(), current.number);
  auto described = describe_install(node.name, *state, *agent_crt, *ca_crt, options.now);
  if (!described) return NodeOutcome::from_error(described.error(), current.number);
  if (node.probe && options.prober) {
    ExpectedServed expected;
    expected.generation = current.number;
    expected.other_generations = agent_fingerprints(*state, current.number);
    for (const auto& cert : described->certificates) {
      if (cert.cert == "agent") expected.agent_sha256 = cert.sha256;
    }
    auto ca = parse_certs_pem(*ca_crt, keyset_files::ca_crt);
    if (ca) expected.ca = std::move(*ca);
    described->served = judge_served(node, options.prober(node, nullptr), expected, options.now);
  }
  NodeOutcome outcome = judge_status(*described, options.warn_days);
  keys = std::move(*described);
  return outcome;
}

FleetStatus status_fleet(std::span<const NodeConfig> nodes, const StatusOptions& options,
                         const FleetRunOptions& run) {
  auto read = run_on_nodes<NodeKeyStatus>(
      nodes, run, [&](Remote& remote, const NodeConfig& node, std::optional<NodeKeyStatus>& keys) {
        return status_node(remote, node, options, keys);
      });
  return {std::move(read.reports), std::move(read.values)};
}

}  // namespace kf
