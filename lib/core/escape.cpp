#include "core/escape.hpp"

#include <cstdint>

#include <fmt/format.h>

namespace kf {
namespace {

bool continuation(unsigned char c) {
  return (c & 0xc0) == 0x80;
}

// The length of the well-formed UTF-8 sequence at the start of `s` (Unicode 15, table 3-7: no
// overlong forms, no surrogates, nothing past U+10FFFF), or 0.
std::size_t utf8_length(std::string_view s, char32_t& code_point) {
  auto at = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = at(0);
  if (c < 0x80) {
    code_point = c;
    return 1;
  }
  std::size_t n = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xbf;  // bounds of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) low = 0xa0;
    if (c == 0xed) high = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) low = 0x90;
    if (c == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (s.size() < n || at(1) < low || at(1) > high) return 0;
  char32_t cp = c & (0xff >> (n + 1));
  for (std::size_t i = 1; i < n; ++i) {
    if (!continuation(at(i))) return 0;
    cp = (cp << 6) | (at(i) & 0x3f);
  }
  code_point = cp;
  return n;
}

// Valid code points that print nothing or act on the text around them: C1 controls (some
// terminals take U+009B as CSI), bidirectional formatting (text shown in another order than it
// is), zero-width characters, line and paragraph separators, the BOM and invisible tags.
bool invisible(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || (cp >= 0x200b && cp <= 0x200f) ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff ||
         (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xe0000 && cp <= 0xe007f);
}

void append_byte(std::string& out, unsigned char c) {
  switch (c) {
    case '\\':
      out += "\\\\";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      if (c < 0x20 || c >= 0x7f) {
        out += fmt::format("\\x{:02x}", c);
      } else {
        out += static_cast<char>(c);
      }
  }
}

}  // namespace

std::string escape_untrusted(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    char32_t cp = 0;
    std::size_t n = utf8_length(text.substr(i), cp);
    std::size_t take = n == 0 ? 1 : n;
    if (take > max_bytes || i > max_bytes - take) break;
    if (n <= 1) {
      append_byte(out, static_cast<unsigned char>(text[i]));
    } else if (invisible(cp)) {
      out += cp <= 0xffff ? fmt::format("\\u{:04x}", static_cast<std::uint32_t>(cp))
                          : fmt::format("\\U{:08x}", static_cast<std::uint32_t>(cp));
    } else {
      out.append(text.substr(i, n));
    }
    i += take;
  }
  if (i < text.size()) out += "...";
  return out;
}

}  // namespace kf
