#include "bundle/tar_reader.hpp"

#include "core/escape.hpp"

#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <set>

#include "pki/keyset_path.hpp"
#include "pki/manifest.hpp"

namespace kf::bundle {
namespace {

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

std::string archive_why(archive* a) {
  const char* why = archive_error_string(a);
  return why != nullptr ? why : "unknown libarchive error";
}

std::string_view type_name(mode_t type) {
  switch (type) {
    case AE_IFDIR:
      return "a directory";
    case AE_IFLNK:
      return "a symbolic link";
    case AE_IFCHR:
      return "a character device";
    case AE_IFBLK:
      return "a block device";
    case AE_IFIFO:
      return "a FIFO";
    case AE_IFSOCK:
      return "a socket";
    default:
      return "not a regular file";
  }
}

constexpr std::string_view kFlatRule =
    "unsafe name (only [A-Za-z0-9_][A-Za-z0-9._-]{0,127} is allowed: no paths)";

// A path through a file: "a" is a file and "a/b" claims it is a directory, in either order.
bool through_a_file(const std::set<std::string>& files, const std::set<std::string>& all,
                    const std::string& name) {
  for (auto slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1)) {
    if (files.contains(name.substr(0, slash))) return true;
  }
  auto below = all.lower_bound(name + "/");
  return files.contains(name) && below != all.end() && below->starts_with(name + "/");
}

}  // namespace

Result<void> check_flat_entries(const std::vector<TarEntry>& entries) {
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const TarEntry& e = entries[i];
    auto bad = [&](std::string_view why) {
      return fail(ExitCode::integrity, "tar entry {} '{}': {}", i + 1, printable_name(e.name), why);
    };
    if (e.directory) return bad("a directory");
    if (!is_safe_entry_name(e.name)) return bad(kFlatRule);
  }
  return {};
}

std::string printable_name(std::string_view name) {
  return escape_untrusted(name, 100);
}

Result<std::vector<TarEntry>> read_tar(std::span<const std::uint8_t> tar, const TarLimits& limits) {
  std::unique_ptr<archive, ArchiveReadFree> a(archive_read_new());
  if (!a) return fail(ExitCode::failure, "cannot read the tar: out of memory");
  // The tar reader alone: no compression filters and no other formats to widen what we parse.
  if (archive_read_support_format_tar(a.get()) != ARCHIVE_OK ||
      archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK) {
    return fail(ExitCode::integrity, "the payload is not a tar: {}", archive_why(a.get()));
  }
  std::vector<TarEntry> entries;
  std::set<std::string> seen;
  std::set<std::string> files;
  for (std::size_t index = 1;; ++index) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK) {
      // Warnings too: a damaged header is never something to install from.
      return fail(ExitCode::integrity, "tar entry {}: {}", index, archive_why(a.get()));
    }
    if (index > limits.max_entries) {
      return fail(ExitCode::integrity, "the tar holds more than {} entries", limits.max_entries);
    }
    const char* raw_name = archive_entry_pathname(entry);
    if (raw_name == nullptr) {
      return fail(ExitCode::integrity, "tar entry {}: its name cannot be decoded", index);
    }
    std::string name = raw_name;
    auto bad = [&](std::string_view why) {
      return fail(ExitCode::integrity, "tar entry {} '{}': {}", index, printable_name(name), why);
    };
    if (archive_entry_hardlink(entry) != nullptr) return bad("a hard link");
    if (archive_entry_symlink(entry) != nullptr) return bad("a symbolic link");
    const bool directory = limits.nested && archive_entry_filetype(entry) == AE_IFDIR;
    if (archive_entry_filetype(entry) != AE_IFREG && !directory)
      return bad(type_name(archive_entry_filetype(entry)));
    if (!limits.nested) {
      if (!is_safe_entry_name(name)) return bad(kFlatRule);
    } else {
      if (directory && name.size() > 1 && name.ends_with('/')) name.pop_back();
      if (std::string problem = relative_path_problem(name); !problem.empty()) {
        return bad("unsafe name: " + problem);
      }
    }
    if (archive_entry_sparse_count(entry) > 0) return bad("a sparse file");
    if (!archive_entry_size_is_set(entry) || archive_entry_size(entry) < 0) return bad("no size");
    auto size = static_cast<std::uint64_t>(archive_entry_size(entry));
    if (size > limits.max_entry_size) {
      return bad(fmt::format("{} bytes is more than the limit of {}", size, limits.max_entry_size));
    }
    if (directory && size != 0) return bad("a directory with data");
    if (!seen.insert(name).second) return bad("a second entry with this name");
    if (!directory) files.insert(name);
    if (through_a_file(files, seen, name)) return bad("a path through an entry that is a file");

    TarEntry out{name, directory, archive_entry_perm(entry),
                 SecretBytes(static_cast<std::size_t>(size))};
    std::size_t done = 0;
    while (done < out.data.size()) {
      la_ssize_t n = archive_read_data(a.get(), out.data.data() + done, out.data.size() - done);
      if (n < 0) return bad(archive_why(a.get()));
      if (n == 0) return bad("truncated");
      done += static_cast<std::size_t>(n);
    }
    entries.push_back(std::move(out));
  }
  return entries;
}

}  // namespace kf::bundle
