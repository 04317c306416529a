// --json: every command's output, success and failure, against docs/keyfleet-output.schema.json.
// Fleet commands with nodes are checked on the real fleet (tests/integration/json_output_test.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/audit.hpp"
#include "cli/command.hpp"
#include "keydir/node_status.hpp"
#include "support/test_support.hpp"

namespace kf {
namespace {

namespace fs = boost::filesystem;
using test::keyfleet;
using test::RunResult;
using test::TempDir;
using ::testing::HasSubstr;

// One document, valid, whose exit_code is the process's and whose error is the one on stderr.
void expect_document(const RunResult& r, const std::string& command, int exit_code) {
  SCOPED_TRACE(command + "\nstdout: " + r.out + "\nstderr: " + r.err);
  EXPECT_EQ(r.exit_code, exit_code);
  EXPECT_EQ(test::json_schema_errors(r.out), "");
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(doc.is_object());
  if (command.empty()) {
    EXPECT_TRUE(doc["command"].is_null());
  } else {
    EXPECT_EQ(doc["command"], command);
  }
  EXPECT_EQ(doc["exit_code"], r.exit_code);
  if (exit_code == 0) {
    EXPECT_TRUE(doc["error"].is_null());
  } else if (!doc["error"].is_null()) {
    // The same words on stderr, as without --json.
    EXPECT_THAT(r.err, HasSubstr("keyfleet: error: " + doc["error"]["message"].get<std::string>()));
  }
}

// A key set, its bundle and a passphrase file in a fresh directory; an inventory of one node that
// is never connected to.
struct Local {
  TempDir dir;
  fs::path keys = dir / "keys";
  fs::path pass = dir / "pass";
  fs::path bundle = dir / "keys.kfb";
  fs::path inventory = dir / "fleet.toml";

  Local() {
    test::write_text(pass, "json test passphrase\n", 0600);
    test::write_text(inventory,
                     "[defaults]\ndest = \"/nonexistent/dest\"\n"
                     "[[node]]\nname = \"node1\"\nhost = \"127.0.0.1\"\nport = 1\n");
    auto made = keyfleet({"create-keys", "--out", keys.string(), "--hosts", "node1"});
    if (made.exit_code != 0) throw std::runtime_error(made.err);
    auto sealed = keyfleet({"bundle", "--keys", keys.string(), "--out", bundle.string(),
                            "--passphrase-file", pass.string(), "--work-factor", "10"});
    if (sealed.exit_code != 0) throw std::runtime_error(sealed.err);
  }
};

TEST(CliJson, LocalCommandsSucceed) {
  Local l;
  auto created =
      keyfleet({"create-keys", "--out", (l.dir / "k2").string(), "--hosts", "a,b", "--json"});
  expect_document(created, "create-keys", 0);
  auto doc = nlohmann::json::parse(created.out);
  EXPECT_EQ(doc["manifest"], nlohmann::json::parse(test::read_text(l.dir / "k2/manifest.json")));

  expect_document(keyfleet({"keygen", "--out", (l.dir / "id").string(), "--json"}), "keygen", 0);
  expect_document(
      keyfleet({"bundle", "--keys", l.keys.string(), "--out", (l.dir / "b2.kfb").string(),
                "--passphrase-file", l.pass.string(), "--work-factor", "10", "--json"}),
      "bundle", 0);
  expect_document(keyfleet({"inspect", l.bundle.string(), "--json"}), "inspect", 0);
  expect_document(
      keyfleet({"inspect", l.bundle.string(), "--passphrase-file", l.pass.string(), "--json"}),
      "inspect", 0);
  expect_document(keyfleet({"unpack", l.bundle.string(), "--dest", (l.dir / "dest").string(),
                            "--passphrase-file", l.pass.string(), "--json"}),
                  "unpack", 0);
  auto shown = keyfleet(
      {"inventory", "show", "--inventory", l.inventory.string(), "--json", "--ssh-config", "none"});
  expect_document(shown, "inventory show", 0);
  EXPECT_EQ(nlohmann::json::parse(shown.out)["nodes"][0]["name"], "node1");
  // The audit log the commands above appended to (the tests' own, see test_support).
  auto audit = keyfleet({"audit", "show", "--json"});
  expect_document(audit, "audit show", 0);
  EXPECT_GE(nlohmann::json::parse(audit.out)["count"].get<int>(), 3);
  expect_document(keyfleet({"audit", "verify", "--json"}), "audit verify", 0);
}

TEST(CliJson, LocalCommandsFail) {
  Local l;
  // Refused: the directory holds a key set and --force is missing.
  expect_document(keyfleet({"create-keys", "--out", l.keys.string(), "--hosts", "a", "--json"}),
                  "create-keys", 4);
  expect_document(keyfleet({"create-keys", "--hosts", "a", "--json"}), "create-keys", 2);
  test::write_text(l.dir / "taken", "x");
  auto keygen = keyfleet({"keygen", "--out", (l.dir / "taken").string(), "--json"});
  expect_document(keygen, "keygen", 4);
  EXPECT_EQ(nlohmann::json::parse(keygen.out)["file"], (l.dir / "taken").string());
  expect_document(keyfleet({"bundle", "--keys", l.keys.string(), "--out", l.bundle.string(),
                            "--passphrase-file", l.pass.string(), "--json"}),
                  "bundle", 4);
  expect_document(
      keyfleet({"bundle", "--keys", (l.dir / "nokeys").string(), "--out",
                (l.dir / "b3.kfb").string(), "--passphrase-file", l.pass.string(), "--json"}),
      "bundle", 2);
  fs::path wrong = l.dir / "wrong";
  test::write_text(wrong, "not the passphrase\n", 0600);
  auto inspect =
      keyfleet({"inspect", l.bundle.string(), "--passphrase-file", wrong.string(), "--json"});
  expect_document(inspect, "inspect", 3);
  // What inspect learned before the passphrase failed stays in the document.
  EXPECT_EQ(nlohmann::json::parse(inspect.out)["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(nlohmann::json::parse(inspect.out)["sealed_with"], "scrypt");
  expect_document(keyfleet({"inspect", (l.dir / "none.kfb").string(), "--json"}), "inspect", 2);
  expect_document(keyfleet({"unpack", l.bundle.string(), "--dest", (l.dir / "dest").string(),
                            "--passphrase-file", wrong.string(), "--json"}),
                  "unpack", 3);
  auto shown =
      keyfleet({"inventory", "show", "--inventory", (l.dir / "none.toml").string(), "--json"});
  expect_document(shown, "inventory show", 2);
  EXPECT_EQ(nlohmann::json::parse(shown.out)["nodes"], nlohmann::json::array());
  expect_document(keyfleet({"audit", "show", (l.dir / "none.jsonl").string(), "--json"}),
                  "audit show", 2);
  test::write_text(l.dir / "forged.jsonl", "{\"command\": \"push\"}\n");
  expect_document(keyfleet({"audit", "verify", (l.dir / "forged.jsonl").string(), "--json"}),
                  "audit verify", 3);
  // pull's failure before it reaches its node (its success: tests/integration/import_test.cpp).
  expect_document(keyfleet({"pull", "--inventory", (l.dir / "none.toml").string(), "--node", "n",
                            "--path", "/x", "--out", (l.dir / "pulled").string(), "--json"}),
                  "pull", 2);
}

// Fleet commands that stop before any node: the report's fields are there, empty.
TEST(CliJson, FleetCommandsFailBeforeTheirNodes) {
  Local l;
  const std::string missing = (l.dir / "missing.toml").string();
  for (auto args : std::vector<std::vector<std::string>>{
           {"push", l.bundle.string(), "--inventory", missing, "--yes"},
           {"rotate", "--inventory", missing, "--keys", l.keys.string(), "--keep-ca", "--yes"},
           {"verify", "--inventory", missing},
           {"status", "--inventory", missing},
           {"cleanup", "--inventory", missing},
           {"rollback", "--inventory", missing, "--yes"}}) {
    args.push_back("--json");
    auto r = keyfleet(args);
    expect_document(r, args[0], 2);
    auto doc = nlohmann::json::parse(r.out);
    EXPECT_EQ(doc["nodes"], nlohmann::json::array()) << args[0];
    EXPECT_EQ(doc["summary"]["total"], 0) << args[0];
    EXPECT_EQ(doc["interrupted"], false) << args[0];
  }
  // Refused before the passphrase is read: no terminal to confirm on.
  const std::string inventory = l.inventory.string();
  expect_document(keyfleet({"push", l.bundle.string(), "--inventory", inventory, "--ssh-config",
                            "none", "--passphrase-file", l.pass.string(), "--json"}),
                  "push", 4);
  expect_document(
      keyfleet({"rollback", "--inventory", inventory, "--ssh-config", "none", "--json"}),
      "rollback", 4);
  expect_document(
      keyfleet({"rotate", "--inventory", inventory, "--ssh-config", "none", "--keys",
                l.keys.string(), "--keep-ca", "--passphrase-file", l.pass.string(), "--json"}),
      "rotate", 4);
  expect_document(keyfleet({"rotate", "--inventory", inventory, "--ssh-config", "none", "--keys",
                            l.keys.string(), "--yes", "--json"}),
                  "rotate", 2);
  expect_document(keyfleet({"verify", "--inventory", inventory, "--ssh-config", "none",
                            "--manifest", (l.dir / "none.json").string(), "--json"}),
                  "verify", 2);
  fs::path wrong = l.dir / "wrong";
  test::write_text(wrong, "not the passphrase\n", 0600);
  expect_document(keyfleet({"verify", "--inventory", inventory, "--ssh-config", "none", "--bundle",
                            l.bundle.string(), "--passphrase-file", wrong.string(), "--json"}),
                  "verify", 3);
}

// status --keys DIR without an inventory: the rotation recorded there (none yet), no node.
TEST(CliJson, StatusOfAKeyDirectoryAloneIsADocumentToo) {
  Local l;
  auto r = keyfleet({"status", "--keys", l.keys.string(), "--json"});
  expect_document(r, "status", 0);
  auto doc = nlohmann::json::parse(r.out);
  EXPECT_TRUE(doc["rotation"].is_null());
  EXPECT_EQ(doc["nodes"], nlohmann::json::array());
  expect_document(keyfleet({"status", "--json"}), "status", 2);
  test::write_text(l.keys / "rotation.json", "{\"format\": \"something else\"}\n");
  expect_document(keyfleet({"status", "--keys", l.keys.string(), "--json"}), "status", 2);
}

// The parser's refusals: --json on the command line is enough for a document.
TEST(CliJson, UsageErrorsAreDocumentsToo) {
  expect_document(keyfleet({"push", "--json"}), "push", 2);
  expect_document(keyfleet({"verify", "--inventory", "x.toml", "--nosuch", "--json"}), "verify", 2);
  expect_document(keyfleet({"create-keys", "--days", "0", "--json"}), "create-keys", 2);
  expect_document(keyfleet({"inventory", "show", "--json"}), "inventory show", 2);
  expect_document(keyfleet({"inventory", "--json"}), "inventory", 2);
  expect_document(keyfleet({"audit", "--json"}), "audit", 2);
  expect_document(keyfleet({"rotate", "--keep-ca", "--new-ca", "--json"}), "rotate", 2);
  expect_document(keyfleet({"creat-keys", "--json"}), "", 2);
  expect_document(keyfleet({"--json"}), "", 2);
  expect_document(keyfleet({"help", "push", "--json"}), "", 2);
  // Without --json, or with it only as an argument after "--", stdout stays empty.
  EXPECT_EQ(keyfleet({"push"}).out, "");
  EXPECT_EQ(keyfleet({"inspect", "--", "--json"}).out, "");
}

// Each command's document as it starts (every field null, an empty fleet report) is what an
// error before any work prints: valid, and with the keys the schema requires, no more.
TEST(CliJson, EveryCommandsSkeletonIsValid) {
  for (const auto& command : cli::commands()) {
    std::string name(command.name);
    if (name == "inventory") name = "inventory show";
    if (name == "audit") name = "audit show";
    cli::Output out(name, true, cli::json_skeleton(command));
    Error error{ExitCode::usage, "something was wrong"};
    auto doc = out.document(2, &error);
    EXPECT_EQ(test::json_schema_errors(doc.dump()), "") << name << ": " << doc.dump();
  }
}

// The schema is a test's oracle only if it can say no.
TEST(CliJson, TheSchemaRejectsWhatIsNotTheFormat) {
  Local l;
  auto ok = keyfleet({"keygen", "--out", (l.dir / "id").string(), "--json"});
  ASSERT_EQ(test::json_schema_errors(ok.out), "");
  auto doc = nlohmann::ordered_json::parse(ok.out);

  EXPECT_THAT(test::json_schema_errors(ok.out + ok.out), HasSubstr("not exactly one JSON"));
  EXPECT_THAT(test::json_schema_errors(""), HasSubstr("not exactly one JSON"));
  auto without = doc;
  without.erase("exit_code");
  EXPECT_THAT(test::json_schema_errors(without.dump()), HasSubstr("exit_code"));
  auto extra = doc;
  extra["surprise"] = 1;
  EXPECT_THAT(test::json_schema_errors(extra.dump()), HasSubstr("surprise"));
  auto error_as_string = doc;
  error_as_string["exit_code"] = 4;
  error_as_string["error"] = "already exists";
  EXPECT_NE(test::json_schema_errors(error_as_string.dump()), "");
  auto error_with_zero = doc;
  error_with_zero["error"] = {{"message", "x"}};
  EXPECT_NE(test::json_schema_errors(error_with_zero.dump()), "");

  // A fleet report whose summary or exit code does not follow from its nodes.
  const cli::Command* verify = nullptr;
  for (const auto& c : cli::commands())
    if (c.name == "verify") verify = &c;
  ASSERT_NE(verify, nullptr);
  cli::Output out("verify", true, cli::json_skeleton(*verify));
  auto fleet = out.document(0, nullptr);
  ASSERT_EQ(test::json_schema_errors(fleet.dump()), "");
  fleet["nodes"].push_back({{"name", "n1"},
                            {"host", "h"},
                            {"status", "hostkey"},
                            {"step", "hostkey"},
                            {"error", "n1: host key mismatch"},
                            {"generation", nullptr},
                            {"seconds", 0.1},
                            {"detail", nullptr}});
  fleet["summary"]["hostkey"] = 1;
  fleet["summary"]["total"] = 1;
  EXPECT_THAT(test::json_schema_errors(fleet.dump()), HasSubstr("exit_code is 0"));
  fleet["exit_code"] = 3;
  EXPECT_EQ(test::json_schema_errors(fleet.dump()), "");
  fleet["summary"]["ok"] = 1;
  EXPECT_THAT(test::json_schema_errors(fleet.dump()), HasSubstr("summary.ok"));
  fleet["summary"]["ok"] = 0;
  fleet["summary"].erase("skipped");
  EXPECT_THAT(test::json_schema_errors(fleet.dump()), HasSubstr("skipped"));
}

// `audit show` prints the records as the log holds them: the schema's audit_record types each one,
// and can say no.
TEST(CliJson, AuditRecordsAreTypedByTheSchema) {
  Local l;  // create-keys, then bundle: the log's last two records
  auto shown = keyfleet({"audit", "show", "--json"});
  expect_document(shown, "audit show", 0);
  const auto doc = nlohmann::ordered_json::parse(shown.out);
  const std::size_t count = doc["records"].size();
  ASSERT_GE(count, 2u) << shown.out;
  const std::size_t made = count - 2;
  const std::size_t sealed = count - 1;
  EXPECT_EQ(doc["records"][made]["command"], "create-keys");
  EXPECT_EQ(doc["records"][sealed]["command"], "bundle");
  EXPECT_EQ(doc["records"][sealed]["keyset"], doc["records"][made]["keyset"]);
  EXPECT_EQ(doc["records"][sealed]["generation"], 1);

  auto edited = doc;
  edited["records"][made]["hash"] = "edited";
  EXPECT_THAT(test::json_schema_errors(edited.dump()),
              HasSubstr(fmt::format("records/{}/hash", made)));
  auto unknown = doc;
  unknown["records"][sealed]["surprise"] = 1;
  EXPECT_THAT(test::json_schema_errors(unknown.dump()), HasSubstr("surprise"));
  auto local_time = doc;
  local_time["records"][sealed]["time"] = "2026-12-03 10:00:00";
  EXPECT_THAT(test::json_schema_errors(local_time.dump()),
              HasSubstr(fmt::format("records/{}/time", sealed)));
}

// The commands that write a record (cli/audit.cpp) are the ones the schema, `audit --help` and
// docs/status.md name: a command added to one must be added to all.
TEST(CliJson, TheAuditedCommandsAreTheDocumentedOnes) {
  std::vector<std::string> audited;
  for (auto name : cli::audited_commands()) audited.emplace_back(name);
  auto schema = nlohmann::json::parse(
      test::read_text(fs::path(test::source_dir()) / "docs/keyfleet-output.schema.json"));
  EXPECT_EQ(schema["$defs"]["audit_record"]["properties"]["command"]["enum"]
                .get<std::vector<std::string>>(),
            audited);

  std::string help_list;
  std::string docs_list;
  for (std::size_t i = 0; i < audited.size(); ++i) {
    help_list += (i == 0 ? "" : i + 1 == audited.size() ? " and " : ", ") + audited[i];
    docs_list += (i == 0 ? "" : ", ") + fmt::format("`{}`", audited[i]);
  }
  EXPECT_THAT(keyfleet({"audit", "--help"}).out, HasSubstr(help_list + " append one"));
  std::string status_md = test::read_text(fs::path(test::source_dir()) / "docs/status.md");
  std::replace(status_md.begin(), status_md.end(), '\n', ' ');
  EXPECT_THAT(status_md, HasSubstr("changes key material -- " + docs_list + " -- appends"));
}

// A status added to keydir/node_status.hpp must be added to the schema (and docs/json.md).
TEST(CliJson, TheSchemaKnowsEveryStatus) {
  auto schema = nlohmann::json::parse(
      test::read_text(fs::path(test::source_dir()) / "docs/keyfleet-output.schema.json"));
  std::vector<std::string> statuses;
  for (NodeStatus status : all_node_statuses()) statuses.emplace_back(to_string(status));
  EXPECT_EQ(schema["$defs"]["node_status"]["enum"].get<std::vector<std::string>>(), statuses);
  auto required = schema["$defs"]["summary"]["required"].get<std::vector<std::string>>();
  statuses.emplace_back("total");
  EXPECT_EQ(required, statuses);
  std::string doc = test::read_text(fs::path(test::source_dir()) / "docs/json.md");
  for (NodeStatus status : all_node_statuses())
    EXPECT_THAT(doc, HasSubstr(fmt::format("`{}`", to_string(status))));
}

}  // namespace
}  // namespace kf
