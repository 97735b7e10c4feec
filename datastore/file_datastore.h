// The `file` datastore: the cluster as a YAML file, watched with inotify.
//
// The directory is watched, not the file: editors and tools replace files by renaming a new
// one onto the name, and Kubernetes-style ConfigMap volumes swap a `..data` symlink. Any event
// in the directory makes the file a candidate; it is re-read and counts as changed only when
// its content differs from what was last loaded. The periodic resync re-reads it as well, so a
// missed event (a watch lost with its directory) costs latency, never correctness.
//
// A change that touches only entries of the services list is read at the cost of those entries
// (model/cluster_increment.h) and handed over as a ServiceDelta; anything else as a snapshot.
#pragma once

#include <optional>
#include <string>

#include "common/dir_watch.h"
#include "common/result.h"
#include "datastore/datastore.h"
#include "model/cluster_increment.h"
#include "model/config.h"

namespace ovl {

class FileDatastore final : public Datastore {
 public:
  static Result<FileDatastore> create(const std::string& path);

  int fd() const override { return watch_.fd(); }
  // Drains pending inotify events (re-adding the watch if its directory went away); true when
  // the file may have changed.
  bool maybeChanged() override;
  // The cluster, when the file's content differs from the last load (or on the first call).
  // Its revision counts the loads.
  std::optional<ClusterLoad> loadIfChanged() override;
  // Only the services that changed when nothing else did and the last snapshot was usable;
  // else a snapshot, as loadIfChanged().
  std::optional<ClusterChange> nextChange() override;
  std::string describe() const override { return path_; }
  const std::string& path() const { return path_; }

 private:
  FileDatastore(std::string path, DirectoryWatch watch)
      : path_(std::move(path)), watch_(std::move(watch)), state_(path_) {}

  // The file's content, or the snapshot that says why it cannot be read.
  Result<std::string> read();
  ClusterLoad unreadable(const Error& e);

  std::string path_;
  DirectoryWatch watch_;
  ClusterFileState state_;  // the content last loaded, and what it reads as
  uint64_t revision_ = 0;
};

}  // namespace ovl
