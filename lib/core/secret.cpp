#include "core/secret.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

namespace kf {

void cleanse(void* data, std::size_t size) {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

void disable_core_dumps() {
  rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace kf
