#include "datastore/file_datastore.h"

#include <sys/inotify.h>
#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

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
  // Events about other files of the directory (a temporary file written before it is renamed
  // onto the name, an editor's swap file) do not make the file a candidate: reading a large
  // cluster file again for each of them would delay the change that follows. The name itself,
  // the ConfigMap swap (..data), the directory's own events do; and any event does when the
  // name is a symlink, which may point at any file of the directory.
  struct stat st {};
  const bool link = ::lstat(path_.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
  const std::string base = std::filesystem::path(path_).filename().string();
  return watch_.drain([&](std::string_view name) {
    return link || name.empty() || name == base || name.starts_with("..");
  });
}

Result<std::string> FileDatastore::read() {
  watch_.ensureWatching();
  // Read as ovlctl reads it: a regular file of at most 64 MiB, so /dev/zero or a FIFO fails
  // at once instead of growing (or blocking) the agent.
  return readConfigFile(path_);
}

ClusterLoad FileDatastore::unreadable(const Error& e) {
  state_.forget();  // the next content is new, whatever it is
  ClusterLoad load;
  load.fatal = true;
  load.issues.push_back(ConfigIssue{SourceMark{path_}, "", e.message});
  load.revision = ++revision_;
  return load;
}

std::optional<ClusterLoad> FileDatastore::loadIfChanged() {
  Result<std::string> text = read();
  if (!text) {
    return unreadable(text.error());
  }
  if (state_.same(*text)) {
    return std::nullopt;
  }
  ClusterLoad load = state_.parseWhole(std::move(*text));
  load.revision = ++revision_;
  return load;
}

std::optional<ClusterChange> FileDatastore::nextChange() {
  Result<std::string> text = read();
  if (!text) {
    return ClusterChange{unreadable(text.error())};
  }
  // The comparison with the last text finds what changed, or that nothing did.
  const auto t0 = std::chrono::steady_clock::now();
  if (auto changes = state_.update(*text)) {
    if (changes->sameText) {
      return std::nullopt;
    }
    ServiceDelta delta{std::move(changes->upserts), std::move(changes->removed),
                       std::move(changes->issues), ++revision_};
    spdlog::debug(
        "{}: revision {}: {} service(s) changed, {} removed ({} entries read again) in "
        "{:.2f} ms",
        path_, delta.revision, delta.upserts.size(), delta.removed.size(), changes->reparsed,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    return ClusterChange{std::move(delta)};
  }
  if (state_.same(*text)) {
    return std::nullopt;
  }
  ClusterLoad load = state_.parseWhole(std::move(*text));
  load.revision = ++revision_;
  spdlog::debug(
      "{}: revision {}: read whole ({} services) in {:.2f} ms", path_, load.revision,
      load.cluster.services.size(),
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  return ClusterChange{std::move(load)};
}

}  // namespace ovl
