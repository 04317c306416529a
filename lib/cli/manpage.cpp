#include "cli/manpage.hpp"

#include <algorithm>
#include <sstream>

#include <fmt/format.h>

namespace kf::cli {
namespace {

// Escapes text for roff: backslashes, and a leading dot or quote that would start a request.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

// Footers are preformatted blocks (examples, exit code tables): keep their layout.
void preformatted(std::ostringstream& out, std::string_view text) {
  out << ".nf\n" << roff(text) << "\n.fi\n";
}

void options(std::ostringstream& out, const CLI::App& app) {
  out << ".SH OPTIONS\n";
  for (const CLI::Option* opt : app.get_options()) {
    std::string names;
    for (const auto& s : opt->get_snames()) names += (names.empty() ? "" : ", ") + ("\\-" + s);
    for (const auto& l : opt->get_lnames())
      names += (names.empty() ? "" : ", ") + ("\\-\\-" + roff(l));
    if (names.empty()) names = roff(opt->get_name());  // positional
    out << ".TP\n.B " << names;
    if (opt->get_expected_max() != 0) out << " \\fI" << roff(opt->get_type_name()) << "\\fR";
    out << "\n" << roff(opt->get_description());
    if (!opt->get_default_str().empty())
      out << " (default: " << roff(opt->get_default_str()) << ")";
    if (opt->get_required()) out << " Required.";
    out << "\n";
  }
}

// "inventory show" for keyfleet's `inventory show`.
std::string command_words(const CLI::App& sub) {
  std::string words = sub.get_name();
  for (const CLI::App* up = sub.get_parent(); up && up->get_parent(); up = up->get_parent()) {
    words = fmt::format("{} {}", up->get_name(), words);
  }
  return words;
}

std::string page_name(const CLI::App& sub) {
  std::string name = "keyfleet-" + command_words(sub);
  std::ranges::replace(name, ' ', '-');
  return name;
}

}  // namespace

std::string man_page_name(const CLI::App& sub) {
  return page_name(sub);
}

std::string man_page(CLI::App& app, const CLI::App* sub) {
  std::ostringstream out;
  std::string name = sub ? page_name(*sub) : "keyfleet";
  std::string upper = name;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  out << ".TH " << upper << " 1 \"\" \"keyfleet " << KEYFLEET_VERSION << "\" \"keyfleet manual\"\n";
  out << ".SH NAME\n"
      << roff(name) << " \\- "
      << roff(sub ? sub->get_description() : "rotate the TLS key material of a cluster's agents")
      << "\n";
  if (sub) {
    auto nested = sub->get_subcommands({});
    out << ".SH SYNOPSIS\n.B keyfleet " << roff(command_words(*sub)) << "\n"
        << (nested.empty() ? "" : "\\fICOMMAND\\fR ") << "[\\fIOPTIONS\\fR]\n";
    if (!nested.empty()) {
      out << ".SH COMMANDS\n";
      for (const CLI::App* s : nested) {
        out << ".TP\n.B " << roff(s->get_name()) << "\n" << roff(s->get_description()) << "\n";
      }
    }
    options(out, *sub);
    if (!sub->get_footer().empty()) {
      out << ".SH NOTES\n";
      preformatted(out, sub->get_footer());
    }
    out << ".SH SEE ALSO\n.BR keyfleet (1)";
    for (const CLI::App* s : nested) out << ",\n.BR " << roff(page_name(*s)) << " (1)";
    out << "\n";
    return out.str();
  }
  out << ".SH SYNOPSIS\n.B keyfleet\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n";
  out << ".SH DESCRIPTION\n" << roff(app.get_description()) << "\n";
  out << ".SH COMMANDS\n";
  std::string see_also;
  for (const CLI::App* s : app.get_subcommands({})) {
    out << ".TP\n.B " << roff(s->get_name()) << "\n" << roff(s->get_description()) << "\n";
    if (s->get_name() != "help" && s->get_name() != "completion") {
      see_also +=
          fmt::format("{}.BR keyfleet\\-{} (1)", see_also.empty() ? "" : ",\n", s->get_name());
    }
  }
  options(out, app);
  out << ".SH EXIT STATUS\n";
  preformatted(out, app.get_footer());
  if (!see_also.empty()) out << ".SH SEE ALSO\n" << see_also << "\n";
  return out.str();
}

}  // namespace kf::cli
