// Ansible's INI inventory (ansible/plugins/inventory/ini.py): [group], [group:vars] and
// [group:children] sections; host lines "NAME[:PORT] [key=value ...]" with ranges in NAME.
#include <algorithm>

#include "inventory/ansible.hpp"
#include "inventory/readers.hpp"

namespace kf::inventory {

namespace fs = boost::filesystem;

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// POSIX shlex with comments, as ini.py splits host lines.
Result<std::vector<std::string>> shell_words(std::string_view line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    if (std::isspace(static_cast<unsigned char>(line[i]))) {
      ++i;
      continue;
    }
    if (line[i] == '#') break;
    std::string word;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) {
      char c = line[i++];
      if (c == '\'') {
        auto close = line.find('\'', i);
        if (close == std::string_view::npos) return fail(ExitCode::usage, "unterminated quote");
        word += line.substr(i, close - i);
        i = close + 1;
      } else if (c == '"') {
        for (;; ++i) {
          if (i >= line.size()) return fail(ExitCode::usage, "unterminated quote");
          if (line[i] == '"') break;
          if (line[i] == '\\' && i + 1 < line.size() &&
              std::string_view("\\\"$`").contains(line[i + 1]))
            ++i;
          word += line[i];
        }
        ++i;
      } else if (c == '\\' && i < line.size()) {
        word += line[i++];
      } else {
        word += c;
      }
    }
    words.push_back(std::move(word));
  }
  return words;
}

std::string unquote(std::string_view value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front()) {
    value = value.substr(1, value.size() - 2);
  }
  return std::string(value);
}

struct Section {
  std::string group = "ungrouped";  // hosts before the first header
  std::string kind = "hosts";       // "hosts", "vars" or "children"
};

Result<Section> parse_header(std::string_view line, std::string_view origin, unsigned number) {
  auto close = line.find(']');
  std::string_view after = close == std::string_view::npos ? "" : trim(line.substr(close + 1));
  if (close == std::string_view::npos || (!after.empty() && after[0] != '#' && after[0] != ';')) {
    return fail(ExitCode::usage,
                "{}:{}: invalid section header '{}': write [GROUP], [GROUP:vars] "
                "or [GROUP:children]",
                origin, number, line);
  }
  std::string_view inside = line.substr(1, close - 1);
  Section section;
  auto colon = inside.find(':');
  section.group = std::string(inside.substr(0, colon));
  section.kind = colon == std::string_view::npos ? "hosts" : std::string(inside.substr(colon + 1));
  if (section.kind != "hosts" && section.kind != "vars" && section.kind != "children") {
    return fail(ExitCode::usage,
                "{}:{}: invalid section '[{}]': the suffix may be ':vars' or "
                ":children'",
                origin, number, inside);
  }
  if (section.group.empty() ||
      std::ranges::any_of(section.group, [](unsigned char c) { return std::isspace(c) != 0; })) {
    return fail(ExitCode::usage, "{}:{}: invalid group name in '{}'", origin, number, line);
  }
  return section;
}

Result<void> host_line(std::string_view line, const Section& section, std::string_view origin,
                       unsigned number, AnsibleInventory& inventory) {
  auto words = shell_words(line);
  if (!words) return fail(ExitCode::usage, "{}:{}: {}", origin, number, words.error().message);
  if (words->empty()) return {};
  std::string pattern = words->front();
  std::vector<AnsibleVar> vars;
  // "host:port", not an IPv6 address (whose colons are many).
  if (auto colon = pattern.rfind(':');
      colon != std::string::npos && pattern.find(':') == colon && colon + 1 < pattern.size() &&
      std::ranges::all_of(pattern.substr(colon + 1), [](char c) { return c >= '0' && c <= '9'; })) {
    vars.push_back({"ansible_port", string_value(pattern.substr(colon + 1), number, true)});
    pattern.resize(colon);
  }
  for (std::size_t i = 1; i < words->size(); ++i) {
    const std::string& word = (*words)[i];
    auto eq = word.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail(ExitCode::usage, "{}:{}: '{}' after host '{}': expected key=value", origin,
                  number, word, pattern);
    }
    vars.push_back({word.substr(0, eq), string_value(word.substr(eq + 1), number, true)});
  }
  auto names = expand_ansible_ranges(pattern);
  if (!names) {
    return fail(ExitCode::usage, "{}:{}: host {}", origin, number, names.error().message);
  }
  for (const std::string& name : *names) {
    AnsibleHost& host = inventory.add_host(section.group, name, number);
    host.vars.insert(host.vars.end(), vars.begin(), vars.end());
  }
  return {};
}

}  // namespace

Result<std::vector<Draft>> read_ansible_ini(std::string_view text, std::string_view origin,
                                            const fs::path& base_dir) {
  AnsibleInventory inventory;
  Section section;
  unsigned number = 0;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = trim(text.substr(start, end - start));
    start = end + 1;
    ++number;
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      KF_TRY_ASSIGN(section, parse_header(line, origin, number));
      inventory.group(section.group, number);
      continue;
    }
    if (section.kind == "hosts") {
      KF_CHECK(host_line(line, section, origin, number, inventory));
    } else if (section.kind == "vars") {
      auto eq = line.find('=');
      if (eq == std::string_view::npos || trim(line.substr(0, eq)).empty()) {
        return fail(ExitCode::usage, "{}:{}: expected key=value in [{}:vars], got '{}'", origin,
                    number, section.group, line);
      }
      inventory.group(section.group, number)
          .vars.push_back({std::string(trim(line.substr(0, eq))),
                           string_value(unquote(trim(line.substr(eq + 1))), number, true)});
    } else {
      std::string child(line.substr(0, line.find_first_of(" \t#;")));
      inventory.group(child, number);
      auto& children = inventory.group(section.group, number).children;
      if (std::ranges::find(children, child) == children.end()) children.push_back(child);
    }
  }
  return inventory.drafts(origin, base_dir);
}

}  // namespace kf::inventory
