#include "agent/logging.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace ovl {

namespace {

// The syslog priority journald reads from a "<N>" prefix (sd-daemon.h's SD_ERR and friends).
int syslogPriority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
      return 2;
    case spdlog::level::err:
      return 3;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::info:
      return 6;
    default:
      return 7;
  }
}

// The names --log-level takes (spdlog says "warning" and "error").
std::string levelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    default: {
      const auto name = spdlog::level::to_string_view(level);
      return std::string(name.data(), name.size());
    }
  }
}

class PriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    fmt::format_to(std::back_inserter(dest), "{}", syslogPriority(msg.level));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PriorityFlag>();
  }
};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since = msg.time.time_since_epoch();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since).count() % 1000;
    const std::time_t t = std::chrono::system_clock::to_time_t(msg.time);
    nlohmann::ordered_json j{
        {"time", fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(t), ms)},
        {"level", levelName(msg.level)},
        {"msg", std::string_view(msg.payload.data(), msg.payload.size())}};
    // Invalid UTF-8 (a name from a hostile file) is replaced, never a throw.
    const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

bool stdoutIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (stream == nullptr || ::fstat(STDOUT_FILENO, &st) != 0) {
    return false;
  }
  return fmt::format("{}:{}", st.st_dev, st.st_ino) == stream;
}

void setupLogging(const std::string& format) {
  if (format == "json") {
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
    return;
  }
  if (stdoutIsJournal()) {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<PriorityFlag>('*').set_pattern("<%*>%v");
    spdlog::set_formatter(std::move(f));
    return;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
}

void setLogLevel(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
}

std::string explainError(const Error& e) {
  if (e.code != EPERM && e.code != EACCES) {
    return e.message;
  }
  if (e.message.find("needs CAP_") != std::string::npos) {
    return e.message;  // already says which
  }
  // A path in the message: a file or directory (the state directory, the cluster file, etcd's
  // certificates), unless it is a sysctl under /proc/sys.
  const bool file =
      e.message.find('/') != std::string::npos && e.message.find("/proc/sys/") == std::string::npos;
  if (file && e.code == EACCES) {
    std::string what = e.message;
    const std::string strerr = std::string(": ") + std::strerror(EACCES);
    if (what.ends_with(strerr)) {
      what.resize(what.size() - strerr.size());
    }
    const uid_t uid = ::geteuid();
    const passwd* pw = ::getpwuid(uid);
    return fmt::format(
        "{}: permission denied: ovl-agent runs as {} (uid {}), which may not use this path; "
        "give it to that user (systemd: User= with StateDirectory=/RuntimeDirectory=) or run "
        "the agent as root",
        what, pw != nullptr ? pw->pw_name : "?", uid);
  }
  return e.message +
         ": permission denied: ovl-agent needs CAP_NET_ADMIN (run it as root, or as its own "
         "user with AmbientCapabilities=CAP_NET_ADMIN: examples/systemd/ovl-agent.service)";
}

}  // namespace ovl
