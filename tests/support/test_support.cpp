#include "support/test_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace kf::test {

std::string source_dir() {
  return KEYFLEET_SOURCE_DIR;
}
std::string keyfleet_bin() {
  return KEYFLEET_BIN;
}

Spawned::Spawned(const std::vector<std::string>& argv, const RunOptions& options)
    : input_(options.input) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  for (int fd : options.pass_fds) {
    // dup2 onto itself clears FD_CLOEXEC in the child (glibc >= 2.29).
    posix_spawn_file_actions_adddup2(&actions, fd, fd);
  }
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());

  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : options.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  for (auto& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  int rc = posix_spawnp(&pid_, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    pid_ = -1;
    spawn_error_ = std::string("spawn failed: ") + strerror(rc);
    return;
  }
  in_ = in[1];
  out_ = out[0];
  err_ = err[0];
}

Spawned::~Spawned() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  finish();
}

void Spawned::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

RunResult Spawned::finish() {
  RunResult result;
  if (pid_ <= 0) {
    result.err = spawn_error_;
    return result;
  }
  std::size_t written = 0;
  if (input_.empty()) {
    close(in_);
    in_ = -1;
  } else {
    fcntl(in_, F_SETFL, O_NONBLOCK);
  }
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out_open) {
      fds[n] = {out_, POLLIN, 0};
      out_i = n++;
    }
    if (err_open) {
      fds[n] = {err_, POLLIN, 0};
      err_i = n++;
    }
    if (in_ >= 0) {
      fds[n] = {in_, POLLOUT, 0};
      in_i = n++;
    }
    if (poll(fds, static_cast<nfds_t>(n), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in_i >= 0 && fds[in_i].revents) {
      ssize_t w = write(in_, input_.data() + written, input_.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (w < 0 || written == input_.size()) {
        close(in_);
        in_ = -1;
      }
    }
    if (out_i >= 0 && fds[out_i].revents) {
      ssize_t r = read(out_, buf, sizeof buf);
      if (r <= 0)
        out_open = false;
      else
        result.out.append(buf, static_cast<std::size_t>(r));
    }
    if (err_i >= 0 && fds[err_i].revents) {
      ssize_t r = read(err_, buf, sizeof buf);
      if (r <= 0)
        err_open = false;
      else
        result.err.append(buf, static_cast<std::size_t>(r));
    }
  }
  if (in_ >= 0) close(in_);
  close(out_);
  close(err_);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

namespace {

// The audit log every keyfleet run by the tests appends to unless a test names its own: one of
// this test process's, removed at exit, never the operator's ~/.local/state/keyfleet.
const std::string& test_audit_log() {
  static const std::string path = [] {
    static TempDir dir;
    return (dir / "audit.jsonl").string();
  }();
  return path;
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, const RunOptions& options) {
  return Spawned(argv, options).finish();
}

std::string json_schema_errors(const std::string& output) {
  fs::path schema = fs::path(source_dir()) / "docs" / "keyfleet-output.schema.json";
  fs::path script = fs::path(source_dir()) / "tests" / "support" / "validate_json.py";
  // Debian's python3, where scripts/deps.sh installs python3-jsonschema.
  RunOptions options;
  options.input = output;
  RunResult r = run({"/usr/bin/python3", script.string(), schema.string()}, options);
  if (r.exit_code == 0) return "";
  return r.err.empty() ? "validate_json.py exited " + std::to_string(r.exit_code) : r.err;
}

RunResult keyfleet(const std::vector<std::string>& args, const RunOptions& options) {
  std::vector<std::string> argv{keyfleet_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (options.env.contains("KEYFLEET_AUDIT_LOG")) return run(argv, options);
  RunOptions audited = options;
  audited.env["KEYFLEET_AUDIT_LOG"] = test_audit_log();
  return run(argv, audited);
}

RunResult shell(const std::string& command, const RunOptions& options) {
  return run({"/bin/sh", "-c", command}, options);
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/keyfleet-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  boost::system::error_code ec;
  fs::remove_all(path_, ec);
}

int wait_status_of_child(void (*body)()) {
  pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child) throw std::runtime_error("waitpid failed");
  return status;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path.string(), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path.string(), std::ios::binary | std::ios::trunc);
    out << text;
  }
  chmod(path.c_str(), mode);
}

mode_t file_mode(const fs::path& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  if (!fs::exists(dir)) return out;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    if (fs::is_symlink(it->symlink_status())) {
      out[fs::relative(it->path(), dir).string()] = "-> " + fs::read_symlink(it->path()).string();
    } else if (fs::is_regular_file(it->status())) {
      out[fs::relative(it->path(), dir).string()] = read_text(it->path());
    }
  }
  return out;
}

}  // namespace kf::test
