#include "agent/file_datastore.h"

#include <sys/inotify.h>

#include <cstring>
#include <filesystem>

namespace ovl {

Result<FileDatastore> FileDatastore::create(const std::string& path) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  UniqueFd fd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd.valid()) {
    return Error::sys(errno, "inotify_init1");
  }
  // A write is seen when its writer closes the file (IN_CLOSE_WRITE), not at each write():
  // `printf > file` truncates first, and reading then would find an empty file. An atomic
  // replace is a rename onto the name (IN_MOVED_TO); a removal is reported and keeps the last
  // good cluster.
  const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM;
  if (inotify_add_watch(fd.get(), dir.c_str(), mask) < 0) {
    return Error::sys(errno, "watch directory " + dir + " of the cluster file");
  }
  return FileDatastore(path, p.filename().string(), std::move(fd));
}

bool FileDatastore::changed() {
  alignas(inotify_event) char buf[16384];
  bool hit = false;
  for (;;) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n <= 0) {
      break;  // EAGAIN: drained
    }
    for (ssize_t off = 0; off < n;) {
      auto* ev = reinterpret_cast<inotify_event*>(buf + off);
      if ((ev->mask & IN_Q_OVERFLOW) != 0 || (ev->len > 0 && base_ == ev->name)) {
        hit = true;
      }
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  return hit;
}

}  // namespace ovl
