// Writes the man pages and shell completions generated from keyfleet's own parser into a directory
// (the build runs it; `make install` installs the results).
#include <fstream>
#include <iostream>
#include <vector>

#include "cli/command.hpp"
#include "cli/completion.hpp"
#include "cli/manpage.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: keyfleet-gen-docs OUTDIR\n";
    return 2;
  }
  std::string dir = argv[1];
  CLI::App app;
  std::vector<kf::cli::Action> actions;
  kf::cli::build_app(app, actions);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream out(dir + "/" + name);
    out << text;
    if (!out) {
      std::cerr << "keyfleet-gen-docs: cannot write " << dir << "/" << name << "\n";
      std::exit(1);
    }
  };
  write("keyfleet.1", kf::cli::man_page(app, nullptr));
  for (const CLI::App* sub : app.get_subcommands({})) {
    write(kf::cli::man_page_name(*sub) + ".1", kf::cli::man_page(app, sub));
    for (const CLI::App* nested : sub->get_subcommands({})) {
      write(kf::cli::man_page_name(*nested) + ".1", kf::cli::man_page(app, nested));
    }
  }
  return 0;
}
