#pragma once

#include <string>

namespace kf {

// Who runs keyfleet, for the records it leaves (the audit log, a node's DEST/history.log): the
// user name of the real uid (the password database; else $USER; else "uid N"), and this
// machine's host name (gethostname; "unknown" when it has none).
std::string operator_user();
std::string operator_host();
// "user@host".
std::string operator_name();

}  // namespace kf
