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
#include "diagnostics/checker.h"
#include "diagnostics/paths.h"
#include "model/cluster.h"
#include "model/config.h"
#include "overlay/overlay_plan.h"

namespace ovl {

class DiagnosticsWatch {
 public:
  DiagnosticsWatch(const AgentConfig& cfg, HealthState& health) : cfg_(cfg), health_(health) {}

  // The cluster changed. `services` must outlive this object (the agent's own list): it is
  // summarised only when a check runs, not on every change, which would add a walk of every
  // service to each endpoint update.
  void setCluster(const NetworkConfig& network, const std::vector<svc::Service>& services);
  // The services given to setCluster changed (not the network): the summary is made again when
  // a check next runs; no check is due for that alone.
  void servicesChanged() { servicesStale_ = true; }
  // A link appeared, changed or went: check rp_filter after the next pass.
  void linkChanged() { linkChanged_ = true; }
  // Called after every pass of the loop.
  void afterPass(const OverlayPlan& plan);

 private:
  void report(diag::Report& r, bool full);

  const AgentConfig& cfg_;
  HealthState& health_;
  NetworkConfig network_;
  const std::vector<svc::Service>* servicesSource_ = nullptr;
  bool servicesStale_ = true;
  diag::ServiceSummary services_;
  bool linkChanged_ = true;  // also checks after the first pass
  std::chrono::steady_clock::time_point nextFull_{};
  std::map<std::string, std::string> logged_;  // findings logged and still present: key -> text
};

}  // namespace ovl
