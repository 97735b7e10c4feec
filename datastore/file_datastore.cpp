#include "datastore/file_datastore.h"

#include <sys/inotify.h>

#include <filesystem>
#include <functional>

namespace ovl {

namespace {

// A write is seen when its writer closes the file (IN_CLOSE_WRITE), not at each write():
// `printf > file` truncates first, and reading then would find an empty file. Renames onto
// the name (and symlink swaps) are IN_MOVED_TO; the *_SELF events say the directory itself
// went away, and with it the watch.
constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_CREATE |
                           IN_DELETE_SELF | IN_MOVE_SELF;

}  // namespace

Result<FileDatastore> FileDatastore::create(const std::string& path) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  auto watch = DirectoryWatch::create(dir, {kMask, false, "directory {} of the cluster file"});
  if (!watch) {
    return watch.error();
  }
  return FileDatastore(path, std::move(*watch));
}

bool FileDatastore::maybeChanged() {
  // Any change in the directory: the content is compared to know.
  return watch_.drain([](std::string_view) { return true; });
}

std::optional<ClusterLoad> FileDatastore::loadIfChanged() {
  watch_.ensureWatching();
  // Read as ovlctl reads it: a regular file of at most 64 MiB, so /dev/zero or a FIFO fails
  // at once instead of growing (or blocking) the agent.
  Result<std::string> text = readConfigFile(path_);
  if (!text) {
    lastHash_.reset();
    ClusterLoad load;
    load.fatal = true;
    load.issues.push_back(ConfigIssue{SourceMark{path_}, "", text.error().message});
    load.revision = ++revision_;
    return load;
  }
  const size_t hash = std::hash<std::string>{}(*text);
  if (lastHash_ == hash) {
    return std::nullopt;
  }
  lastHash_ = hash;
  ClusterLoad load = parseCluster(*text, path_);
  load.revision = ++revision_;
  return load;
}

}  // namespace ovl
