#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include <boost/filesystem.hpp>

namespace kf::test {

namespace fs = boost::filesystem;

struct RunResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

struct RunOptions {
  std::string input;                       // written to stdin, then closed
  std::map<std::string, std::string> env;  // added to (or replacing in) the environment
  fs::path cwd;                            // empty: inherit
  std::vector<int> pass_fds;               // kept open in the child (for --passphrase-fd)
};

// Runs argv[0] (looked up in PATH) without a shell and collects its output.
RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});

// A process started as run() starts it, for tests that act while it runs (signal it). finish()
// collects its output until it exits; the destructor SIGKILLs and reaps one not finished.
class Spawned {
 public:
  explicit Spawned(const std::vector<std::string>& argv, const RunOptions& options = {});
  Spawned(const Spawned&) = delete;
  Spawned& operator=(const Spawned&) = delete;
  ~Spawned();
  void signal(int sig);
  RunResult finish();

 private:
  std::string input_;
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  int err_ = -1;
  std::string spawn_error_;
};

// What is wrong with `output`, a command's whole standard output under --json, against
// docs/keyfleet-output.schema.json and the rules the schema cannot say (tests/support/
// validate_json.py, under Debian's python3 with python3-jsonschema); "" when it is exactly one
// valid document.
std::string json_schema_errors(const std::string& output);

// Runs the keyfleet binary under test with `args`.
RunResult keyfleet(const std::vector<std::string>& args, const RunOptions& options = {});

// Runs a shell command line (for tools like `openssl ... | grep`); stdout in out.
RunResult shell(const std::string& command, const RunOptions& options = {});

// Runs `body` in a forked child, which ends with _exit(0) if body returns, and gives the child's
// wait status (for tests of process-wide state: signal handlers, rlimits). Throws if fork fails.
int wait_status_of_child(void (*body)());

// A fresh directory under $TMPDIR, removed (with everything in it) on destruction.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

std::string read_text(const fs::path& path);
void write_text(const fs::path& path, const std::string& text, mode_t mode = 0600);
mode_t file_mode(const fs::path& path);  // permission bits, lstat

// Every regular file below `dir` (relative name -> bytes), for "nothing changed" checks.
std::map<std::string, std::string> snapshot(const fs::path& dir);

std::string source_dir();  // the repository root
std::string keyfleet_bin();

}  // namespace kf::test
