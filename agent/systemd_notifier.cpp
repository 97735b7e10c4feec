#include "agent/systemd_notifier.h"

#include <systemd/sd-daemon.h>

#include <fmt/format.h>

namespace ovl {

SystemdNotifier::SystemdNotifier() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) {
    watchdogEvery_ = std::chrono::microseconds(usec / 4);
  }
}

void SystemdNotifier::ready() {
  ready_ = true;
  sd_notify(0, "READY=1");
}

void SystemdNotifier::stopping() {
  sd_notify(0, "STOPPING=1");
}

void SystemdNotifier::status(const std::string& text) {
  sd_notify(0, ("STATUS=" + text).c_str());
}

void SystemdNotifier::watchdog() {
  if (!watchdogEvery_) {
    return;
  }
  const auto now = Clock::now();
  if (now >= nextWatchdog_) {
    sd_notify(0, "WATCHDOG=1");
    nextWatchdog_ = now + *watchdogEvery_;
  }
}

// Only progress extends the start-up: the loop's turns do not (a first pass that keeps failing
// and retrying is not progress, and TimeoutStartSec= should end it).
void SystemdNotifier::progress(const std::string& step) {
  if (ready_) {
    // Not paced like the loop's turns: the step just done may have used most of WatchdogSec=,
    // and the next one may too.
    if (watchdogEvery_) {
      sd_notify(0, "WATCHDOG=1");
      nextWatchdog_ = Clock::now() + *watchdogEvery_;
    }
    return;
  }
  const auto now = Clock::now();
  if (now < nextProgress_) {
    return;
  }
  nextProgress_ = now + kProgressEvery;
  const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(kStartupStep).count();
  sd_notify(0, fmt::format("EXTEND_TIMEOUT_USEC={}\nSTATUS=starting: {}", usec, step).c_str());
}

}  // namespace ovl
