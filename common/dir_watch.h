// One directory watched with inotify, for the files ovl reads when they change: the cluster file
// (datastore/file_datastore.h) and ovl-cni's endpoint registrations (agent/local_endpoints.h).
// fd() is for poll(); drain() reads every pending event without blocking. A watch is lost when
// its directory is deleted or renamed (IN_IGNORED, IN_DELETE_SELF, IN_MOVE_SELF): drain() then
// adds it again, so a directory that comes back is watched again; until it does, the callers'
// periodic re-read covers the gap.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/fd.h"
#include "common/result.h"

namespace ovl {

class DirectoryWatch {
 public:
  struct Options {
    uint32_t mask = 0;             // IN_* events to watch
    bool createDirectory = false;  // create the directory at start and when it comes back
    // For messages, with {} for the directory: "endpoints directory {}".
    std::string what = "directory {}";
  };

  // Fails when the directory cannot be watched (or created, with createDirectory).
  static Result<DirectoryWatch> create(std::string dir, Options options);

  int fd() const { return inotify_.get(); }
  const std::string& dir() const { return dir_; }

  // Reads every pending event. True when an event's name passes `relevant` ("" for events of
  // the directory itself), or when the watch was lost and added again (anything may have
  // changed meanwhile).
  bool drain(const std::function<bool(std::string_view name)>& relevant);
  // Adds the watch again if it was lost and the directory is back.
  void ensureWatching();

 private:
  DirectoryWatch(std::string dir, Options options, UniqueFd fd)
      : dir_(std::move(dir)), options_(std::move(options)), inotify_(std::move(fd)) {}
  Status watch();
  std::string name() const;  // options_.what with the directory

  std::string dir_;
  Options options_;
  UniqueFd inotify_;
  int watch_ = -1;
};

}  // namespace ovl
