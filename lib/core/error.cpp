#include "core/error.hpp"

#include <cstring>

#include <openssl/err.h>

namespace kf {

std::unexpected<Error> fail_errno(std::string_view what, int err) {
  return fail_errno(ExitCode::failure, what, err);
}

std::unexpected<Error> fail_errno(ExitCode code, std::string_view what, int err) {
  return std::unexpected(Error{code, fmt::format("{}: {}", what, std::strerror(err))});
}

Error with_context(Error error, std::string_view context) {
  error.message = fmt::format("{}: {}", context, error.message);
  return error;
}

std::string openssl_error() {
  std::string out;
  char buf[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("unknown OpenSSL error") : out;
}

std::unexpected<Error> fail_openssl(ExitCode code, std::string_view what) {
  return std::unexpected(Error{code, fmt::format("{}: {}", what, openssl_error())});
}

}  // namespace kf
