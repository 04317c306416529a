#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kf {

// Text that came from outside -- a node's hook output, file and link names, a remote's error
// string, an archive's entry names -- made safe to print on a terminal or in a log: nothing in it
// can move the cursor, change colours, start a new line that looks like ours, or reorder what
// follows. Valid, printable UTF-8 is kept as it is; everything else is a C-style escape:
//   \\  \n  \r  \t         the backslash itself and the common control characters
//   \xHH                   any other C0 control, DEL, and each byte that is not valid UTF-8
//   \uXXXX                 a valid code point that is not printable: C1 controls, bidirectional
//                          formatting (U+202E...), line and paragraph separators
// With `max_bytes`, at most that many bytes of `text` are shown (never half a character), then
// "..." when something was left out.
std::string escape_untrusted(std::string_view text, std::size_t max_bytes = std::string_view::npos);

}  // namespace kf
