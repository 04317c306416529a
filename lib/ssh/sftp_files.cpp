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

// Two round trips for small files, however many: their opens together, then their writes,
// fsyncs, closes and modes together (more trips only past kWritesPerTrip writes).
NodeResult<void> SshSession::upload_all(std::span<const NewFile> files) {
  if (files.empty()) return {};
  KF_TRY_ASSIGN(sftp_session s, sftp());
  const bool has_fsync = sftp_extension_supported(s, "fsync@openssh.com", "1") != 0;
  SftpBatch creating(*core_, s, "create " + files[0].path);
  for (const auto& file : files) {
    creating.open(file.path, SSH_FXF_WRITE | SSH_FXF_CREAT | SSH_FXF_EXCL, file.mode);
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

  struct Step {
    std::size_t file;
    std::string_view what;
  };
  std::size_t file = 0;
  std::size_t offset = 0;
  while (file < files.size()) {
    SftpBatch batch(*core_, s, "write " + files[file].path);
    std::vector<Step> steps;
    std::size_t writes = 0;
    while (file < files.size() && writes < kWritesPerTrip) {
      const NewFile& f = files[file];
      while (offset < f.data.size() && writes < kWritesPerTrip) {
        std::size_t n = std::min(kChunk, f.data.size() - offset);
        batch.write(handles[file], offset, f.data.subspan(offset, n));
        steps.push_back({file, "write"});
        offset += n;
        ++writes;
      }
      if (offset < f.data.size()) break;
      if (has_fsync) {
        batch.fsync(handles[file]);
        steps.push_back({file, "fsync"});
      }
      // close(2) reports delayed write errors on some filesystems (NFS): its status is checked.
      batch.close(handles[file]);
      steps.push_back({file, "close"});
      // A umask on the node may take group or other bits the mode grants: set explicitly, by
      // path, since callers create these in directories only they can write.
      if ((f.mode & 07077) != 0) {
        batch.chmod(f.path, f.mode);
        steps.push_back({file, "set the mode of (new file)"});
      }
      ++file;
      offset = 0;
    }
    KF_TRY_ASSIGN(auto answers, batch.run());
    for (const auto& step : steps) {
      if (step.what == "close") open[step.file] = false;
    }
    for (std::size_t i = 0; i < answers.size(); ++i) {
      if (answers[i].type == SSH_FXP_STATUS && !answers[i].failed()) continue;
      const std::string& path = files[steps[i].file].path;
      NodeError error = status_failure(answers[i].status, steps[i].what, path);
      if (error.status == NodeStatus::failed && steps[i].what != "close") {
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
  return {};
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

NodeResult<std::vector<NodeResult<void>>> SshSession::unlink_each(
    std::span<const std::string> paths) {
  std::vector<NodeResult<void>> out;
  if (paths.empty()) return out;
  KF_TRY_ASSIGN(sftp_session s, sftp());
  SftpBatch batch(*core_, s, "remove " + paths[0]);
  for (const auto& path : paths) batch.remove(path);
  KF_TRY_ASSIGN(auto answers, batch.run());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (answers[i].type == SSH_FXP_STATUS && !answers[i].failed()) {
      out.emplace_back();
    } else {
      out.emplace_back(std::unexpected(status_failure(answers[i].status, "remove", paths[i])));
    }
  }
  return out;
}

}  // namespace kf
