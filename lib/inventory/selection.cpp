#include "inventory/selection.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "core/suggest.hpp"

namespace kf {

namespace {

constexpr std::size_t kMaxExpansion = 100000;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Commas inside brackets belong to a range ("node[1-3,8]").
std::vector<std::string_view> split_patterns(std::string_view text) {
  std::vector<std::string_view> out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] == '[') ++depth;
    if (i < text.size() && text[i] == ']' && depth > 0) --depth;
    if (i == text.size() || (text[i] == ',' && depth == 0)) {
      if (auto item = trim(text.substr(start, i - start)); !item.empty()) out.push_back(item);
      start = i + 1;
    }
  }
  return out;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// "1-5,8" or "01-10": numbers and number ranges only.
bool is_range_list(std::string_view inside) {
  if (inside.empty()) return false;
  bool digit_before = false;
  for (char c : inside) {
    if (is_digit(c)) {
      digit_before = true;
    } else if ((c == '-' || c == ',') && digit_before) {
      digit_before = false;
    } else {
      return false;
    }
  }
  return digit_before;
}

Result<std::vector<std::string>> range_items(std::string_view inside, std::string_view pattern) {
  std::vector<std::string> items;
  for (std::size_t start = 0; start <= inside.size();) {
    auto comma = std::min(inside.find(',', start), inside.size());
    std::string_view part = inside.substr(start, comma - start);
    start = comma + 1;
    auto dash = part.find('-');
    std::string_view first = part.substr(0, dash);
    std::string_view last = dash == std::string_view::npos ? first : part.substr(dash + 1);
    if (last.find('-') != std::string_view::npos) {
      return fail(ExitCode::usage, "'{}': '{}' is not a range (write A-B)", pattern, part);
    }
    unsigned long long a = 0, b = 0;
    auto [end_a, ec_a] = std::from_chars(first.data(), first.data() + first.size(), a);
    auto [end_b, ec_b] = std::from_chars(last.data(), last.data() + last.size(), b);
    if (ec_a != std::errc{} || ec_b != std::errc{}) {
      return fail(ExitCode::usage, "'{}': '{}' is too large a number", pattern, part);
    }
    if (a > b) return fail(ExitCode::usage, "'{}': '{}' ends before it starts", pattern, part);
    if (b - a >= kMaxExpansion || items.size() + (b - a) >= kMaxExpansion) {
      return fail(ExitCode::usage, "'{}': more than {} names", pattern, kMaxExpansion);
    }
    // node[01-10]: the width of a zero-padded start is kept (as pdsh and ClusterShell do).
    std::size_t width = first.size() > 1 && first[0] == '0' ? first.size() : 0;
    for (unsigned long long n = a; n <= b; ++n) items.push_back(fmt::format("{:0{}}", n, width));
  }
  return items;
}

Result<void> expand_into(std::string_view pattern, std::string_view original,
                         std::vector<std::string>& out) {
  for (std::size_t open = pattern.find('['); open != std::string_view::npos;
       open = pattern.find('[', open + 1)) {
    auto close = pattern.find(']', open);
    if (close == std::string_view::npos) break;
    std::string_view inside = pattern.substr(open + 1, close - open - 1);
    if (!is_range_list(inside)) continue;  // an fnmatch class such as [ab]
    KF_TRY_ASSIGN(auto items, range_items(inside, original));
    for (const std::string& item : items) {
      std::string next =
          fmt::format("{}{}{}", pattern.substr(0, open), item, pattern.substr(close + 1));
      KF_CHECK(expand_into(next, original, out));
      if (out.size() > kMaxExpansion) {
        return fail(ExitCode::usage, "'{}': more than {} names", original, kMaxExpansion);
      }
    }
    return {};
  }
  out.emplace_back(pattern);
  return {};
}

bool has_glob(std::string_view word) {
  return word.find_first_of("*?[") != std::string_view::npos;
}

bool matches(std::string_view word, const std::string& name) {
  if (!has_glob(word)) return word == name;
  return ::fnmatch(std::string(word).c_str(), name.c_str(), 0) == 0;
}

struct Pattern {
  std::string_view text;    // as written, for messages
  std::string_view option;  // "--limit" or "--exclude"
  bool exclude = false;
};

std::string no_match_message(const Pattern& pattern, const Inventory& inventory) {
  std::string_view body = pattern.text;
  if (body.starts_with('!')) body.remove_prefix(1);
  std::vector<std::string_view> candidates;
  std::set<std::string_view> groups;
  bool group = body.starts_with('@');
  for (const NodeConfig& node : inventory.nodes) {
    if (group) {
      for (const std::string& g : node.groups) {
        if (groups.insert(g).second) candidates.push_back(g);
      }
    } else {
      candidates.push_back(node.name);
    }
  }
  std::string message =
      fmt::format("{} '{}' matches no node of {}", pattern.option, pattern.text, inventory.origin);
  std::string_view word = group ? body.substr(1) : body;
  if (auto guess = closest_match(word, candidates)) {
    message += fmt::format(" (did you mean '{}{}'?)", group ? "@" : "", *guess);
  } else if (group) {
    message += candidates.empty() ? std::string(" (no node has groups)")
                                  : fmt::format(" (groups: {})", fmt::join(candidates, ", "));
  }
  return message;
}

// The indexes of the nodes `pattern` matches.
Result<std::vector<std::size_t>> match_pattern(const Pattern& pattern, const Inventory& inventory) {
  std::string_view body = pattern.text;
  if (body.starts_with('!')) body.remove_prefix(1);
  bool group = body.starts_with('@');
  if (group) body.remove_prefix(1);
  if (body.empty()) {
    return fail(ExitCode::usage, "{} '{}': empty pattern", pattern.option, pattern.text);
  }
  auto words = expand_node_ranges(body);
  if (!words) {
    return fail(ExitCode::usage, "{} {}", pattern.option, words.error().message);
  }
  std::vector<std::size_t> found;
  for (std::size_t i = 0; i < inventory.nodes.size(); ++i) {
    const NodeConfig& node = inventory.nodes[i];
    bool hit = std::ranges::any_of(*words, [&](const std::string& word) {
      if (!group) return matches(word, node.name);
      return std::ranges::any_of(node.groups, [&](const auto& g) { return matches(word, g); });
    });
    if (hit) found.push_back(i);
  }
  if (found.empty()) return fail(ExitCode::usage, "{}", no_match_message(pattern, inventory));
  return found;
}

}  // namespace

Result<std::vector<std::string>> expand_node_ranges(std::string_view pattern) {
  std::vector<std::string> out;
  KF_CHECK(expand_into(pattern, pattern, out));
  return out;
}

Result<Selection> select_nodes(const Inventory& inventory, std::string_view limit,
                               std::string_view exclude) {
  std::vector<Pattern> patterns;
  for (auto text : split_patterns(limit)) {
    patterns.push_back({text, "--limit", text.starts_with('!')});
  }
  for (auto text : split_patterns(exclude)) {
    if (text.starts_with('!')) {
      return fail(ExitCode::usage,
                  "--exclude '{}': '!' means 'leave out' in --limit; in --exclude write the "
                  "pattern alone",
                  text);
    }
    patterns.push_back({text, "--exclude", true});
  }
  bool any_include = std::ranges::any_of(patterns, [](const Pattern& p) { return !p.exclude; });
  std::vector<bool> chosen(inventory.nodes.size(), !any_include);
  std::vector<bool> dropped(inventory.nodes.size(), false);
  for (const Pattern& pattern : patterns) {
    KF_TRY_ASSIGN(auto found, match_pattern(pattern, inventory));
    for (std::size_t i : found) (pattern.exclude ? dropped : chosen)[i] = true;
  }
  Selection selection{{}, inventory.nodes.size()};
  for (std::size_t i = 0; i < inventory.nodes.size(); ++i) {
    if (chosen[i] && !dropped[i]) selection.nodes.push_back(inventory.nodes[i]);
  }
  if (selection.nodes.empty()) {
    return fail(ExitCode::usage, "--limit '{}' and --exclude '{}' leave no node of {} to work on",
                limit, exclude, inventory.origin);
  }
  return selection;
}

}  // namespace kf
