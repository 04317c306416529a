#include "support/fleet_fixture.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace kf::test {
namespace {

// Every process below `root`, read from /proc/*/stat (no pgrep: a process per call adds up over
// a suite that starts hundreds of fleets).
std::vector<int> descendants_of(int root) {
  std::map<int, std::vector<int>> children;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in((entry.path() / "stat").string());
    std::string stat;
    if (!std::getline(in, stat)) continue;  // gone meanwhile
    // "pid (comm) state ppid ...": comm may hold anything, up to the last ')'.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::string state;
    int ppid = 0;
    if (rest >> state >> ppid) children[ppid].push_back(std::stoi(name));
  }
  std::vector<int> out;
  std::vector<int> todo{root};
  while (!todo.empty()) {
    const int pid = todo.back();
    todo.pop_back();
    for (int child : children[pid]) {
      out.push_back(child);
      todo.push_back(child);
    }
  }
  return out;
}

}  // namespace

Fleet::Fleet(int size) {
  if (::access("/usr/sbin/sshd", X_OK) != 0) {
    throw std::runtime_error(
        "the test fleet needs /usr/sbin/sshd: run `make deps` (scripts/deps.sh test installs "
        "openssh-server)");
  }
  script({"start", std::to_string(size), dir().string()});
  started_ = true;
  try {
    describe_nodes(size);
  } catch (...) {
    // The destructor does not run for a half-built object: stop the daemons here.
    run({"bash", (fs::path(source_dir()) / "tests/fleet/fleet.sh").string(), "stop",
         dir().string()});
    throw;
  }
}

// The nodes as keyfleet sees them: the script's inventory through the real parser.
void Fleet::describe_nodes(int size) {
  original_known_hosts_ = read_text(known_hosts());
  auto inventory = load_inventory(this->inventory());
  if (!inventory) {
    throw std::runtime_error("the fleet's inventory does not parse: " + inventory.error().message);
  }
  nodes_ = std::move(inventory->nodes);
  if (static_cast<int>(nodes_.size()) != size) {
    throw std::runtime_error("the fleet's inventory lists " + std::to_string(nodes_.size()) +
                             " nodes, not " + std::to_string(size));
  }
}

Fleet::~Fleet() {
  if (!started_) return;
  // Frozen sessions would ignore SIGTERM until continued.
  for (int k : std::set<int>(frozen_)) freeze_sessions(k, false);
  run({"bash", (fs::path(source_dir()) / "tests/fleet/fleet.sh").string(), "stop", dir().string()});
}

void Fleet::script(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"bash", (fs::path(source_dir()) / "tests/fleet/fleet.sh").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run(argv);
  if (r.exit_code != 0) {
    throw std::runtime_error("tests/fleet/fleet.sh " + args.front() + " failed: " + r.err);
  }
}

fs::path Fleet::node_dir(int k) const {
  return dir() / "nodes" / ("node" + std::to_string(k));
}

const NodeConfig& Fleet::node(int k) const {
  return nodes_.at(static_cast<std::size_t>(k - 1));
}

int Fleet::start_bastion(const std::vector<int>& extra_ports) {
  std::vector<std::string> argv{"bash", (fs::path(source_dir()) / "tests/fleet/fleet.sh").string(),
                                "bastion", dir().string()};
  for (int port : extra_ports) argv.push_back(std::to_string(port));
  RunResult r = run(argv);
  if (r.exit_code != 0) throw std::runtime_error("tests/fleet/fleet.sh bastion failed: " + r.err);
  original_known_hosts_ = read_text(known_hosts());
  return std::stoi(r.out);
}

void Fleet::kill_node(int k) {
  script({"kill", dir().string(), std::to_string(k)});
}

void Fleet::restart_node(int k) {
  script({"restart", dir().string(), std::to_string(k)});
}

void Fleet::freeze_sessions(int k, bool frozen) {
  fs::path pidfile = node_dir(k) / "sshd.pid";
  if (!fs::exists(pidfile)) return;
  const int listener = std::stoi(read_text(pidfile));
  // Every process below the listener: each connection's monitor and its session process.
  for (int pid : descendants_of(listener)) ::kill(pid, frozen ? SIGSTOP : SIGCONT);
  if (frozen) {
    frozen_.insert(k);
  } else {
    frozen_.erase(k);
  }
}

void Fleet::throttle_uploads(int k, const std::string& rate) {
  script({"throttle", dir().string(), std::to_string(k), rate});
}

fs::path Fleet::inventory_with(const std::string& name, const std::map<int, std::string>& extra,
                               const std::string& more) const {
  auto key_of = [](const std::string& line) { return line.substr(0, line.find(" = ")); };
  // fleet.sh writes each node's table as consecutive lines ending with its `staging` key; a key
  // that `extra` sets replaces the fleet's.
  std::istringstream in(read_text(inventory()));
  std::string out;
  int k = 0;
  std::set<std::string> replaced;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("name = \"node")) {
      k = std::stoi(line.substr(12));
      replaced.clear();
      if (extra.contains(k)) {
        std::istringstream lines(extra.at(k));
        for (std::string e; std::getline(lines, e);) replaced.insert(key_of(e));
      }
    }
    if (k == 0 || !replaced.contains(key_of(line))) out += line + "\n";
    if (line.starts_with("staging = ") && extra.contains(k)) out += extra.at(k) + "\n";
  }
  out += more;
  fs::path path = dir() / name;
  write_text(path, out, 0644);
  return path;
}

void Fleet::rewrite_known_host(int k, const std::string& replacement) {
  std::string prefix = "[127.0.0.1]:" + std::to_string(node(k).port) + " ";
  std::istringstream in(read_text(known_hosts()));
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) {
      if (!replacement.empty()) out += replacement + "\n";
    } else {
      out += line + "\n";
    }
  }
  write_text(known_hosts(), out, 0644);
}

void Fleet::corrupt_known_host(int k) {
  fs::path key = dir() / ("impostor_key" + std::to_string(k));
  if (!fs::exists(key)) {
    RunResult r = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key.string()});
    if (r.exit_code != 0) throw std::runtime_error("ssh-keygen failed: " + r.err);
  }
  std::istringstream pub(read_text(key.string() + ".pub"));
  std::string type, blob;
  pub >> type >> blob;
  rewrite_known_host(k, "[127.0.0.1]:" + std::to_string(node(k).port) + " " + type + " " + blob);
}

void Fleet::forget_known_host(int k) {
  rewrite_known_host(k, "");
}

void Fleet::restore_known_hosts() {
  write_text(known_hosts(), original_known_hosts_, 0644);
}

int unused_port() {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("cannot bind a socket on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

SilentListener::SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (!fd_ || ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd_.get(), 16) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
}

}  // namespace kf::test
