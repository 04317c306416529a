#include "bundle/tar_writer.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <memory>

namespace kf::bundle {
namespace {

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t append_to(archive*, void* out, const void* buffer, std::size_t length) {
  const auto* bytes = static_cast<const std::uint8_t*>(buffer);
  static_cast<SecretBytes*>(out)->insert(static_cast<SecretBytes*>(out)->end(), bytes,
                                         bytes + length);
  return static_cast<la_ssize_t>(length);
}

std::unexpected<Error> fail_archive(archive* a, std::string_view what) {
  const char* why = archive_error_string(a);
  return fail(ExitCode::failure, "cannot write the tar: {}: {}", what,
              why != nullptr ? why : "unknown libarchive error");
}

}  // namespace

Result<SecretBytes> write_tar(std::span<const TarFile> files, std::time_t mtime) {
  SecretBytes out;
  std::size_t estimate = 1024;
  for (const auto& f : files) estimate += 1024 + f.data.size();
  out.reserve(estimate);  // fewer reallocations, so fewer copies of the plaintext to wipe

  std::unique_ptr<archive, ArchiveWriteFree> a(archive_write_new());
  if (!a) return fail(ExitCode::failure, "cannot write the tar: out of memory");
  // Without blocking, libarchive hands our buffers straight to the callback instead of copying
  // file contents into its own block buffer, which it would free without wiping.
  if (archive_write_set_format_pax(a.get()) != ARCHIVE_OK ||
      archive_write_add_filter_none(a.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a.get(), 0) != ARCHIVE_OK ||
      archive_write_open2(a.get(), &out, nullptr, append_to, nullptr, nullptr) != ARCHIVE_OK) {
    return fail_archive(a.get(), "cannot set up the pax writer");
  }
  for (const auto& f : files) {
    std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
    if (!entry) return fail(ExitCode::failure, "cannot write the tar: out of memory");
    std::string name(f.name);
    if (f.directory) name += '/';
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_filetype(entry.get(), f.directory ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(entry.get(), f.mode & 07777);
    archive_entry_set_size(entry.get(), f.directory ? 0 : static_cast<la_int64_t>(f.data.size()));
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    archive_entry_set_uname(entry.get(), "root");
    archive_entry_set_gname(entry.get(), "root");
    archive_entry_set_mtime(entry.get(), mtime, 0);
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) {
      return fail_archive(a.get(), fmt::format("entry {}", name));
    }
    std::size_t done = 0;
    while (done < f.data.size()) {
      la_ssize_t n = archive_write_data(a.get(), f.data.data() + done, f.data.size() - done);
      if (n <= 0) return fail_archive(a.get(), fmt::format("entry {}", name));
      done += static_cast<std::size_t>(n);
    }
    if (archive_write_finish_entry(a.get()) != ARCHIVE_OK) {
      return fail_archive(a.get(), fmt::format("entry {}", name));
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return fail_archive(a.get(), "closing");
  return out;
}

}  // namespace kf::bundle
