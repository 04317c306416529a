#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <boost/filesystem/path.hpp>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

// The operator's audit log: one JSON object per line, appended by every command that changes key
// material, chained so that an edited, removed or inserted record shows. Each record ends with
//   "prev": SHA-256 of the previous line's bytes (64 zeros for the first record), and
//   "hash": SHA-256 of the line itself up to the `,"hash":` that ends it.
// The file is 0600 and opened O_APPEND; each record is one write(2), fsynced, under an flock of
// FILE.lock so that concurrent keyfleet runs take turns.
namespace kf::audit {

namespace fs = boost::filesystem;

inline constexpr std::string_view kGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

// KEYFLEET_AUDIT_LOG, else $XDG_STATE_HOME/keyfleet/audit.jsonl, else
// ~/.local/state/keyfleet/audit.jsonl ($XDG_STATE_HOME is used only when absolute, as the XDG
// base directory specification says).
fs::path default_path();

// Makes the log's directory (0700, missing parents too) and the file (0600) if they are missing,
// and checks it can be appended to: a symlink or anything but a regular file is refused.
Result<void> prepare(const fs::path& path);

// Appends `record` (an object; "prev" and "hash" are added) as one line.
Result<void> append(const fs::path& path, nlohmann::ordered_json record);

// One line of the log as read back.
struct Line {
  std::size_t number = 0;  // from 1
  std::string text;
};

Result<std::vector<Line>> read_lines(const fs::path& path);

// The first line whose record is not valid JSON, whose "hash" does not match its bytes, or whose
// "prev" does not match the line before it: ExitCode::integrity, "FILE:LINE: ...". The number of
// records when the chain is whole.
Result<std::size_t> verify_chain(const std::vector<Line>& lines, std::string_view origin);

// SHA-256 of text, lowercase hex.
std::string sha256_text(std::string_view text);

}  // namespace kf::audit
