#include <array>
#include <cstring>

#include "bundle/age_format.hpp"

namespace kf::age {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_decode_table() {
  std::array<std::int8_t, 256> table{};
  table.fill(-1);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i)
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  return table;
}
constexpr auto kDecode = make_decode_table();

constexpr std::string_view kMagic = "age-encryption.org/";
constexpr std::string_view kArmorBegin = "-----BEGIN AGE ENCRYPTED FILE-----";
constexpr std::size_t kMacBase64Size = 43;
// Far more than any real file has; without a cap, 64 MiB of tiny stanzas would cost gigabytes.
constexpr std::size_t kMaxStanzas = 256;
constexpr std::size_t kMaxArguments = 64;

// Walks the header one LF-terminated line at a time; a line without its LF means the input ended.
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}

  std::optional<std::string_view> next() {
    ++number_;
    std::size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) return std::nullopt;
    start_ = pos_;
    pos_ = end + 1;
    return text_.substr(start_, end - start_);
  }
  [[nodiscard]] std::size_t start() const { return start_; }
  [[nodiscard]] std::size_t end() const { return pos_; }
  [[nodiscard]] int number() const { return number_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t start_ = 0;
  int number_ = 0;
};

std::unexpected<Error> bad_line(const Lines& lines, std::string_view why) {
  return fail(ExitCode::integrity, "invalid age header: line {}: {}", lines.number(), why);
}

// Untrusted text for a message: printable ASCII only, cut short.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 32)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 32) out += "...";
  return out;
}

Result<Stanza> parse_stanza(std::string_view arg_line, Lines& lines) {
  if (!arg_line.starts_with("-> ")) return bad_line(lines, "a stanza must start with \"-> \"");
  Stanza stanza;
  std::string_view rest = arg_line.substr(3);
  while (true) {
    std::size_t space = rest.find(' ');
    std::string_view arg = rest.substr(0, space);
    if (arg.empty())
      return bad_line(lines, "empty stanza argument (no argument, or two spaces in a row)");
    for (char c : arg)
      if (c < 0x21 || c > 0x7e)
        return bad_line(lines, "a stanza argument holds a character that is not printable ASCII");
    if (stanza.args.size() == kMaxArguments)
      return bad_line(lines, fmt::format("a stanza has more than {} arguments", kMaxArguments));
    stanza.args.emplace_back(arg);
    if (space == std::string_view::npos) break;
    rest.remove_prefix(space + 1);
  }
  // The body is wrapped at 64 columns and always ends with a shorter (possibly empty) line.
  while (true) {
    auto line = lines.next();
    if (!line) return bad_line(lines, "the header ends inside a stanza body (truncated)");
    if (line->size() > kColumns)
      return bad_line(lines, "stanza body line is longer than 64 columns");
    auto bytes = decode_base64(*line);
    if (!bytes) return bad_line(lines, "stanza body is not canonical unpadded base64");
    stanza.body.insert(stanza.body.end(), bytes->begin(), bytes->end());
    if (line->size() < kColumns) return stanza;
  }
}

}  // namespace

std::string encode_base64(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  std::size_t left = bytes.size() - i;
  if (left == 1) {
    std::uint32_t v = bytes[i] << 16;
    for (int shift : {18, 12}) out += kAlphabet[(v >> shift) & 63];
  } else if (left == 2) {
    std::uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    for (int shift : {18, 12, 6}) out += kAlphabet[(v >> shift) & 63];
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    std::int8_t v = kDecode[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  // Canonical: the bits left over after the last whole byte must be zero, so each byte string
  // has exactly one encoding.
  if (acc != 0) return std::nullopt;
  return out;
}

Result<Header> parse_header(std::span<const std::uint8_t> file) {
  std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
  if (text.empty()) return fail(ExitCode::integrity, "not an age file: the file is empty");
  if (text.starts_with(kArmorBegin))
    return fail(ExitCode::integrity,
                "armored (PEM) age files are not supported: expected the binary format");
  if (!text.starts_with(kMagic))
    return fail(ExitCode::integrity,
                "not an age file: it does not start with \"age-encryption.org/v1\"");

  Lines lines(text);
  auto version = lines.next();
  if (!version) return bad_line(lines, "the file ends inside the version line (truncated)");
  if (version->starts_with(kVersionLine) && version->substr(kVersionLine.size()) == "\r")
    return fail(ExitCode::integrity,
                "invalid age header: lines end with CRLF (was the file converted to DOS line "
                "endings?)");
  if (*version != kVersionLine)
    return fail(ExitCode::integrity, "unsupported age format version \"{}\" (only v1 is supported)",
                printable(version->substr(kMagic.size())));

  Header header;
  while (true) {
    auto line = lines.next();
    if (!line) return bad_line(lines, "the header ends before its MAC line (truncated)");
    if (line->starts_with("---")) {
      if (line->size() != 4 + kMacBase64Size || (*line)[3] != ' ')
        return bad_line(lines, "malformed MAC line (expected \"--- \" and 43 base64 characters)");
      auto mac = decode_base64(line->substr(4));
      if (!mac || mac->size() != header.mac.size())
        return bad_line(lines, "the header MAC is not canonical unpadded base64");
      std::memcpy(header.mac.data(), mac->data(), header.mac.size());
      header.mac_input_size = lines.start() + 3;
      header.size = lines.end();
      break;
    }
    if (!line->starts_with("->"))
      return bad_line(lines, "expected a recipient stanza (\"-> \") or the MAC line (\"--- \")");
    if (header.stanzas.size() == kMaxStanzas)
      return bad_line(lines, fmt::format("more than {} recipient stanzas", kMaxStanzas));
    KF_TRY_ASSIGN(Stanza stanza, parse_stanza(*line, lines));
    header.stanzas.push_back(std::move(stanza));
  }
  if (header.stanzas.empty())
    return fail(ExitCode::integrity, "invalid age header: it has no recipient stanza");
  return header;
}

std::string format_header_until_mac(std::span<const Stanza> stanzas) {
  std::string out(kVersionLine);
  out += '\n';
  for (const Stanza& stanza : stanzas) {
    out += "->";
    for (const std::string& arg : stanza.args) {
      out += ' ';
      out += arg;
    }
    out += '\n';
    std::string body = encode_base64(stanza.body);
    for (std::size_t i = 0;; i += kColumns) {
      std::string_view line = std::string_view(body).substr(i, kColumns);
      out += line;
      out += '\n';
      if (line.size() < kColumns) break;
    }
  }
  out += "---";
  return out;
}

}  // namespace kf::age
