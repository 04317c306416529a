#include <gtest/gtest.h>

#include "core/escape.hpp"

namespace kf {
namespace {

using namespace std::string_literals;

TEST(EscapeUntrusted, PrintableTextIsKept) {
  EXPECT_EQ(escape_untrusted(""), "");
  EXPECT_EQ(escape_untrusted("node1: /srv/keys/agent.crt (0600) 'quoted' \"too\""),
            "node1: /srv/keys/agent.crt (0600) 'quoted' \"too\"");
  EXPECT_EQ(escape_untrusted("Grüße, 東京, emoji \xf0\x9f\x94\x91"),
            "Grüße, 東京, emoji \xf0\x9f\x94\x91");
}

TEST(EscapeUntrusted, ControlCharactersAndTheBackslashAreCEscapes) {
  EXPECT_EQ(escape_untrusted("a\nb\tc\rd\\e"), "a\\nb\\tc\\rd\\\\e");
  // A terminal escape sequence: clear the screen, then pretend success.
  EXPECT_EQ(escape_untrusted("\x1b[2J\x1b[32mOK"), "\\x1b[2J\\x1b[32mOK");
  EXPECT_EQ(escape_untrusted("nul\0bell\a del\x7f"s), "nul\\x00bell\\x07 del\\x7f");
  // What escaping produces is itself plain: escaping it again only doubles the backslashes.
  EXPECT_EQ(escape_untrusted(escape_untrusted("\x1b")), "\\\\x1b");
}

TEST(EscapeUntrusted, InvalidUtf8BytesAreEscapedOneByOne) {
  EXPECT_EQ(escape_untrusted("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(escape_untrusted("Latin-1 caf\xe9!"), "Latin-1 caf\\xe9!");
  EXPECT_EQ(escape_untrusted("\xc3"), "\\xc3");                             // truncated sequence
  EXPECT_EQ(escape_untrusted("\xc3("), "\\xc3(");                           // bad continuation
  EXPECT_EQ(escape_untrusted("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(escape_untrusted("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");           // overlong, 3 bytes
  EXPECT_EQ(escape_untrusted("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // a UTF-16 surrogate
  EXPECT_EQ(escape_untrusted("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  EXPECT_EQ(escape_untrusted("\x80ok"), "\\x80ok");  // lone continuation byte
  // The largest valid code points of each length stay.
  EXPECT_EQ(escape_untrusted("\xdf\xbf\xef\xbf\xbd\xf4\x8f\xbf\xbf"),
            "\xdf\xbf\xef\xbf\xbd\xf4\x8f\xbf\xbf");
}

TEST(EscapeUntrusted, InvisibleCodePointsAreNamed) {
  EXPECT_EQ(escape_untrusted("\xc2\x9b"
                             "31m"),
            "\\u009b31m");  // C1 CSI
  EXPECT_EQ(escape_untrusted("file\xe2\x80\xae"
                             "txt.sh"),
            "file\\u202etxt.sh");  // right-to-left override
  EXPECT_EQ(escape_untrusted("a\xe2\x80\x8b"
                             "b\xe2\x80\xa8"
                             "c\xef\xbb\xbf"),
            "a\\u200bb\\u2028c\\ufeff");
  EXPECT_EQ(escape_untrusted("tag\xf3\xa0\x80\x81"), "tag\\U000e0001");
}

TEST(EscapeUntrusted, MaxBytesCutsBetweenCharacters) {
  EXPECT_EQ(escape_untrusted("abcdef", 3), "abc...");
  EXPECT_EQ(escape_untrusted("abc", 3), "abc");
  EXPECT_EQ(escape_untrusted("abc", 0), "...");
  // "é" is two bytes: never shown half.
  EXPECT_EQ(escape_untrusted("ab\xc3\xa9", 3), "ab...");
  EXPECT_EQ(escape_untrusted("ab\xc3\xa9", 4), "ab\xc3\xa9");
  EXPECT_EQ(escape_untrusted("\n\n\n", 2), "\\n\\n...");
  EXPECT_EQ(escape_untrusted(std::string(120, 'x'), 100), std::string(100, 'x') + "...");
}

}  // namespace
}  // namespace kf
