// The agent's health endpoint: GET /healthz (the loop is alive) and GET /readyz (the kernel
// holds the current plan), each with a small JSON body saying why.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace httplib {
class Server;
}

namespace ovl {

// Written by the agent loop, read by the HTTP thread.
class HealthState {
 public:
  void heartbeat() { lastBeat_.store(nowMs()); }
  void setConverged(bool converged, std::string lastError, size_t peers);
  void setConfigIssues(std::vector<std::string> issues);
  // The diagnostics' findings (diagnostics/finding.h JSON). A partial run (rp_filter only, after
  // a link event) replaces only the rp_filter-related findings.
  void setFindings(nlohmann::json findings, bool full);
  // Why the datastore is unhealthy ("" = it is healthy): not ready meanwhile, though the data
  // plane keeps running on the last snapshot.
  void setDatastoreProblem(std::string problem);

  bool alive() const { return nowMs() - lastBeat_.load() < kAliveWindowMs; }
  bool ready() const { return converged_.load() && datastoreOk_.load(); }
  std::string json() const;

 private:
  static constexpr int64_t kAliveWindowMs = 10'000;
  static int64_t nowMs();
  std::atomic<int64_t> lastBeat_{nowMs()};
  std::atomic<bool> converged_{false};
  std::atomic<bool> datastoreOk_{true};
  mutable std::mutex mu_;
  std::string lastError_;
  std::vector<std::string> configIssues_;
  std::string datastoreProblem_;
  size_t peers_ = 0;
  nlohmann::json findings_ = nlohmann::json::array();
};

class HealthServer {
 public:
  // address: "IP:port". Fails at once when it cannot listen.
  static Result<std::unique_ptr<HealthServer>> start(const std::string& address,
                                                     const HealthState& state);
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

 private:
  HealthServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace ovl
