// Key sets and bundles for the push integration tests, made with the real binary, and readers of
// what push reports and leaves on the nodes.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/bundle_fixtures.hpp"
#include "support/fleet_fixture.hpp"
#include "support/test_support.hpp"

namespace kf::test {

// Bundles of generations 1..N for `fleet`'s inventory, each a fresh create-keys, with one
// passphrase file. Cheap: --work-factor 10.
class Bundles {
 public:
  Bundles(const Fleet& fleet, int generations) {
    write_text(pass(), "integration passphrase\n", 0600);
    std::string keys = (work_ / "keys").string();
    for (int g = 1; g <= generations; ++g) {
      std::vector<std::string> create = {"create-keys", "--out", keys, "--inventory",
                                         fleet.inventory().string()};
      if (g > 1) create.push_back("--force");
      auto made = keyfleet(create);
      if (made.exit_code != 0) throw std::runtime_error("create-keys failed: " + made.err);
      auto bundled = keyfleet({"bundle", "--keys", keys, "--out", bundle(g).string(),
                               "--passphrase-file", pass().string(), "--work-factor", "10"});
      if (bundled.exit_code != 0) throw std::runtime_error("bundle failed: " + bundled.err);
    }
  }
  [[nodiscard]] fs::path pass() const { return work_ / "pass"; }
  [[nodiscard]] fs::path bundle(int g) const {
    return work_ / ("gen" + std::to_string(g) + ".kfb");
  }
  [[nodiscard]] const fs::path& dir() const { return work_.path(); }

  // keyfleet push BUNDLE(g) --inventory INV --passphrase-file P --yes --json EXTRA...
  [[nodiscard]] RunResult push(int g, const fs::path& inventory,
                               const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {"push",
                                     bundle(g).string(),
                                     "--inventory",
                                     inventory.string(),
                                     "--passphrase-file",
                                     pass().string(),
                                     "--yes",
                                     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return keyfleet(args);
  }

 private:
  TempDir work_;
};

// push --json's nodes by name; an empty map (and a test failure) when stdout is not JSON.
inline std::map<std::string, nlohmann::json> nodes_of(const RunResult& result) {
  std::map<std::string, nlohmann::json> out;
  auto doc = nlohmann::json::parse(result.out, nullptr, false);
  if (doc.is_discarded() || !doc.contains("nodes")) {
    ADD_FAILURE() << "not push --json output: " << result.out << result.err;
    return out;
  }
  for (const auto& node : doc["nodes"]) out[node["name"].get<std::string>()] = node;
  return out;
}

// Every node's dest and staging directories, file by file with modes (test::tree): equal before
// and after a command means it wrote nothing on any node.
inline std::vector<std::map<std::string, std::string>> node_trees(const Fleet& fleet) {
  std::vector<std::map<std::string, std::string>> trees;
  for (const auto& node : fleet.nodes()) {
    trees.push_back(tree(node.dest));
    trees.push_back(tree(node.staging));
  }
  return trees;
}

// Where DEST/current points ("generations/000001"), or "" when there is no current.
inline std::string current_of(const NodeConfig& node) {
  fs::path link = fs::path(node.dest) / "current";
  if (!fs::is_symlink(link)) return "";
  return fs::read_symlink(link).string();
}

// Staged copies (regular files) under a node's staging directory.
inline std::vector<fs::path> staged_files(const NodeConfig& node) {
  std::vector<fs::path> out;
  if (!fs::exists(node.staging)) return out;
  for (fs::recursive_directory_iterator it(node.staging), end; it != end; ++it) {
    if (fs::is_regular_file(it->symlink_status())) out.push_back(it->path());
  }
  return out;
}

// The entries of DEST/generations whose names are not NNNNNN: temporary generations.
inline std::vector<std::string> temporary_generations(const NodeConfig& node) {
  std::vector<std::string> out;
  fs::path dir = fs::path(node.dest) / "generations";
  if (!fs::exists(dir)) return out;
  for (fs::directory_iterator it(dir), end; it != end; ++it) {
    std::string name = it->path().filename().string();
    if (name.size() != 6 || name.find_first_not_of("0123456789") != std::string::npos) {
      out.push_back(name);
    }
  }
  return out;
}

}  // namespace kf::test
