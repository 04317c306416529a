#include "core/whoami.hpp"

#include <pwd.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

namespace kf {

std::string operator_user() {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwuid_r(::getuid(), &entry, buffer.data(), buffer.size(), &found) == 0 && found &&
      found->pw_name) {
    return found->pw_name;
  }
  if (const char* user = std::getenv("USER"); user && *user) return user;
  return fmt::format("uid {}", ::getuid());
}

std::string operator_host() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "unknown";
  return name;
}

std::string operator_name() {
  return operator_user() + "@" + operator_host();
}

}  // namespace kf
