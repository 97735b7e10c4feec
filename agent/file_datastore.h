// The `file` datastore: the cluster as a YAML file, watched with inotify. The directory is
// watched, not the file, so that editors and tools that replace the file by a rename (the
// usual atomic write) are seen as well as writes in place.
#pragma once

#include <string>

#include "agent/config.h"
#include "common/fd.h"
#include "common/result.h"

namespace ovl {

class FileDatastore {
 public:
  static Result<FileDatastore> create(const std::string& path);

  int fd() const { return inotify_.get(); }
  // Drains pending inotify events; true when the cluster file may have changed.
  bool changed();
  ClusterLoad load() const { return loadClusterFile(path_); }
  const std::string& path() const { return path_; }

 private:
  FileDatastore(std::string path, std::string base, UniqueFd fd)
      : path_(std::move(path)), base_(std::move(base)), inotify_(std::move(fd)) {}
  std::string path_;
  std::string base_;  // file name within the watched directory
  UniqueFd inotify_;
};

}  // namespace ovl
