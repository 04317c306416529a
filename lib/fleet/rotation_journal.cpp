#include "fleet/rotation_journal.hpp"

#include <sys/stat.h>

#include <fmt/format.h>

#include "core/escape.hpp"
#include "core/time.hpp"
#include "pki/generation.hpp"

namespace kf::rotation {
namespace {

constexpr std::size_t kMaxJournalSize = std::size_t{16} << 20;

using Json = nlohmann::ordered_json;

Json text_or_null(const std::string& text) {
  return text.empty() ? Json(nullptr) : Json(text);
}

std::vector<std::string> phase_names(Mode mode) {
  switch (mode) {
    case Mode::keep_ca:
      return {"keep-ca"};
    case Mode::emergency:
      return {"emergency"};
    case Mode::new_ca:
      return {"trust", "leaf", "retire"};
  }
  return {};
}

// Field readers for parse_journal: each says what is wrong with the field it reads.
class Reader {
 public:
  Reader(const nlohmann::json& object, std::string where)
      : object_(object), where_(std::move(where)) {}

  [[nodiscard]] const std::string& problem() const { return problem_; }

  std::string text(const char* key, bool nullable = false) {
    auto it = object_.find(key);
    if (it != object_.end() && it->is_string()) return it->get<std::string>();
    if (nullable && it != object_.end() && it->is_null()) return {};
    complain(key, nullable ? "a string or null" : "a string");
    return {};
  }
  std::uint64_t number(const char* key) {
    auto it = object_.find(key);
    if (it != object_.end() && it->is_number_unsigned()) return it->get<std::uint64_t>();
    complain(key, "a non-negative integer");
    return 0;
  }
  std::optional<std::uint64_t> optional_number(const char* key) {
    auto it = object_.find(key);
    if (it != object_.end() && it->is_null()) return std::nullopt;
    return number(key);
  }
  bool boolean(const char* key) {
    auto it = object_.find(key);
    if (it != object_.end() && it->is_boolean()) return it->get<bool>();
    complain(key, "true or false");
    return false;
  }
  const nlohmann::json* array(const char* key) {
    auto it = object_.find(key);
    if (it != object_.end() && it->is_array()) return &*it;
    complain(key, "an array");
    return nullptr;
  }
  void complain(std::string_view key, std::string_view what) {
    if (problem_.empty()) problem_ = fmt::format("{}\"{}\" must be {}", where_, key, what);
  }

 private:
  const nlohmann::json& object_;
  std::string where_;
  std::string problem_;
};

std::optional<PhaseState> parse_phase_state(std::string_view text) {
  for (PhaseState s : {PhaseState::pending, PhaseState::running, PhaseState::done}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::optional<State> parse_state(std::string_view text) {
  for (State s : {State::running, State::paused, State::finished, State::abandoned}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::keep_ca:
      return "keep-ca";
    case Mode::new_ca:
      return "new-ca";
    case Mode::emergency:
      return "emergency";
  }
  return "keep-ca";
}

std::optional<Mode> parse_mode(std::string_view text) {
  for (Mode m : {Mode::keep_ca, Mode::new_ca, Mode::emergency}) {
    if (to_string(m) == text) return m;
  }
  return std::nullopt;
}

std::string_view to_string(State state) {
  switch (state) {
    case State::running:
      return "running";
    case State::paused:
      return "paused";
    case State::finished:
      return "finished";
    case State::abandoned:
      return "abandoned";
  }
  return "running";
}

std::string_view to_string(PhaseState state) {
  switch (state) {
    case PhaseState::pending:
      return "pending";
    case PhaseState::running:
      return "running";
    case PhaseState::done:
      return "done";
  }
  return "pending";
}

PhaseRecord* Journal::next_phase() {
  for (auto& p : phases) {
    if (p.state != PhaseState::done) return &p;
  }
  return nullptr;
}

const PhaseRecord* Journal::next_phase() const {
  return const_cast<Journal*>(this)->next_phase();
}

const PhaseRecord* Journal::phase(std::string_view name) const {
  for (const auto& p : phases) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<std::string> Journal::not_done(const PhaseRecord& p) const {
  std::vector<std::string> out;
  for (const auto& name : nodes) {
    auto it = p.nodes.find(name);
    if (it == p.nodes.end() || !it->second.done) out.push_back(name);
  }
  return out;
}

Journal plan(Mode mode, const Manifest& current, std::uint64_t next, std::string by,
             std::time_t now) {
  Journal j;
  j.id = random_hex(8);
  j.mode = mode;
  j.started = rfc3339_utc(now);
  j.updated = j.started;
  j.by = std::move(by);
  j.keyset = current.keyset;
  j.from_generation = current.generation;
  std::uint64_t generation = next;
  for (auto& name : phase_names(mode)) {
    PhaseRecord phase;
    phase.name = std::move(name);
    phase.generation = generation++;
    j.phases.push_back(std::move(phase));
  }
  return j;
}

Json to_json(const Journal& j) {
  Json phases = Json::array();
  for (const auto& p : j.phases) {
    Json nodes = Json::array();
    for (const auto& [name, n] : p.nodes) {
      nodes.push_back({{"name", name},
                       {"done", n.done},
                       {"status", std::string(to_string(n.status))},
                       {"step", text_or_null(n.step)},
                       {"error", text_or_null(n.error)},
                       {"generation", n.generation ? Json(*n.generation) : Json(nullptr)},
                       {"time", n.time}});
    }
    phases.push_back({{"phase", p.name},
                      {"generation", p.generation},
                      {"state", std::string(to_string(p.state))},
                      {"manifest_sha256", text_or_null(p.manifest_sha256)},
                      {"bundle", text_or_null(p.bundle)},
                      {"bundle_sha256", text_or_null(p.bundle_sha256)},
                      {"started", text_or_null(p.started)},
                      {"finished", text_or_null(p.finished)},
                      {"nodes", nodes}});
  }
  return {{"format", kJournalFormat},
          {"id", j.id},
          {"mode", std::string(to_string(j.mode))},
          {"state", std::string(to_string(j.state))},
          {"started", j.started},
          {"updated", j.updated},
          {"by", j.by},
          {"keyset", text_or_null(j.keyset)},
          {"from_generation", j.from_generation},
          {"until", j.until ? Json(*j.until) : Json(nullptr)},
          {"nodes", j.nodes},
          {"abandoned", j.abandoned.empty() ? Json(nullptr)
                                            : Json{{"time", j.abandoned}, {"by", j.abandoned_by}}},
          {"phases", phases}};
}

Result<Journal> parse_journal(std::string_view text, std::string_view origin) {
  auto bad = [&](std::string_view why) {
    return fail(ExitCode::usage,
                "{}: {} (keyfleet does not guess at a rotation journal: move it away, or restore "
                "it, and run again)",
                origin, why);
  };
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  Reader r(doc, "");
  if (r.text("format") != kJournalFormat) {
    return bad(fmt::format("\"format\" is not \"{}\"", kJournalFormat));
  }
  Journal j;
  j.id = r.text("id");
  auto mode = parse_mode(r.text("mode"));
  auto state = parse_state(r.text("state"));
  j.started = r.text("started");
  j.updated = r.text("updated");
  j.by = r.text("by");
  j.keyset = r.text("keyset", true);
  j.from_generation = r.number("from_generation");
  std::string until = r.text("until", true);
  if (!until.empty()) j.until = until;
  const auto* names_of_nodes = r.array("nodes");
  const auto* phases = r.array("phases");
  if (!r.problem().empty()) return bad(r.problem());
  if (!mode) return bad("\"mode\" must be \"keep-ca\", \"new-ca\" or \"emergency\"");
  if (!state) return bad("\"state\" must be running, paused, finished or abandoned");
  j.mode = *mode;
  j.state = *state;
  for (const auto& n : *names_of_nodes) {
    if (!n.is_string()) return bad("\"nodes\" must hold node names");
    j.nodes.push_back(n.get<std::string>());
  }
  if (auto it = doc.find("abandoned"); it != doc.end() && !it->is_null()) {
    if (!it->is_object()) return bad("\"abandoned\" must be an object or null");
    Reader a(*it, "\"abandoned\": ");
    j.abandoned = a.text("time");
    j.abandoned_by = a.text("by");
    if (!a.problem().empty()) return bad(a.problem());
  }
  const auto names = phase_names(j.mode);
  if (phases->size() != names.size()) {
    return bad(fmt::format("a {} rotation has {} phase{}", to_string(j.mode), names.size(),
                           names.size() == 1 ? "" : "s"));
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& p = (*phases)[i];
    if (!p.is_object()) return bad("every phase must be an object");
    Reader pr(p, fmt::format("phase {}: ", i + 1));
    PhaseRecord phase;
    phase.name = pr.text("phase");
    phase.generation = pr.number("generation");
    auto phase_state = parse_phase_state(pr.text("state"));
    phase.manifest_sha256 = pr.text("manifest_sha256", true);
    phase.bundle = pr.text("bundle", true);
    phase.bundle_sha256 = pr.text("bundle_sha256", true);
    phase.started = pr.text("started", true);
    phase.finished = pr.text("finished", true);
    const auto* nodes = pr.array("nodes");
    if (!pr.problem().empty()) return bad(pr.problem());
    if (phase.name != names[i]) {
      return bad(
          fmt::format("phase {} of a {} rotation is \"{}\"", i + 1, to_string(j.mode), names[i]));
    }
    if (!phase_state)
      return bad(fmt::format("phase {}: \"state\" is not pending, running or done", phase.name));
    if (phase.generation < 1 || phase.generation > 999999) {
      return bad(fmt::format("phase {}: \"generation\" must be from 1 to 999999", phase.name));
    }
    phase.state = *phase_state;
    for (const auto& n : *nodes) {
      if (!n.is_object()) return bad(fmt::format("phase {}: a node is not an object", phase.name));
      Reader nr(n, fmt::format("phase {}: node: ", phase.name));
      std::string name = nr.text("name");
      NodeRecord record;
      record.done = nr.boolean("done");
      auto status = parse_node_status(nr.text("status"));
      record.step = nr.text("step", true);
      record.error = nr.text("error", true);
      record.generation = nr.optional_number("generation");
      record.time = nr.text("time");
      if (!nr.problem().empty()) return bad(nr.problem());
      if (!status)
        return bad(
            fmt::format("phase {}: node {}: unknown status", phase.name, escape_untrusted(name)));
      record.status = *status;
      phase.nodes[name] = std::move(record);
    }
    j.phases.push_back(std::move(phase));
  }
  return j;
}

fs::path journal_path(const fs::path& dir) {
  return dir / std::string(kJournalName);
}

Result<std::optional<Journal>> read_journal(const fs::path& dir) {
  const fs::path path = journal_path(dir);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<Journal>();
    return fail_errno(fmt::format("cannot read {}", path.string()));
  }
  KF_TRY_ASSIGN(auto bytes, read_file(path, kMaxJournalSize));
  KF_TRY_ASSIGN(
      Journal journal,
      parse_journal(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    path.string()));
  return std::optional<Journal>(std::move(journal));
}

Result<void> write_journal(const fs::path& dir, Journal& journal) {
  journal.updated = rfc3339_utc(std::time(nullptr));
  std::string text = to_json(journal).dump(2) + "\n";
  auto written = write_file_atomic(journal_path(dir), as_bytes(text), 0600);
  if (!written) return std::unexpected(with_context(written.error(), "the rotation journal"));
  return {};
}

std::string describe(const Journal& j) {
  std::string out =
      fmt::format("rotation {} (--{}, started {} by {}) is {}", j.id, to_string(j.mode), j.started,
                  escape_untrusted(j.by), to_string(j.state));
  if (!j.abandoned.empty()) {
    out += fmt::format(" since {} by {}", j.abandoned, escape_untrusted(j.abandoned_by));
  }
  out += "\n";
  for (const auto& p : j.phases) {
    std::size_t done = 0;
    std::vector<std::string> failed;
    for (const auto& [name, n] : p.nodes) {
      if (n.done) {
        ++done;
      } else {
        failed.push_back(name);
      }
    }
    out += fmt::format("  {:<9} generation {}  {:<7}", p.name, generation_name(p.generation),
                       to_string(p.state));
    if (!p.nodes.empty()) {
      out += fmt::format("  {} done", done);
      if (!failed.empty()) {
        out += fmt::format(", not done: {}", escape_untrusted(fold_names(failed)));
      }
    }
    out += "\n";
    for (const auto& [name, n] : p.nodes) {
      if (n.done || n.error.empty()) continue;
      out += fmt::format("    {} {} [{}]: {}\n", escape_untrusted(name), to_string(n.status),
                         n.step, escape_untrusted(n.error, 400));
    }
  }
  return out;
}

JournalWriter::JournalWriter(fs::path dir, Journal journal)
    : dir_(std::move(dir)), journal_(std::move(journal)) {}

Result<void> JournalWriter::update(const std::function<void(Journal&)>& change) {
  std::lock_guard lock(mutex_);
  change(journal_);
  return write_journal(dir_, journal_);
}

void JournalWriter::record_node(const std::string& phase, const std::string& node,
                                const NodeOutcome& report) {
  auto written = update([&](Journal& j) {
    for (auto& p : j.phases) {
      if (p.name != phase) continue;
      NodeRecord& r = p.nodes[node];
      r.done = is_success(report.status);
      r.status = report.status;
      r.step = report.step;
      r.error = report.error;
      r.generation = report.generation;
      r.time = rfc3339_utc(std::time(nullptr));
    }
  });
  if (!written) {
    std::lock_guard lock(mutex_);
    if (!lost_) lost_ = written.error();
  }
}

Journal JournalWriter::snapshot() const {
  std::lock_guard lock(mutex_);
  return journal_;
}

std::optional<Error> JournalWriter::lost_record() const {
  std::lock_guard lock(mutex_);
  return lost_;
}

}  // namespace kf::rotation
