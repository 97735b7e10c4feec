// The agent's health endpoint: GET /healthz (the loop is alive) and GET /readyz (the kernel
// holds the current plan), each with a small JSON body saying why; and GET /metrics, the
// Prometheus text format of agent/metrics.h, on the same listener.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace ovl {

class AgentMetrics;

// What the last pass of the loop did, for /readyz and `ovlctl status`.
struct PassSummary {
  bool converged = false;
  std::string lastError;  // "" when converged
  size_t peers = 0;       // in the plan
  size_t services = 0;    // in the NAT plan
  size_t endpoints = 0;   // listed by the datastore, plus ovl-cni's registrations
  double ms = 0;          // how long the pass took
  std::string vtep;
  std::string bridge;
};

// Written by the agent loop, read by the HTTP thread.
class HealthState {
 public:
  void heartbeat() { lastBeat_.store(nowMs()); }
  // This agent, once at start.
  void setIdentity(std::string node, std::string version);
  void setPass(PassSummary pass);
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
  std::string node_;
  std::string version_;
  PassSummary pass_;
  std::optional<std::chrono::system_clock::time_point> lastConverged_;
  std::vector<std::string> configIssues_;
  std::string datastoreProblem_;
  nlohmann::json findings_ = nlohmann::json::array();
};

class HttpServer;

// On agent/http_server.h: bounded connections and deadlines, so a flood of slow or idle
// clients cannot starve a liveness probe.
class HealthServer {
 public:
  // address: "IP:port". Fails at once when it cannot listen. Without metrics, no /metrics.
  static Result<std::unique_ptr<HealthServer>> start(const std::string& address,
                                                     const HealthState& state,
                                                     const AgentMetrics* metrics = nullptr);
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

 private:
  HealthServer() = default;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace ovl
