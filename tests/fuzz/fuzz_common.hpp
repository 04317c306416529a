#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

// What the fuzz targets and their seeds share: the CCTV vectors' passphrase and file key, so that
// the vendored vectors are valid seeds too, and a work factor limit that keeps scrypt cheap.
namespace kf::fuzz {

inline constexpr std::string_view kPassphrase = "password";
inline constexpr std::array<std::uint8_t, 16> kFileKey = {'Y', 'E', 'L', 'L', 'O', 'W', ' ', 'S',
                                                          'U', 'B', 'M', 'A', 'R', 'I', 'N', 'E'};
// Seeds use 2; anything above 4 is refused before scrypt runs, or the fuzzer would spend its
// time (and up to 4 GiB) in the KDF.
inline constexpr int kSeedWorkFactor = 2;
inline constexpr int kMaxWorkFactor = 4;

// Stops the run (libFuzzer reports it as a crash with the input) when an invariant is broken.
[[noreturn]] void invariant_failed(const char* what);

inline void check(bool ok, const char* what) {
  if (!ok) invariant_failed(what);
}

}  // namespace kf::fuzz
