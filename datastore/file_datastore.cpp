#include "datastore/file_datastore.h"

#include <sys/inotify.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

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
  UniqueFd fd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd.valid()) {
    return Error::sys(errno, "inotify_init1");
  }
  FileDatastore ds(path, dir, std::move(fd));
  ds.watch_ = inotify_add_watch(ds.inotify_.get(), dir.c_str(), kMask);
  if (ds.watch_ < 0) {
    return Error::sys(errno, "watch directory " + dir + " of the cluster file");
  }
  return ds;
}

void FileDatastore::watchDirectory() {
  // The directory may be back (re-created, or renamed back); if not, the resync re-reads.
  watch_ = inotify_add_watch(inotify_.get(), dir_.c_str(), kMask);
}

bool FileDatastore::maybeChanged() {
  alignas(inotify_event) char buf[16384];
  bool hit = false;
  bool lost = false;
  for (;;) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n <= 0) {
      break;  // EAGAIN: drained
    }
    for (ssize_t off = 0; off < n;) {
      auto* ev = reinterpret_cast<inotify_event*>(buf + off);
      hit = true;  // any change in the directory: compare the content to know
      lost |= (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0;
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  if (lost) {
    if (watch_ >= 0) {
      inotify_rm_watch(inotify_.get(), watch_);
    }
    watchDirectory();
  }
  return hit;
}

std::optional<ClusterLoad> FileDatastore::loadIfChanged() {
  if (watch_ < 0) {
    watchDirectory();
  }
  std::ifstream in(path_, std::ios::binary);
  std::ostringstream text;
  if (in) {
    text << in.rdbuf();
  }
  if (!in) {
    lastHash_.reset();
    ClusterLoad load = loadClusterFile(path_);  // reports why it cannot be read
    load.revision = ++revision_;
    return load;
  }
  const size_t hash = std::hash<std::string>{}(text.str());
  if (lastHash_ == hash) {
    return std::nullopt;
  }
  lastHash_ = hash;
  ClusterLoad load = parseCluster(text.str(), path_);
  load.revision = ++revision_;
  return load;
}

}  // namespace ovl
