#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/inventory_options.hpp"

namespace kf::cli {

namespace {

struct ShowArgs {
  InventoryOptions inventory;
};

constexpr std::string_view kExamples =
    "Examples:\n"
    "  keyfleet inventory show --inventory fleet.toml\n"
    "  keyfleet inventory show --inventory hosts.ini --limit '@web,!web3'\n"
    "  keyfleet inventory show --inventory hosts.yml --limit 'node[01-10]' --exclude node07\n"
    "  keyfleet inventory show --inventory fleet.toml --ssh-config ~/.ssh/fleet_config --json\n"
    "\n"
    "Reads the inventory (keyfleet's TOML, or an Ansible INI or YAML inventory) and the\n"
    "ssh_config as push, verify, cleanup and rollback do, applies --limit and --exclude, and\n"
    "prints every node with every setting it resolved to and where each value came from: a\n"
    "FILE:LINE of the inventory or the ssh_config, or keyfleet's default. It connects to\n"
    "nothing. With --json, one document (docs/json.md), also when the inventory is refused.\n\n";

nlohmann::ordered_json null_if_empty(const std::string& text) {
  return text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(text);
}

std::vector<std::string> runtime_texts(const NodeConfig& node) {
  std::vector<std::string> out;
  out.reserve(node.runtime_files.size());
  for (const auto& pattern : node.runtime_files) out.push_back(pattern.text());
  return out;
}

nlohmann::ordered_json to_json(const NodeConfig& node) {
  nlohmann::ordered_json jump = nlohmann::ordered_json::array();
  for (const JumpHost& hop : node.jump) {
    jump.push_back({{"alias", hop.alias},
                    {"host", hop.host},
                    {"port", hop.port},
                    {"user", hop.user},
                    {"identity_file", null_if_empty(hop.identity_file)}});
  }
  nlohmann::ordered_json origins = nlohmann::ordered_json::object();
  for (const auto& [key, origin] : node.origins) origins[key] = origin;
  return {
      {"name", node.name},
      {"host", node.host},
      {"alias", node.alias},
      {"port", node.port},
      {"user", node.user},
      {"become", null_if_empty(node.become)},
      {"identity_file", null_if_empty(node.identity_file)},
      {"known_hosts", node.known_hosts},
      {"dest", node.dest},
      {"staging", node.staging},
      {"connect_timeout", node.connect_timeout},
      {"timeout", node.timeout},
      {"lock_timeout", node.lock_timeout},
      {"keep", node.keep},
      {"layout", to_string(node.layout)},
      {"runtime_files", runtime_texts(node)},
      {"owner", null_if_empty(node.owner)},
      {"group", null_if_empty(node.group)},
      {"pre", null_if_empty(node.pre)},
      {"post", null_if_empty(node.post)},
      {"check", null_if_empty(node.check)},
      {"sans", node.sans},
      {"groups", node.groups},
      {"jump", std::move(jump)},
      {"probe",
       node.probe ? nlohmann::ordered_json({{"host", node.probe->host}, {"port", node.probe->port}})
                  : nlohmann::ordered_json(nullptr)},
      {"ssh_config", null_if_empty(node.ssh_config)},
      {"origins", std::move(origins)},
  };
}

std::string_view format_name(InventoryFormat format) {
  switch (format) {
    case InventoryFormat::toml:
      return "toml";
    case InventoryFormat::ansible_ini:
      return "ansible-ini";
    case InventoryFormat::ansible_yaml:
      return "ansible-yaml";
  }
  return "toml";
}

// Hooks may hold newlines and tabs: one line per value on the terminal.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out;
}

void print_text(std::ostream& out, const Inventory& inventory, const Selection& selection) {
  out << fmt::format("{}: {} ({}), {} of {} node{}; ssh_config: {}\n", inventory.origin,
                     format_name(inventory.format), inventory.nodes.size(), selection.nodes.size(),
                     selection.total, selection.total == 1 ? "" : "s",
                     inventory.ssh_config.empty() ? "none" : inventory.ssh_config);
  for (const NodeConfig& node : selection.nodes) {
    out << '\n' << node.name << '\n';
    auto row = [&](std::string_view key, const std::string& value) {
      auto it = node.origins.find(key);
      std::string from = it == node.origins.end() ? "default" : it->second;
      out << fmt::format("  {:<16}{:<40} {}\n", key, value.empty() ? "-" : one_line(value), from);
    };
    auto list = [](const std::vector<std::string>& items) {
      return fmt::format("{}", fmt::join(items, ", "));
    };
    std::string jump;
    for (const JumpHost& hop : node.jump) {
      jump += fmt::format("{}{}@{}:{}", jump.empty() ? "" : ", ", hop.user, hop.host, hop.port);
    }
    row("host",
        node.host == node.alias ? node.host : fmt::format("{} (alias {})", node.host, node.alias));
    row("port", std::to_string(node.port));
    row("user", node.user);
    row("become", node.become.empty() ? "(none)" : node.become);
    row("identity_file", node.identity_file.empty() ? "(ssh-agent)" : node.identity_file);
    row("known_hosts", node.known_hosts);
    row("jump", jump.empty() ? "(direct)" : jump);
    if (node.probe) row("probe", fmt::format("{}:{}", node.probe->host, node.probe->port));
    row("dest", node.dest);
    row("staging", node.staging);
    row("connect_timeout", std::to_string(node.connect_timeout));
    row("timeout", std::to_string(node.timeout));
    row("lock_timeout", std::to_string(node.lock_timeout));
    row("keep", std::to_string(node.keep));
    row("layout", std::string(to_string(node.layout)));
    row("runtime_files", list(runtime_texts(node)));
    row("owner", node.owner.empty() && node.group.empty()
                     ? "(the SSH user)"
                     : fmt::format("{}:{}", node.owner.empty() ? "(SSH user)" : node.owner,
                                   node.group.empty() ? "(its group)" : node.group));
    row("pre", node.pre);
    row("post", node.post);
    row("check", node.check);
    row("sans", list(node.sans));
    row("groups", list(node.groups));
  }
}

Result<int> run_show(const ShowArgs& args, Output& out) {
  out.set({{"inventory", args.inventory.inventory},
           {"warnings", nlohmann::ordered_json::array()},
           {"nodes", nlohmann::ordered_json::array()}});
  Inventory inventory;
  KF_TRY_ASSIGN(Selection selection, load_selection(args.inventory, &inventory));
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  for (const NodeConfig& node : selection.nodes) nodes.push_back(to_json(node));
  out.set({{"format", format_name(inventory.format)},
           {"ssh_config", null_if_empty(inventory.ssh_config)},
           {"selected", selection.nodes.size()},
           {"total", selection.total},
           {"warnings", inventory.warnings},
           {"nodes", std::move(nodes)}});
  print_text(out.text(), inventory, selection);
  return 0;
}

}  // namespace

Action setup_inventory(CLI::App& sub) {
  sub.require_subcommand(0, 1);  // none: the Action says which one is missing
  auto args = std::make_shared<ShowArgs>();
  CLI::App* show = sub.add_subcommand(
      "show", "Print every node with the settings keyfleet resolved for it, and where from");
  add_inventory_options(*show, args->inventory);
  show->footer(std::string(kExamples) + sub.get_footer());
  return [args, show](Output& out) -> Result<int> {
    if (show->parsed()) return run_show(*args, out);
    return fail(ExitCode::usage,
                "'inventory' needs a command: keyfleet inventory show --inventory FILE (see "
                "'keyfleet inventory --help')");
  };
}

}  // namespace kf::cli
