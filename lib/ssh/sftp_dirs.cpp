// SshSession's directory operations: listings, links, directory fsyncs, their requests batched
// (SftpBatch) where one does not need another's answer.
#include <fcntl.h>

#include <algorithm>

#include "ssh/sftp_common.hpp"

namespace kf {

using namespace sftp_common;

namespace {

void sort_by_name(std::vector<DirEntry>& entries) {
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
}

}  // namespace

// Two round trips for a directory whose entries come in one answer (OpenSSH's server sends up to
// 100 at a time): the opendir, then two readdirs and the close together. The second readdir's
// end-of-file proves the listing whole; a longer directory is listed again one request at a time.
NodeResult<std::vector<DirEntry>> SshSession::list_dir(const std::string& path) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  SftpBatch opening(*core_, s, "list " + path);
  opening.opendir(path);
  KF_TRY_ASSIGN(auto opened, opening.run());
  if (opened[0].type != SSH_FXP_HANDLE) {
    return std::unexpected(status_failure(opened[0].status, "list", path));
  }
  return read_listing(path, opened[0].bytes);
}

// The entries of the directory open as `handle`, which this closes.
NodeResult<std::vector<DirEntry>> SshSession::read_listing(const std::string& path,
                                                           const std::string& handle) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  SftpBatch reading(*core_, s, "list " + path);
  reading.readdir(handle);
  reading.readdir(handle);
  reading.close(handle);
  KF_TRY_ASSIGN(auto answers, reading.run());
  KF_TRY_ASSIGN(auto entries, entries_of(path, answers[0], answers[1]));
  if (entries) return std::move(*entries);
  return list_dir_slowly(path);
}

NodeResult<std::optional<std::vector<DirEntry>>> SshSession::entries_of(
    const std::string& path, const SftpAnswer& first, const SftpAnswer& second) const {
  std::vector<DirEntry> entries;
  for (const SftpAnswer* answer : {&first, &second}) {
    if (answer->at_eof()) {
      sort_by_name(entries);
      return entries;
    }
    if (answer->type != SSH_FXP_NAME) {
      return std::unexpected(status_failure(answer->status, "list", path));
    }
    for (const auto& entry : answer->entries) {
      if (entry.name.empty() || entry.name == "." || entry.name == "..") continue;
      entries.push_back(entry);
    }
  }
  return std::nullopt;
}

NodeResult<Listing> SshSession::lstat_list(const std::string& path) {
  KF_TRY_ASSIGN(auto found, survey(std::span(&path, 1), {}));
  return std::move(found.lists.front());
}

NodeResult<LinkInfo> SshSession::lstat_link(const std::string& path) {
  KF_TRY_ASSIGN(auto found, survey({}, std::span(&path, 1)));
  return std::move(found.links.front());
}

// First every lstat with its opendir (opendir follows a symlink, so its handle is used only when
// lstat says a directory, and closed otherwise) and every link's lstat, readlink and stat (the
// last two count only for a symlink); then two readdirs and the close of each directory
// together. A directory longer than one readdir answer is listed again one request at a time.
NodeResult<Survey> SshSession::survey(std::span<const std::string> lists,
                                      std::span<const std::string> links) {
  if (lists.empty() && links.empty()) return Survey{};
  KF_TRY_ASSIGN(sftp_session s, sftp());
  SftpBatch looking(*core_, s, "list " + (lists.empty() ? links[0] : lists[0]));
  for (const auto& path : lists) {
    looking.lstat(path);
    looking.opendir(path);
  }
  for (const auto& path : links) {
    looking.lstat(path);
    looking.readlink(path);
    looking.stat(path);
  }
  KF_TRY_ASSIGN(auto looked, looking.run());
  Survey out;
  out.lists.resize(lists.size());
  SftpBatch reading(*core_, s, "list " + (lists.empty() ? links[0] : lists[0]));
  // The lists whose entries `reading` asks for, with where their answers start.
  std::vector<std::pair<std::size_t, std::size_t>> listed;
  std::optional<NodeError> failure;
  for (std::size_t i = 0; i < lists.size(); ++i) {
    const SftpAnswer& opened = looked[2 * i + 1];
    auto st = stat_answer(looked[2 * i], "lstat", lists[i]);
    if (!st && !failure) failure = st.error();
    const bool is_dir = st && *st && (*st)->type == FileType::directory;
    if (st) out.lists[i].stat = *st;
    if (opened.type != SSH_FXP_HANDLE) {
      if (is_dir && !failure) failure = status_failure(opened.status, "list", lists[i]);
      continue;
    }
    if (is_dir) {
      listed.emplace_back(i, reading.size());
      reading.readdir(opened.bytes);
      reading.readdir(opened.bytes);
    }
    reading.close(opened.bytes);
  }
  // Every handle is closed, whatever failed.
  std::vector<SftpAnswer> answers;
  if (reading.size() != 0) {
    KF_TRY_ASSIGN(answers, reading.run());
  }
  if (failure) return std::unexpected(*failure);
  for (auto [i, at] : listed) {
    KF_TRY_ASSIGN(auto entries, entries_of(lists[i], answers[at], answers[at + 1]));
    if (entries) {
      out.lists[i].entries = std::move(*entries);
    } else {
      KF_TRY_ASSIGN(out.lists[i].entries, list_dir_slowly(lists[i]));
    }
  }
  const std::size_t base = 2 * lists.size();
  for (std::size_t i = 0; i < links.size(); ++i) {
    const SftpAnswer* answer = &looked[base + 3 * i];
    LinkInfo link;
    KF_TRY_ASSIGN(link.stat, stat_answer(answer[0], "lstat", links[i]));
    if (link.stat && link.stat->type == FileType::symlink) {
      if (answer[1].type != SSH_FXP_NAME || answer[1].entries.size() != 1) {
        return std::unexpected(status_failure(answer[1].status, "read the symlink", links[i]));
      }
      link.text = answer[1].entries[0].name;
      KF_TRY_ASSIGN(link.target, stat_answer(answer[2], "stat", links[i]));
    }
    out.links.push_back(std::move(link));
  }
  return out;
}

// An lstat's or stat's answer: the attributes, nullopt for nothing there, or the failure.
NodeResult<std::optional<RemoteStat>> SshSession::stat_answer(const SftpAnswer& answer,
                                                              std::string_view what,
                                                              const std::string& path) const {
  if (answer.type == SSH_FXP_ATTRS) return answer.attrs;
  if (answer.type == SSH_FXP_STATUS && is_missing(static_cast<int>(answer.status))) {
    return std::nullopt;
  }
  return std::unexpected(status_failure(answer.status, what, path));
}

NodeResult<std::vector<DirEntry>> SshSession::list_dir_slowly(const std::string& path) {
  KF_TRY_ASSIGN(sftp_session s, sftp());
  core_->refresh_timeout();
  DirPtr dir(sftp_opendir(s, path.c_str()));
  if (!dir) return std::unexpected(sftp_failure("list", path));
  std::vector<DirEntry> entries;
  for (;;) {
    core_->refresh_timeout();
    AttributesPtr attributes(sftp_readdir(s, dir.get()));
    if (!attributes) break;
    std::string_view name = attributes->name ? attributes->name : "";
    if (name.empty() || name == "." || name == "..") continue;
    entries.push_back(DirEntry{std::string(name), to_remote_stat(*attributes)});
  }
  if (!sftp_dir_eof(dir.get())) return std::unexpected(sftp_failure("list", path));
  sort_by_name(entries);
  return entries;
}

NodeResult<void> SshSession::fsync_dir(const std::string& path) {
  return fsync_dirs(std::span(&path, 1));
}

// The opens together, then the fsyncs and closes together.
NodeResult<void> SshSession::fsync_dirs(std::span<const std::string> paths) {
  if (paths.empty()) return {};
  KF_TRY_ASSIGN(sftp_session s, sftp());
  if (sftp_extension_supported(s, "fsync@openssh.com", "1") == 0) {
    for (const auto& path : paths) KF_CHECK(remote_sync(path, "fsync"));
    return {};
  }
  // OpenSSH's server opens a directory for reading like a file, and fsyncs the handle.
  SftpBatch opening(*core_, s, "open the directory " + paths[0]);
  for (const auto& path : paths) opening.open(path, SSH_FXF_READ, 0);
  KF_TRY_ASSIGN(auto opened, opening.run());
  SftpBatch syncing(*core_, s, "fsync " + paths[0]);
  std::vector<std::size_t> synced;  // the index of the path each fsync is for
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (opened[i].type != SSH_FXP_HANDLE) continue;
    syncing.fsync(opened[i].bytes);
    syncing.close(opened[i].bytes);
    synced.push_back(i);
  }
  KF_TRY_ASSIGN(auto answers, syncing.run());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (opened[i].type != SSH_FXP_HANDLE) {
      return std::unexpected(status_failure(opened[i].status, "open the directory", paths[i]));
    }
  }
  for (std::size_t k = 0; k < synced.size(); ++k) {
    const SftpAnswer& answer = answers[2 * k];
    if (answer.failed() || answer.type != SSH_FXP_STATUS) {
      return std::unexpected(status_failure(answer.status, "fsync", paths[synced[k]]));
    }
  }
  return {};
}

}  // namespace kf
