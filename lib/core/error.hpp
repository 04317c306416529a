#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "core/exit_code.hpp"

namespace kf {

// One failure: the exit code it maps to and a message "<what failed>: <why>" that names the file,
// host or option involved. main() prints it as "keyfleet: error: <message>".
struct Error {
  ExitCode code = ExitCode::failure;
  std::string message;
};

template <class T = void>
using Result = std::expected<T, Error>;

template <class... Args>
[[nodiscard]] std::unexpected<Error> fail(ExitCode code, fmt::format_string<Args...> format,
                                          Args&&... args) {
  return std::unexpected(Error{code, fmt::format(format, std::forward<Args>(args)...)});
}

// "<what>: <strerror(err)>" with exit code `failure`, e.g. fail_errno("cannot open /x/y").
[[nodiscard]] std::unexpected<Error> fail_errno(std::string_view what, int err = errno);
[[nodiscard]] std::unexpected<Error> fail_errno(ExitCode code, std::string_view what,
                                                int err = errno);

// Prefixes what we were doing: "<context>: <message>", keeping the exit code.
[[nodiscard]] Error with_context(Error error, std::string_view context);

// The current OpenSSL error queue as one line (and clears it); "unknown OpenSSL error" if empty.
[[nodiscard]] std::string openssl_error();
[[nodiscard]] std::unexpected<Error> fail_openssl(ExitCode code, std::string_view what);

}  // namespace kf

#define KF_CONCAT_INNER_(a, b) a##b
#define KF_CONCAT_(a, b) KF_CONCAT_INNER_(a, b)

// Propagates an error from `expr` (a Result<T>), as ccache's TRY_ASSIGN does, and otherwise
// declares or assigns `decl` from its value, in the enclosing scope (`decl` stays bare, whatever
// bugprone-macro-parentheses says: a declaration such as `(auto x)` would not compile):
//   KF_TRY_ASSIGN(auto manifest, parse_manifest(text, origin));
//   KF_TRY_ASSIGN(report.previous, read_current(dest));
// Standard C++ (no statement expression), so it expands to several statements: it may sit neither
// inside another expression nor alone under an unbraced if/for. Name the value first:
//   KF_TRY_ASSIGN(auto recipients, read_recipients(args)); then pass std::move(recipients) on.
#define KF_TRY_ASSIGN(decl, expr)                                             \
  auto KF_CONCAT_(kf_try_, __LINE__) = (expr);                                \
  if (!KF_CONCAT_(kf_try_, __LINE__)) {                                       \
    return std::unexpected(std::move(KF_CONCAT_(kf_try_, __LINE__).error())); \
  }                                                                           \
  decl = std::move(*KF_CONCAT_(kf_try_, __LINE__))  // NOLINT(bugprone-macro-parentheses)

// Propagates an error from `expr` (a Result<void>).
#define KF_CHECK(expr)                                                                  \
  do {                                                                                  \
    auto kf_check_result_ = (expr);                                                     \
    if (!kf_check_result_) return std::unexpected(std::move(kf_check_result_.error())); \
  } while (false)

// The value-yielding KF_TRY(expr) was a GCC statement expression (not standard C++, and unsafe in a
// braced initializer); it is gone for good.
#pragma GCC poison KF_TRY
