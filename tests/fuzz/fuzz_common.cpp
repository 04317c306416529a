#include "fuzz_common.hpp"

#include <cstdio>
#include <cstdlib>

namespace kf::fuzz {

void invariant_failed(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

}  // namespace kf::fuzz
