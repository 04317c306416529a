#include "fleet/node_report.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "fleet/scheduler.hpp"

namespace kf {
namespace {

nlohmann::ordered_json null_if_empty(const std::string& text) {
  return text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(text);
}

nlohmann::ordered_json null_if_unset(const std::optional<std::uint64_t>& value) {
  return value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
}

// Transport errors start with the node's name; the summary already shows it.
std::string_view without_name(std::string_view error, std::string_view name) {
  if (error.size() > name.size() + 2 && error.substr(0, name.size()) == name &&
      error.substr(name.size(), 2) == ": ") {
    return error.substr(name.size() + 2);
  }
  return error;
}

struct Split {
  std::string prefix;
  std::string digits;  // the trailing number as written; empty if none
};

Split split_number(const std::string& name) {
  std::size_t end = name.size();
  std::size_t start = end;
  while (start > 0 && name[start - 1] >= '0' && name[start - 1] <= '9') --start;
  // Beyond 18 digits a number does not fit; such a name is kept whole.
  if (start == end || end - start > 18) return {name, {}};
  return {name.substr(0, start), name.substr(start)};
}

// `numbers` sorted and unique.
std::string format_ranges(const std::vector<std::uint64_t>& numbers, std::size_t width) {
  auto padded = [width](std::uint64_t n) { return fmt::format("{:0{}}", n, width); };
  std::string out;
  for (std::size_t i = 0; i < numbers.size();) {
    std::size_t j = i;
    while (j + 1 < numbers.size() && numbers[j + 1] == numbers[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += padded(numbers[i]);
    if (j > i) out += "-" + padded(numbers[j]);
    i = j + 1;
  }
  return out;
}

// "push: interrupted (Ctrl-C): 3 not started (skipped); the running nodes were waited for".
std::string interrupted_line(const FleetReport& report) {
  auto count = [&](auto pred) {
    return std::count_if(report.nodes.begin(), report.nodes.end(), pred);
  };
  auto skipped = count([](const NodeReport& n) { return n.status == NodeStatus::skipped; });
  auto abandoned = count([](const NodeReport& n) {
    return n.status == NodeStatus::failed && n.step == kAbandonedStep;
  });
  std::string out =
      fmt::format("{}: interrupted (Ctrl-C): {} not started (skipped); ", report.command, skipped);
  if (abandoned > 0) {
    out +=
        fmt::format("{} abandoned while running, state unknown: run keyfleet verify\n", abandoned);
  } else {
    out += "the running nodes were waited for\n";
  }
  return out;
}

}  // namespace

std::vector<std::pair<NodeStatus, std::size_t>> tally(const std::vector<NodeReport>& nodes) {
  std::vector<std::pair<NodeStatus, std::size_t>> out;
  for (NodeStatus status : all_node_statuses()) {
    auto count = static_cast<std::size_t>(std::count_if(
        nodes.begin(), nodes.end(), [status](const NodeReport& n) { return n.status == status; }));
    if (count > 0) out.emplace_back(status, count);
  }
  return out;
}

bool all_succeeded(const std::vector<NodeReport>& nodes) {
  return std::all_of(nodes.begin(), nodes.end(),
                     [](const NodeReport& n) { return is_success(n.status); });
}

ExitCode fleet_exit_code(const std::vector<NodeReport>& nodes, bool interrupted) {
  if (interrupted) return ExitCode::interrupted;
  auto any = [&](auto pred) { return std::any_of(nodes.begin(), nodes.end(), pred); };
  if (any([](const NodeReport& n) { return exit_code_of(n.status) == ExitCode::integrity; })) {
    return ExitCode::integrity;
  }
  if (any([](const NodeReport& n) { return exit_code_of(n.status) == ExitCode::refused; })) {
    return ExitCode::refused;
  }
  return all_succeeded(nodes) ? ExitCode::ok : ExitCode::failure;
}

nlohmann::ordered_json to_json(const FleetReport& report) {
  nlohmann::ordered_json summary = nlohmann::ordered_json::object();
  for (NodeStatus status : all_node_statuses()) summary[std::string(to_string(status))] = 0;
  for (const auto& [status, count] : tally(report.nodes))
    summary[std::string(to_string(status))] = count;
  summary["total"] = report.nodes.size();
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  for (const NodeReport& n : report.nodes) {
    nodes.push_back({
        {"name", n.name},
        {"host", n.host},
        {"status", std::string(to_string(n.status))},
        {"step", null_if_empty(n.step)},
        {"error", null_if_empty(n.error)},
        {"generation", null_if_unset(n.generation)},
        {"seconds", std::round(n.seconds * 1000) / 1000},
        {"detail", null_if_empty(n.detail)},
    });
  }
  return {
      {"interrupted", report.interrupted},
      {"generation", null_if_unset(report.generation)},
      {"bundle_sha256", null_if_empty(report.bundle_sha256)},
      {"summary", std::move(summary)},
      {"inventory_nodes", std::max(report.inventory_nodes, report.nodes.size())},
      {"nodes", std::move(nodes)},
  };
}

std::string fold_names(const std::vector<std::string>& names) {
  // Groups keep the order in which their first member appears.
  struct Group {
    std::string prefix;
    std::size_t width = 0;  // zero-padded numbers keep their width: web01..web10
    std::vector<std::uint64_t> numbers;
    std::string whole;  // a name without a trailing number
  };
  std::vector<Split> splits;
  std::set<std::pair<std::string, std::size_t>> padded;  // (prefix, width) seen with a leading 0
  for (const std::string& name : names) {
    splits.push_back(split_number(name));
    const std::string& digits = splits.back().digits;
    if (digits.size() > 1 && digits[0] == '0') padded.emplace(splits.back().prefix, digits.size());
  }
  std::vector<Group> groups;
  std::map<std::pair<std::string, std::size_t>, std::size_t> index;
  std::set<std::string> seen_whole;
  for (const Split& split : splits) {
    if (split.digits.empty()) {
      if (seen_whole.insert(split.prefix).second) groups.push_back(Group{{}, 0, {}, split.prefix});
      continue;
    }
    // "web10" joins "web01" (same width, prints the same); "node1" and "node01" stay apart.
    std::size_t width =
        padded.contains({split.prefix, split.digits.size()}) ? split.digits.size() : 0;
    std::uint64_t number = 0;
    std::from_chars(split.digits.data(), split.digits.data() + split.digits.size(), number);
    auto [it, inserted] = index.try_emplace({split.prefix, width}, groups.size());
    if (inserted) groups.push_back(Group{split.prefix, width, {}, {}});
    groups[it->second].numbers.push_back(number);
  }
  std::string out;
  for (Group& group : groups) {
    if (!out.empty()) out += ',';
    if (!group.whole.empty()) {
      out += group.whole;
      continue;
    }
    std::sort(group.numbers.begin(), group.numbers.end());
    group.numbers.erase(std::unique(group.numbers.begin(), group.numbers.end()),
                        group.numbers.end());
    if (group.numbers.size() == 1) {
      out += fmt::format("{}{:0{}}", group.prefix, group.numbers[0], group.width);
    } else {
      out += fmt::format("{}[{}]", group.prefix, format_ranges(group.numbers, group.width));
    }
  }
  return out;
}

std::string format_summary(const FleetReport& report) {
  std::string out;
  for (NodeStatus status : all_node_statuses()) {
    std::vector<const NodeReport*> members;
    for (const NodeReport& n : report.nodes) {
      if (n.status == status) members.push_back(&n);
    }
    if (members.empty()) continue;
    if (is_success(status)) {
      // One line per generation: a fleet that agrees fits on one line.
      std::map<std::optional<std::uint64_t>, std::vector<std::string>> by_generation;
      for (const NodeReport* n : members) by_generation[n->generation].push_back(n->name);
      for (const auto& [generation, names] : by_generation) {
        out += fmt::format("{} ({}): {}", status, names.size(), fold_names(names));
        if (generation) out += fmt::format(" at generation {}", *generation);
        out += '\n';
      }
    } else if (status == NodeStatus::skipped) {
      std::map<std::string, std::vector<std::string>> by_reason;
      for (const NodeReport* n : members) by_reason[n->error].push_back(n->name);
      for (const auto& [reason, names] : by_reason) {
        out += fmt::format("{} ({}): {}", status, names.size(), fold_names(names));
        if (!reason.empty()) out += fmt::format(": {}", reason);
        out += '\n';
      }
    } else {
      out += fmt::format("{} ({}):\n", status, members.size());
      for (const NodeReport* n : members) {
        out += fmt::format("  {}", n->name);
        if (!n->step.empty()) out += fmt::format(" [{}]", n->step);
        if (!n->error.empty()) out += fmt::format(": {}", without_name(n->error, n->name));
        out += '\n';
      }
    }
  }
  std::string counts;
  for (const auto& [status, count] : tally(report.nodes)) {
    counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", count, status);
  }
  std::string selected;
  if (report.inventory_nodes > report.nodes.size()) {
    selected = fmt::format(" (selected of {})", report.inventory_nodes);
  }
  out += fmt::format("{}: {} node{}{}{}{}\n", report.command, report.nodes.size(),
                     report.nodes.size() == 1 ? "" : "s", selected, counts.empty() ? "" : ": ",
                     counts);
  if (report.interrupted) out += interrupted_line(report);
  return out;
}

RenderedReport render_fleet_report(const FleetReport& report, const ReportOutput& output) {
  RenderedReport rendered{to_json(report), {}, fleet_exit_code(report.nodes, report.interrupted)};
  if (output.node_detail) {
    for (std::size_t i = 0; i < report.nodes.size(); ++i) {
      std::string detail = output.node_detail(i, report.nodes[i]);
      if (detail.empty()) continue;
      rendered.fields["nodes"][i]["detail"] = detail;
      rendered.text += fmt::format("{}: {}\n", report.nodes[i].name, detail);
    }
  }
  if (output.node_json) {
    for (std::size_t i = 0; i < report.nodes.size(); ++i) {
      nlohmann::ordered_json fields = output.node_json(i, report.nodes[i]);
      if (!fields.is_object()) continue;
      for (auto& [key, value] : fields.items()) rendered.fields["nodes"][i][key] = std::move(value);
    }
  }
  if (!output.local_json.is_null()) rendered.fields["local"] = output.local_json;
  rendered.text += output.local_note + format_summary(report);
  if (rendered.code == ExitCode::ok && output.local_failed) rendered.code = ExitCode::failure;
  return rendered;
}

ProgressLine::ProgressLine(std::string label)
    : ProgressLine(std::move(label), STDERR_FILENO, ::isatty(STDERR_FILENO) == 1) {}

ProgressLine::ProgressLine(std::string label, int fd, bool enabled)
    : label_(std::move(label)), fd_(fd), enabled_(enabled) {}

void ProgressLine::update(const FleetProgress& progress) {
  if (!enabled_) return;
  // \r and "erase line": the next update overwrites this one in place.
  std::string line = fmt::format("\r\033[K{}: {}/{} done, {} failed, {} running, {}s", label_,
                                 progress.done, progress.total, progress.failed, progress.running,
                                 progress.elapsed.count() / 1000);
  [[maybe_unused]] auto written = ::write(fd_, line.data(), line.size());
  shown_ = true;
}

void ProgressLine::clear() {
  if (!enabled_ || !shown_) return;
  constexpr std::string_view erase = "\r\033[K";
  [[maybe_unused]] auto written = ::write(fd_, erase.data(), erase.size());
  shown_ = false;
}

}  // namespace kf
