#include "support/test_support.hpp"

#include <fcntl.h>
#include <poll.h>
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

RunResult run(const std::vector<std::string>& argv, const RunOptions& options) {
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

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  RunResult result;
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    result.err = std::string("spawn failed: ") + strerror(rc);
    return result;
  }
  std::size_t written = 0;
  if (options.input.empty()) {
    close(in[1]);
    in[1] = -1;
  } else {
    fcntl(in[1], F_SETFL, O_NONBLOCK);
  }
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out_open) {
      fds[n] = {out[0], POLLIN, 0};
      out_i = n++;
    }
    if (err_open) {
      fds[n] = {err[0], POLLIN, 0};
      err_i = n++;
    }
    if (in[1] >= 0) {
      fds[n] = {in[1], POLLOUT, 0};
      in_i = n++;
    }
    if (poll(fds, static_cast<nfds_t>(n), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in_i >= 0 && fds[in_i].revents) {
      ssize_t w = write(in[1], options.input.data() + written, options.input.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (w < 0 || written == options.input.size()) {
        close(in[1]);
        in[1] = -1;
      }
    }
    if (out_i >= 0 && fds[out_i].revents) {
      ssize_t r = read(out[0], buf, sizeof buf);
      if (r <= 0)
        out_open = false;
      else
        result.out.append(buf, static_cast<std::size_t>(r));
    }
    if (err_i >= 0 && fds[err_i].revents) {
      ssize_t r = read(err[0], buf, sizeof buf);
      if (r <= 0)
        err_open = false;
      else
        result.err.append(buf, static_cast<std::size_t>(r));
    }
  }
  if (in[1] >= 0) close(in[1]);
  close(out[0]);
  close(err[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
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
