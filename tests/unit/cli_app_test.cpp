#include <gtest/gtest.h>

#include "cli/command.hpp"
#include "cli/completion.hpp"
#include "cli/manpage.hpp"
#include "support/test_support.hpp"

namespace kf::cli {
namespace {

using test::keyfleet;

TEST(App, VersionAndHelp) {
  auto version = keyfleet({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, std::string("keyfleet ") + KEYFLEET_VERSION + "\n");

  auto help = keyfleet({"help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Exit codes:"), std::string::npos);
  for (const auto& command : commands()) {
    EXPECT_NE(help.out.find(std::string(command.name)), std::string::npos) << command.name;
  }
}

TEST(App, NoCommandIsUsageError) {
  auto r = keyfleet({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("Usage:"), std::string::npos);
}

TEST(App, UnknownCommandSuggestsClosest) {
  auto r = keyfleet({"halp"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("keyfleet: error: unknown command 'halp': did you mean 'help'?"),
            std::string::npos)
      << r.err;
  auto far = keyfleet({"frobnicate"});
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_EQ(far.err.find("did you mean"), std::string::npos);
}

TEST(App, EveryCommandHasHelpWithExitCodes) {
  for (const auto& command : commands()) {
    auto r = keyfleet({std::string(command.name), "--help"});
    EXPECT_EQ(r.exit_code, 0) << command.name;
    EXPECT_NE(r.out.find("Exit codes:"), std::string::npos) << command.name;
    auto via_help = keyfleet({"help", std::string(command.name)});
    EXPECT_EQ(via_help.out, r.out) << command.name;
  }
}

TEST(App, UnknownOptionIsUsageErrorNamingIt) {
  for (const auto& command : commands()) {
    auto r = keyfleet({std::string(command.name), "--no-such-option"});
    EXPECT_EQ(r.exit_code, 2) << command.name;
    EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << command.name << ": " << r.err;
  }
}

TEST(App, MistypedOptionSuggestsClosest) {
  auto r = keyfleet({"create-keys", "--out", "/nonexistent/x", "--hsts", "a"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("did you mean '--hosts'?"), std::string::npos) << r.err;
}

TEST(App, StrayWordsAreNamedOneAtATime) {
  auto option = keyfleet({"push", "keys.age", "--paralel", "3", "--inventory", "fleet.toml"});
  EXPECT_EQ(option.exit_code, 2);
  EXPECT_NE(option.err.find("keyfleet: error: unknown option '--paralel' for 'push': did you mean "
                            "'--parallel'?\n"),
            std::string::npos)
      << option.err;
  auto extra = keyfleet({"push", "a.age", "b.age", "--inventory", "fleet.toml"});
  EXPECT_EQ(extra.exit_code, 2);
  EXPECT_NE(extra.err.find("keyfleet: error: unexpected argument 'b.age' for 'push'\n"),
            std::string::npos)
      << extra.err;
}

// verify and cleanup take --bundle; push takes the bundle as its argument. Say so.
TEST(App, AnOptionNamedAfterAPositionalPointsToThePositional) {
  auto r = keyfleet({"push", "--bundle", "keys.age", "--inventory", "fleet.toml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown option '--bundle' for 'push': the bundle is given without an "
                       "option name, as in 'keyfleet push BUNDLE ...'"),
            std::string::npos)
      << r.err;
}

TEST(App, AMissingBundleArgumentSaysWhereItGoes) {
  for (const char* command : {"push", "inspect", "unpack"}) {
    auto r = keyfleet({command, "--json"});
    EXPECT_EQ(r.exit_code, 2) << command;
    EXPECT_NE(r.err.find(fmt::format("keyfleet: error: '{0}' needs the bundle: keyfleet {0} "
                                     "BUNDLE [OPTIONS]\n",
                                     command)),
              std::string::npos)
        << r.err;
  }
  // With the bundle given, the missing option is what is named.
  auto r = keyfleet({"push", "keys.age"});
  EXPECT_NE(r.err.find("--inventory is required"), std::string::npos) << r.err;
}

// The committed scripts in completion/ are what `make install` ships: they must match the parser.
TEST(Completion, CommittedScriptsMatchTheParser) {
  const std::pair<const char*, const char*> files[] = {{"bash", "completion/keyfleet.bash"},
                                                       {"zsh", "completion/_keyfleet"},
                                                       {"fish", "completion/keyfleet.fish"}};
  for (const auto& [shell, file] : files) {
    auto generated = keyfleet({"completion", shell});
    ASSERT_EQ(generated.exit_code, 0);
    EXPECT_EQ(test::read_text(test::source_dir() + "/" + file), generated.out)
        << file << " is stale: run 'make completion'";
  }
}

TEST(Completion, BashCompletesCommandsAndOptions) {
  auto complete = [](const std::string& line) {
    std::string script =
        "source '" + test::source_dir() + "/completion/keyfleet.bash'; COMP_WORDS=(" + line +
        "); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _keyfleet; echo \"${COMPREPLY[*]}\"";
    return test::run({"bash", "-c", script}).out;
  };
  EXPECT_EQ(complete("keyfleet hel"), "help\n");
  for (const auto& command : commands()) {
    EXPECT_NE(complete("keyfleet " + std::string(command.name) + " --h").find("--help"),
              std::string::npos);
  }
}

TEST(ManPage, ListsEveryOptionOfEveryCommand) {
  CLI::App app;
  std::vector<Action> actions;
  build_app(app, actions);
  std::string top = man_page(app, nullptr);
  EXPECT_NE(top.find(".TH KEYFLEET 1"), std::string::npos);
  for (const CLI::App* sub : app.get_subcommands({})) {
    std::string page = man_page(app, sub);
    EXPECT_NE(top.find(sub->get_name()), std::string::npos);
    for (const CLI::Option* opt : sub->get_options()) {
      for (const auto& l : opt->get_lnames()) {
        std::string escaped;
        for (char c : l) escaped += c == '-' ? std::string("\\-") : std::string(1, c);
        EXPECT_NE(page.find("\\-\\-" + escaped), std::string::npos)
            << sub->get_name() << " --" << l;
      }
    }
  }
}

}  // namespace
}  // namespace kf::cli
