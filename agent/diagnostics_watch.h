// The agent's side of diagnostics/: after a pass that followed a link change (systemd-udevd and
// network managers re-apply their defaults to re-created interfaces) it checks rp_filter on
// ovl's paths, and every resyncSeconds it runs every check. With `rpFilter: fix` it makes loose
// exactly the interfaces that drop overlay traffic; with `off` it leaves rp_filter unchecked. Each
// finding is logged once, with its explanation, when it appears (and once when it is gone), and the
// current findings are on the health endpoint.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "agent/health.h"
#include "agent/metrics.h"
#include "diagnostics/checker.h"
#include "diagnostics/paths.h"
#include "model/cluster.h"
#include "model/config.h"
#include "overlay/overlay_plan.h"

namespace ovl {

// What the agent's loop tells the host checks (agent/agent_loop.h); unit tests of the loop use a
// fake, so that they never check or change the host they run on.
class HostWatch {
 public:
  virtual ~HostWatch() = default;
  // The cluster changed. `services` must outlive this object (the agent's own list): it is
  // summarised only when a check runs, not on every change, which would add a walk of every
  // service to each endpoint update.
  virtual void setCluster(const NetworkConfig& network,
                          const std::vector<svc::Service>& services) = 0;
  // The services given to setCluster changed (not the network): the summary is made again when
  // a check next runs; no check is due for that alone.
  virtual void servicesChanged() = 0;
  // A link appeared, changed or went: check rp_filter after the next pass.
  virtual void linkChanged() = 0;
  // Called after every pass of the loop.
  virtual void afterPass(const OverlayPlan& plan) = 0;
};

class DiagnosticsWatch final : public HostWatch {
 public:
  // metrics: where rp_filter findings and fixes are counted (none: not counted).
  DiagnosticsWatch(const AgentConfig& cfg, HealthState& health, AgentMetrics* metrics = nullptr)
      : cfg_(cfg), health_(health), metrics_(metrics) {}

  void setCluster(const NetworkConfig& network, const std::vector<svc::Service>& services) override;
  void servicesChanged() override { servicesStale_ = true; }
  void linkChanged() override { linkChanged_ = true; }
  void afterPass(const OverlayPlan& plan) override;

 private:
  void report(diag::Report& r, bool full);
  void count(const diag::Report& r);

  const AgentConfig& cfg_;
  HealthState& health_;
  AgentMetrics* metrics_;
  NetworkConfig network_;
  const std::vector<svc::Service>* servicesSource_ = nullptr;
  bool servicesStale_ = true;
  diag::ServiceSummary services_;
  bool linkChanged_ = true;  // also checks after the first pass
  std::chrono::steady_clock::time_point nextFull_{};
  std::map<std::string, std::string> logged_;  // findings logged and still present: key -> text
};

}  // namespace ovl
