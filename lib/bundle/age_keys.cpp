#include "bundle/age_keys.hpp"

#include <unistd.h>

#include "core/files.hpp"
#include "core/time.hpp"

namespace kf::age {
namespace {

// Calls `take(line, number)` for every line that is neither a comment nor empty.
template <class Take>
Result<void> for_each_key_line(std::string_view text, Take take) {
  int number = 0;
  while (!text.empty()) {
    ++number;
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty() || line.starts_with('#')) continue;
    KF_CHECK(take(line, number));
  }
  return {};
}

// A key file the operator named that cannot be used is a usage error, whatever the reason.
Error in_file(Error error, std::string_view kind, const boost::filesystem::path& path) {
  error.code = ExitCode::usage;
  bool names_path = std::string_view(error.message).starts_with(path.string() + ":");
  error.message = fmt::format("{}{} {}", kind, names_path ? "" : ":", error.message);
  return error;
}

}  // namespace

Result<std::vector<X25519Identity>> parse_identity_file(std::span<const std::uint8_t> text,
                                                        std::string_view name) {
  std::vector<X25519Identity> out;
  std::string_view view(reinterpret_cast<const char*>(text.data()), text.size());
  KF_CHECK(for_each_key_line(view, [&](std::string_view line, int number) -> Result<void> {
    auto identity = parse_identity(line);
    if (!identity)
      return fail(ExitCode::usage, "identity file {}:{}: {}", name, number,
                  identity.error().message);
    out.push_back(std::move(*identity));
    return {};
  }));
  if (out.empty())
    return fail(ExitCode::usage, "identity file {} holds no identity (AGE-SECRET-KEY-1...)", name);
  return out;
}

Result<std::vector<X25519Identity>> read_identity_file(const boost::filesystem::path& path) {
  auto text = read_private_file(path, kMaxKeyFileSize);
  if (!text) return std::unexpected(in_file(text.error(), "identity file", path));
  return parse_identity_file(*text, path.string());
}

Result<std::vector<X25519Recipient>> parse_recipients_file(std::string_view text,
                                                           std::string_view name) {
  std::vector<X25519Recipient> out;
  KF_CHECK(for_each_key_line(text, [&](std::string_view line, int number) -> Result<void> {
    auto recipient = parse_recipient(line);
    if (!recipient)
      return fail(ExitCode::usage, "recipients file {}:{}: {}", name, number,
                  recipient.error().message);
    out.push_back(*recipient);
    return {};
  }));
  if (out.empty())
    return fail(ExitCode::usage, "recipients file {} holds no recipient (age1...)", name);
  return out;
}

Result<std::vector<X25519Recipient>> read_recipients_file(const boost::filesystem::path& path) {
  auto text = read_file(path, kMaxKeyFileSize);
  if (!text) return std::unexpected(in_file(text.error(), "recipients file", path));
  return parse_recipients_file(
      std::string_view(reinterpret_cast<const char*>(text->data()), text->size()), path.string());
}

Result<SecretString> identity_file_text(const X25519Identity& identity, std::time_t created) {
  KF_TRY_ASSIGN(SecretString key, format_identity(identity));
  SecretString out;
  out.reserve(256);  // no reallocation, so no stray copies of the key
  out.append(fmt::format("# created: {}\n", rfc3339_utc(created)));
  out.append(fmt::format("# public key: {}\n", format_recipient(recipient_of(identity))));
  out.append(key.view());
  out.push_back('\n');
  return out;
}

Result<void> write_identity_file(const boost::filesystem::path& path,
                                 const X25519Identity& identity, std::time_t created) {
  KF_TRY_ASSIGN(SecretString text, identity_file_text(identity, created));
  auto written = write_new_file(path, as_bytes(text.view()), 0600);
  if (!written) {
    // Only what this call created is removed: an existing file was never opened.
    if (written.error().code != ExitCode::refused) ::unlink(path.c_str());
    return written;
  }
  return fsync_dir(path.parent_path().empty() ? boost::filesystem::path(".") : path.parent_path());
}

}  // namespace kf::age
