#include "common/dir_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

namespace ovl {

Result<DirectoryWatch> DirectoryWatch::create(std::string dir, Options options) {
  UniqueFd fd(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd.valid()) {
    return Error::sys(errno, "inotify_init1");
  }
  DirectoryWatch w(std::move(dir), std::move(options), std::move(fd));
  if (auto st = w.watch(); !st) {
    return st.error();
  }
  return w;
}

Status DirectoryWatch::watch() {
  if (options_.createDirectory) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) {
      return Error{ec.value(), fmt::format("{}: cannot create it: {}", name(), ec.message())};
    }
  }
  watch_ = inotify_add_watch(inotify_.get(), dir_.c_str(), options_.mask);
  if (watch_ < 0) {
    return Error::sys(errno, "watch " + name());
  }
  return okStatus();
}

std::string DirectoryWatch::name() const {
  return fmt::format(fmt::runtime(options_.what), dir_);
}

void DirectoryWatch::ensureWatching() {
  if (watch_ < 0) {
    (void)watch();  // not back yet: the next drain or re-read tries again
  }
}

bool DirectoryWatch::drain(const std::function<bool(std::string_view name)>& relevant) {
  alignas(inotify_event) char buf[16384];
  bool hit = false;
  bool lost = false;
  for (;;) {
    ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n <= 0) {
      break;  // EAGAIN: drained
    }
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
      hit |= relevant(ev->len > 0 ? std::string_view(ev->name) : std::string_view());
      lost |= (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0;
      off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  if (lost) {
    if (watch_ >= 0) {
      inotify_rm_watch(inotify_.get(), watch_);
      watch_ = -1;
    }
    ensureWatching();
  }
  return hit || lost;
}

}  // namespace ovl
