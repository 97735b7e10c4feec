// SystemdNotifier: the agent's ServiceNotifier (agent/agent_loop.h) for systemd, through
// sd_notify(3): READY=1, STOPPING=1, STATUS=, WATCHDOG=1 and, during start-up,
// EXTEND_TIMEOUT_USEC=. Nothing is sent when the agent does not run under systemd (no
// NOTIFY_SOCKET).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "agent/agent_loop.h"

namespace ovl {

class SystemdNotifier final : public ServiceNotifier {
 public:
  using Clock = std::chrono::steady_clock;

  // Until READY=1, each step of progress gives the start-up this much more time from now
  // (EXTEND_TIMEOUT_USEC=): as long as the default TimeoutStartSec=, so that no single step of
  // a very large first pass (100,000 services) runs into it, while a start-up stuck in one step
  // still times out.
  static constexpr std::chrono::seconds kStartupStep{90};
  // Progress messages are sent at most this often: steps may follow each other quickly.
  static constexpr std::chrono::milliseconds kProgressEvery{1'000};

  // Reads WATCHDOG_USEC (sd_watchdog_enabled(3)): WATCHDOG=1 goes out four times per
  // WatchdogSec=, so a late turn of the loop is not taken for a hung one.
  SystemdNotifier();

  void ready() override;
  void stopping() override;
  void status(const std::string& text) override;
  void watchdog() override;
  // Before READY=1: EXTEND_TIMEOUT_USEC= and STATUS=starting: <step>. After: a WATCHDOG=1
  // (a long pass is not a hung loop); the status line stays the loop's.
  void progress(const std::string& step) override;

 private:
  std::optional<std::chrono::microseconds> watchdogEvery_;
  Clock::time_point nextWatchdog_{};
  Clock::time_point nextProgress_{};
  bool ready_ = false;
};

}  // namespace ovl
