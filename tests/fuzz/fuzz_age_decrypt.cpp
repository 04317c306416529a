// Fuzzes the age reader: header parsing, the scrypt stanza, the header MAC and STREAM.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bundle/age.hpp"
#include "bundle/age_format.hpp"
#include "fuzz_common.hpp"

using namespace kf;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> file(data, size);

  if (size <= 256) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto bytes = age::decode_base64(text))
      fuzz::check(age::encode_base64(*bytes) == text, "base64 has a second encoding of a value");
  }

  if (auto header = age::parse_header(file)) {
    // Only canonical headers parse, so formatting what was read must give back the same bytes.
    std::string again = age::format_header_until_mac(header->stanzas);
    fuzz::check(
        again.size() == header->mac_input_size && std::equal(again.begin(), again.end(), data),
        "a parsed header does not format back to its own bytes");
    fuzz::check(header->mac_input_size < header->size && header->size <= size,
                "header sizes out of bounds");
  }

  auto info = age::inspect_header(file);
  auto plaintext = age::decrypt_scrypt(file, fuzz::kPassphrase, fuzz::kMaxWorkFactor);
  if (plaintext) {
    fuzz::check(info && info->work_factor <= fuzz::kMaxWorkFactor,
                "decrypted a file that inspect_header refuses or that is above the limit");
    fuzz::check(info->header_size + info->payload_size == size, "inspect_header sizes");
    auto expected = age::check_payload_layout(info->payload_size);
    fuzz::check(expected && *expected == plaintext->size(), "plaintext size");
  } else {
    fuzz::check(plaintext.error().code == ExitCode::integrity, "a bad file is not exit code 3");
  }

  // Below the scrypt recipient, with the file key the seeds were sealed with.
  auto opened = age::open_with_file_key(file, fuzz::kFileKey);
  if (!opened) {
    fuzz::check(opened.error().code == ExitCode::integrity, "a bad file is not exit code 3");
  } else if (plaintext) {
    fuzz::check(std::equal(opened->begin(), opened->end(), plaintext->begin(), plaintext->end()),
                "the two paths decrypt differently");
  }
  return 0;
}
