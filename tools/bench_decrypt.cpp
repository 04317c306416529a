// Times the opening of one bundle in memory, as push does it (decrypt, authenticate every chunk,
// validate the tar against its manifest), without process start-up or reading the files: the
// figure behind issue 16's "decrypting an X25519 bundle takes at most 5 ms". bench/run.sh runs it;
// it is not installed.
//
//   keyfleet-bench-decrypt BUNDLE (--identity FILE | --passphrase-file FILE) [RUNS]
//
// Prints "median_ms min_ms max_ms runs" on one line.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "bundle/bundle_file.hpp"

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::cerr << "usage: keyfleet-bench-decrypt BUNDLE (--identity FILE | --passphrase-file FILE) "
                 "[RUNS]\n";
    return 2;
  }
  std::string option = argv[2];
  kf::bundle::KeySource source;
  if (option == "--identity") {
    source.identity_files.emplace_back(argv[3]);
  } else if (option == "--passphrase-file") {
    source.passphrase.file = argv[3];
  } else {
    std::cerr << "keyfleet-bench-decrypt: unknown option " << option << "\n";
    return 2;
  }
  int runs = 50;
  if (argc == 5) {
    std::string_view text = argv[4];
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), runs);
    if (error != std::errc() || end != text.data() + text.size() || runs < 1) {
      std::cerr << "keyfleet-bench-decrypt: RUNS must be a positive number, not " << text << "\n";
      return 2;
    }
  }

  auto fail = [](const kf::Error& e) {
    std::cerr << "keyfleet-bench-decrypt: " << e.message << "\n";
    return kf::to_int(e.code);
  };
  auto file = kf::bundle::check_bundle_file(argv[1]);
  if (!file) return fail(file.error());
  auto key = kf::bundle::read_open_key(*file, source);
  if (!key) return fail(key.error());

  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto opened = kf::bundle::open_checked_bundle(*file, *key);
    auto stop = std::chrono::steady_clock::now();
    if (!opened) return fail(opened.error());
    ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
  }
  std::sort(ms.begin(), ms.end());
  std::cout << fmt::format("{:.3f} {:.3f} {:.3f} {}\n", ms[ms.size() / 2], ms.front(), ms.back(),
                           runs);
  return 0;
}
