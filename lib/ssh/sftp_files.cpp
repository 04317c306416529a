// SshSession's whole-file operations: uploads and reads, their requests batched (SftpBatch) so
// that a small file costs two round trips, not one per request.
#include <fcntl.h>

#include <algorithm>

#include "ssh/sftp_common.hpp"

namespace kf {

using namespace sftp_common;

NodeResult<void> SshSession::upload(const std::string& path, std::span<const std::uint8_t> data,
                                    mode_t mode) {
  const NewFile file{path, data, mode};
  return upload_all(std::span(&file, 1));
}

NodeResult<void> SshSession::upload_all(std::span<const NewFile> files) {
  auto written = write_files(files, false);
  if (!written) return std::unexpected(std::move(written.error()));
  return {};
}

NodeResult<std::vector<std::uint8_t>> SshSession::upload_and_read_back(
    const std::string& path, std::span<const std::uint8_t> data, mode_t mode) {
  const NewFile file{path, data, mode};
  KF_TRY_ASSIGN(auto back, write_files(std::span(&file, 1), true));
  return std::move(back.front());
}

// Two round trips for small files, however many: their opens together, then their writes,
// fsyncs, reads back, closes and modes together (more trips only past kWritesPerTrip writes and
// reads).
NodeResult<std::vector<std::vector<std::uint8_t>>> SshSession::write_files(
    std::span<const NewFile> files, bool read_back) {
  std::vector<std::vector<std::uint8_t>> back(read_back ? files.size() : 0);
  if (files.empty()) return back;
  KF_TRY_ASSIGN(sftp_session s, sftp());
  const bool has_fsync = sftp_extension_supported(s, "fsync@openssh.com", "1") != 0;
  SftpBatch creating(*core_, s, "create " + files[0].path);
  const std::uint32_t access = read_back ? SSH_FXF_READ | SSH_FXF_WRITE : SSH_FXF_WRITE;
  for (const auto& file : files) {
    creating.open(file.path, access | SSH_FXF_CREAT | SSH_FXF_EXCL, file.mode);
  }
  KF_TRY_ASSIGN(auto opened, creating.run());
  // Our own O_EXCL files: none is left behind when one fails. `open` holds the handles not
  // closed yet.
  std::vector<std::string> handles(files.size());
  std::vector<bool> open(files.size(), false);
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (opened[i].type == SSH_FXP_HANDLE) {
      handles[i] = opened[i].bytes;
      open[i] = true;
    }
  }
  auto give_up = [&](NodeError error) -> NodeError {
    if (!ssh_is_connected(core_->session.get())) return error;
    SftpBatch undoing(*core_, s, "remove " + files[0].path);
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (open[i]) undoing.close(handles[i]);
    }
    (void)undoing.run();
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (!handles[i].empty()) sftp_unlink(s, files[i].path.c_str());
    }
    return error;
  };
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (opened[i].type == SSH_FXP_HANDLE) continue;
    NodeError error = status_failure(opened[i].status, "create", files[i].path);
    if (error.status == NodeStatus::failed && opened[i].status == SSH_FX_FAILURE) {
      if (auto st = lstat(files[i].path); st && *st) {
        error.message =
            fmt::format("{}: cannot create {}: it already exists", core_->name, files[i].path);
      }
    }
    return std::unexpected(give_up(std::move(error)));
  }

  // Every request after the opens, in order; a trip carries at most kWritesPerTrip writes and
  // reads (their data both ways stays inside the channel's window).
  struct Step {
    std::size_t file;
    std::string_view what;
    std::uint64_t offset = 0;
    std::size_t length = 0;  // a write's or read's; 0 for the rest
  };
  std::vector<Step> steps;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const NewFile& f = files[i];
    for (std::size_t at = 0; at < f.data.size(); at += kChunk) {
      steps.push_back({i, "write", at, std::min(kChunk, f.data.size() - at)});
    }
    if (has_fsync) steps.push_back({i, "fsync"});
    // What the node's file holds now, read through the same open file: a check that costs no
    // process on the node.
    if (read_back) {
      for (std::size_t at = 0; at <= f.data.size(); at += kChunk) {
        steps.push_back({i, "read back", at, kChunk});
      }
    }
    // close(2) reports delayed write errors on some filesystems (NFS): its status is checked.
    steps.push_back({i, "close"});
    // A umask on the node may take group or other bits the mode grants: set explicitly, by
    // path, since callers create these in directories only they can write.
    if ((f.mode & 07077) != 0) steps.push_back({i, "set the mode of (new file)"});
  }
  std::size_t next = 0;
  while (next < steps.size()) {
    SftpBatch batch(*core_, s, "write " + files[steps[next].file].path);
    const std::size_t first = next;
    for (std::size_t moved = 0; next < steps.size(); ++next) {
      const Step& step = steps[next];
      const std::string& handle = handles[step.file];
      if (step.length != 0 && moved++ == kWritesPerTrip) break;
      if (step.what == "write") {
        batch.write(handle, step.offset, files[step.file].data.subspan(step.offset, step.length));
      } else if (step.what == "fsync") {
        batch.fsync(handle);
      } else if (step.what == "read back") {
        batch.read(handle, step.offset, static_cast<std::uint32_t>(step.length));
      } else if (step.what == "close") {
        batch.close(handle);
      } else {
        batch.chmod(files[step.file].path, files[step.file].mode);
      }
    }
    KF_TRY_ASSIGN(auto answers, batch.run());
    for (std::size_t k = first; k < next; ++k) {
      if (steps[k].what == "close") open[steps[k].file] = false;
    }
    for (std::size_t i = 0; i < answers.size(); ++i) {
      const Step& step = steps[first + i];
      if (step.what == "read back") {
        // A short read is the file's end; what it holds is the caller's to judge.
        if (answers[i].type == SSH_FXP_DATA) {
          back[step.file].insert(back[step.file].end(), answers[i].bytes.begin(),
                                 answers[i].bytes.end());
          continue;
        }
        if (answers[i].at_eof()) continue;
      } else if (answers[i].type == SSH_FXP_STATUS && !answers[i].failed()) {
        continue;
      }
      const std::string& path = files[step.file].path;
      NodeError error = status_failure(answers[i].status, step.what, path);
      if (error.status == NodeStatus::failed && step.what == "write") {
        if (auto left = space(path); left && left->available < kChunk) {
          error.message +=
              fmt::format(" (the node's filesystem is full: {} bytes free)", left->available);
        }
      }
      return std::unexpected(give_up(std::move(error)));
    }
  }
  if (!has_fsync) {
    for (const auto& f : files) KF_CHECK(remote_sync(f.path, "fsync"));
  }
  return back;
}

// A file the size it was listed with, at most one read long, costs the lstat, the open, and its
// read and close together; anything else is read one request at a time.
NodeResult<std::vector<std::uint8_t>> SshSession::read_file(const std::string& path,
                                                            std::size_t max_size) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  KF_TRY_ASSIGN(auto st, lstat(path));
  if (!st)
    return node_fail(NodeStatus::failed, "sftp", "{}: cannot read {}: no such file", core_->name,
                     path);
  if (st->type != FileType::regular) {
    return node_fail(NodeStatus::failed, "sftp", "{}: cannot read {}: not a regular file",
                     core_->name, path);
  }
  if (st->size >= kChunk || st->size > max_size) return read_file_slowly(path, *st, max_size);
  SftpBatch opening(*core_, s, "open " + path);
  opening.open(path, SSH_FXF_READ, 0);
  KF_TRY_ASSIGN(auto opened, opening.run());
  if (opened[0].type != SSH_FXP_HANDLE) {
    return std::unexpected(status_failure(opened[0].status, "open", path));
  }
  SftpBatch reading(*core_, s, "read " + path);
  reading.read(opened[0].bytes, 0, static_cast<std::uint32_t>(kChunk));
  reading.close(opened[0].bytes);
  KF_TRY_ASSIGN(auto answers, reading.run());
  const SftpAnswer& data = answers[0];
  if (data.type == SSH_FXP_DATA && data.bytes.size() == st->size) {
    // A short read of a regular file is its end (SFTP: "for normal disk files ... the specified
    // number of bytes, or up to end of file"), when it also matches the size listed before.
    return std::vector<std::uint8_t>(data.bytes.begin(), data.bytes.end());
  }
  if (data.at_eof() && st->size == 0) return std::vector<std::uint8_t>{};
  if (data.failed() && !data.at_eof()) {
    return std::unexpected(status_failure(data.status, "read", path));
  }
  // It changed size since it was listed: read to its end.
  return read_file_slowly(path, *st, max_size);
}

NodeResult<std::vector<std::uint8_t>> SshSession::read_file_slowly(const std::string& path,
                                                                   const RemoteStat& listed,
                                                                   std::size_t max_size) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  FilePtr file(sftp_open(s, path.c_str(), O_RDONLY, 0));
  if (!file) return std::unexpected(sftp_failure("open", path));
  std::vector<std::uint8_t> out;
  out.reserve(std::min<std::uint64_t>(listed.size, max_size));
  std::vector<std::uint8_t> buffer(kChunk);
  for (;;) {
    core_->refresh_timeout();
    ssize_t n = sftp_read(file.get(), buffer.data(), buffer.size());
    if (n < 0) return std::unexpected(sftp_failure("read", path));
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_size) {
      return node_fail(NodeStatus::failed, "sftp", "{}: cannot read {}: larger than {} bytes",
                       core_->name, path, max_size);
    }
    out.insert(out.end(), buffer.begin(), buffer.begin() + n);
    if (static_cast<std::size_t>(n) < buffer.size() && out.size() == listed.size) break;
  }
  return out;
}

NodeResult<std::vector<NodeResult<void>>> SshSession::remove_each(
    std::span<const std::string> files, std::span<const std::string> dirs) {
  std::vector<NodeResult<void>> out;
  if (files.empty() && dirs.empty()) return out;
  KF_TRY_ASSIGN(sftp_session s, sftp());
  SftpBatch batch(*core_, s, "remove " + (files.empty() ? dirs[0] : files[0]));
  for (const auto& path : files) batch.remove(path);
  for (const auto& path : dirs) batch.rmdir(path);
  KF_TRY_ASSIGN(auto answers, batch.run());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const bool file = i < files.size();
    if (answers[i].type == SSH_FXP_STATUS && !answers[i].failed()) {
      out.emplace_back();
    } else {
      out.emplace_back(
          std::unexpected(status_failure(answers[i].status, file ? "remove" : "remove directory",
                                         file ? files[i] : dirs[i - files.size()])));
    }
  }
  return out;
}

}  // namespace kf
