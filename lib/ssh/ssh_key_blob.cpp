#include "ssh/ssh_key_blob.hpp"

#include <algorithm>
#include <array>

namespace kf::ssh_key {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  auto at = kAlphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

struct KeyType {
  std::string_view name;
  std::size_t fields;          // SSH strings after the type name
  std::string_view curve;      // ECDSA: the first field must name this curve
  std::size_t first_size = 0;  // Ed25519: the first field's exact size
};

constexpr std::array<KeyType, 8> kKeyTypes = {{
    {"ssh-ed25519", 1, "", 32},
    {"ssh-rsa", 2, ""},
    {"ecdsa-sha2-nistp256", 2, "nistp256"},
    {"ecdsa-sha2-nistp384", 2, "nistp384"},
    {"ecdsa-sha2-nistp521", 2, "nistp521"},
    {"ssh-dss", 4, ""},
    {"sk-ecdsa-sha2-nistp256@openssh.com", 3, "nistp256"},
    {"sk-ssh-ed25519@openssh.com", 2, "", 32},
}};

const KeyType* find_key_type(std::string_view name) {
  for (const auto& t : kKeyTypes) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

class BlobReader {
 public:
  explicit BlobReader(std::span<const std::uint8_t> blob) : rest_(blob) {}
  std::optional<std::span<const std::uint8_t>> string() {
    if (rest_.size() < 4) return std::nullopt;
    std::uint32_t n = (std::uint32_t{rest_[0]} << 24) | (std::uint32_t{rest_[1]} << 16) |
                      (std::uint32_t{rest_[2]} << 8) | std::uint32_t{rest_[3]};
    if (rest_.size() - 4 < n) return std::nullopt;
    auto s = rest_.subspan(4, n);
    rest_ = rest_.subspan(4 + n);
    return s;
  }
  [[nodiscard]] bool done() const { return rest_.empty(); }

 private:
  std::span<const std::uint8_t> rest_;
};

std::string_view as_text(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void put_string(Bytes& out, std::span<const std::uint8_t> s) {
  auto n = static_cast<std::uint32_t>(s.size());
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<std::uint8_t>(n >> shift));
  out.insert(out.end(), s.begin(), s.end());
}

}  // namespace

std::string encode_base64(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
    std::uint32_t group = std::uint32_t{bytes[i]} << 16;
    if (n > 1) group |= std::uint32_t{bytes[i + 1]} << 8;
    if (n > 2) group |= bytes[i + 2];
    for (std::size_t k = 0; k < 4; ++k) {
      out += k <= n ? kAlphabet[(group >> (18 - 6 * k)) & 0x3f] : '=';
    }
  }
  return out;
}

std::optional<Bytes> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && text.size() > padding && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  Bytes out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t bits = 0;
  int held = 0;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    int v = sextet(text[i]);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    held += 6;
    if (held >= 8) {
      held -= 8;
      out.push_back(static_cast<std::uint8_t>(bits >> held));
    }
  }
  // What is left over must be zero bits, and no more than padding accounts for.
  if ((bits & ((1u << held) - 1)) != 0) return std::nullopt;
  return out;
}

std::optional<std::string> certified_type(std::string_view name) {
  constexpr std::string_view suffix = "-cert-v01@openssh.com";
  if (!name.ends_with(suffix)) return std::nullopt;
  std::string plain(name.substr(0, name.size() - suffix.size()));
  if (plain.starts_with("sk-")) plain += "@openssh.com";  // sk-ssh-ed25519-cert-v01@openssh.com
  if (find_key_type(plain) == nullptr) return std::nullopt;
  return plain;
}

std::optional<PublicKey> read_blob(std::string_view name, std::span<const std::uint8_t> blob) {
  BlobReader in(blob);
  auto inner = in.string();
  if (!inner || as_text(*inner) != name) return std::nullopt;
  auto plain = certified_type(name);
  const KeyType* type = find_key_type(plain ? *plain : name);
  if (type == nullptr) return std::nullopt;
  if (plain && !in.string()) return std::nullopt;  // the certificate's nonce
  PublicKey key{std::string(type->name), {}, plain.has_value()};
  put_string(key.blob, std::span(reinterpret_cast<const std::uint8_t*>(type->name.data()),
                                 type->name.size()));
  for (std::size_t i = 0; i < type->fields; ++i) {
    auto field = in.string();
    if (!field) return std::nullopt;
    if (i == 0 && !type->curve.empty() && as_text(*field) != type->curve) return std::nullopt;
    if (i == 0 && type->first_size != 0 && field->size() != type->first_size) return std::nullopt;
    put_string(key.blob, *field);
  }
  // A certificate goes on (serial, principals, signature...): only its key is of use here.
  if (!plain && !in.done()) return std::nullopt;
  return key;
}

}  // namespace kf::ssh_key
