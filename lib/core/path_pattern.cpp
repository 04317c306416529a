#include "core/path_pattern.hpp"

#include <bitset>

namespace kf {
namespace {

struct Token {
  enum Kind { literal, one, star, double_star, set } kind = literal;
  char c = 0;
  std::bitset<256> members;  // for `set`, after negation
};

Result<std::vector<Token>> tokenize(std::string_view glob, std::string_view text) {
  std::vector<Token> tokens;
  for (std::size_t i = 0; i < glob.size(); ++i) {
    char c = glob[i];
    if (c == '\\') {
      if (i + 1 == glob.size()) {
        return fail(ExitCode::usage, "pattern '{}': ends with a lone '\\'", text);
      }
      tokens.push_back({Token::literal, glob[++i], {}});
    } else if (c == '?') {
      tokens.push_back({Token::one, 0, {}});
    } else if (c == '*') {
      if (i + 1 < glob.size() && glob[i + 1] == '*') {
        while (i + 1 < glob.size() && glob[i + 1] == '*') ++i;
        tokens.push_back({Token::double_star, 0, {}});
      } else {
        tokens.push_back({Token::star, 0, {}});
      }
    } else if (c == '[') {
      Token token{Token::set, 0, {}};
      std::size_t j = i + 1;
      bool negated = j < glob.size() && (glob[j] == '!' || glob[j] == '^');
      if (negated) ++j;
      bool first = true;
      for (; j < glob.size() && (glob[j] != ']' || first); ++j, first = false) {
        auto lo = static_cast<unsigned char>(glob[j]);
        if (j + 2 < glob.size() && glob[j + 1] == '-' && glob[j + 2] != ']') {
          auto hi = static_cast<unsigned char>(glob[j + 2]);
          for (unsigned v = lo; v <= hi; ++v) token.members.set(v);
          j += 2;
        } else {
          token.members.set(lo);
        }
      }
      if (j >= glob.size()) return fail(ExitCode::usage, "pattern '{}': '[' without ']'", text);
      if (negated) token.members.flip();
      token.members.reset('/');  // a class never matches the separator, as in rsync
      tokens.push_back(token);
      i = j;
    } else {
      tokens.push_back({Token::literal, c, {}});
    }
  }
  return tokens;
}

// Dynamic programming over (token, character): no backtracking blow-up on "*a*a*a*...".
bool glob_match(std::string_view glob, std::string_view s) {
  auto tokens = tokenize(glob, glob);
  if (!tokens) return false;
  const auto& t = *tokens;
  // can[j]: tokens[i..] match s[j..]; computed from the last token backwards.
  std::vector<char> next(s.size() + 1, 0);
  std::vector<char> can(s.size() + 1, 0);
  next[s.size()] = 1;
  for (std::size_t i = t.size(); i-- > 0;) {
    const Token& tok = t[i];
    can.assign(s.size() + 1, 0);
    for (std::size_t j = s.size() + 1; j-- > 0;) {
      bool ok = false;
      switch (tok.kind) {
        case Token::star:
          ok = next[j] || (j < s.size() && s[j] != '/' && can[j + 1]);
          break;
        case Token::double_star:
          ok = next[j] || (j < s.size() && can[j + 1]);
          break;
        case Token::one:
          ok = j < s.size() && s[j] != '/' && next[j + 1];
          break;
        case Token::set:
          ok = j < s.size() && tok.members.test(static_cast<unsigned char>(s[j])) && next[j + 1];
          break;
        case Token::literal:
          ok = j < s.size() && s[j] == tok.c && next[j + 1];
          break;
      }
      can[j] = ok ? 1 : 0;
    }
    next.swap(can);
  }
  return next[0] != 0;
}

}  // namespace

Result<PathPattern> PathPattern::parse(std::string_view text) {
  PathPattern p;
  p.text_ = std::string(text);
  std::string_view glob = text;
  if (glob.starts_with('/')) {
    p.anchored_ = true;
    glob.remove_prefix(1);
  }
  if (glob.ends_with('/') && !glob.ends_with("\\/")) {
    p.directory_only_ = true;
    glob.remove_suffix(1);
  }
  if (glob.empty()) {
    return fail(ExitCode::usage, "pattern '{}': matches nothing (give a name or a glob)", text);
  }
  if (auto tokens = tokenize(glob, text); !tokens) return std::unexpected(tokens.error());
  p.glob_ = std::string(glob);
  p.whole_path_ = glob.find('/') != std::string_view::npos || glob.find("**") != std::string::npos;
  return p;
}

bool PathPattern::matches(std::string_view path, bool is_directory) const {
  if (directory_only_ && !is_directory) return false;
  if (anchored_) return glob_match(glob_, path);
  if (!whole_path_) {
    auto slash = path.rfind('/');
    return glob_match(glob_, slash == std::string_view::npos ? path : path.substr(slash + 1));
  }
  // Any trailing run of whole components.
  for (std::size_t start = 0;;) {
    if (glob_match(glob_, path.substr(start))) return true;
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) return false;
    start = slash + 1;
  }
}

bool excluded(std::span<const PathPattern> patterns, std::string_view path, bool is_directory) {
  auto any = [&](std::string_view prefix, bool dir) {
    for (const auto& p : patterns) {
      if (p.matches(prefix, dir)) return true;
    }
    return false;
  };
  for (auto slash = path.find('/'); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    if (any(path.substr(0, slash), true)) return true;
  }
  return any(path, is_directory);
}

Result<std::vector<PathPattern>> parse_patterns(std::span<const std::string> texts,
                                                std::string_view option) {
  std::vector<PathPattern> out;
  for (const auto& text : texts) {
    auto p = PathPattern::parse(text);
    if (!p) return fail(ExitCode::usage, "{}: {}", option, p.error().message);
    out.push_back(std::move(*p));
  }
  return out;
}

}  // namespace kf
