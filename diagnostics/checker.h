// The checks of `ovlctl diagnose` and of the agent: they read the kernel of the current network
// namespace (rtnetlink route queries, procfs, nftables, ethtool) and turn what they find into a
// Report. Every check that cannot run is listed in Report::notChecked; nothing is changed unless
// fix() is called, and then only the fixes the findings name.
#pragma once

#include <string>
#include <vector>

#include "diagnostics/finding.h"
#include "diagnostics/paths.h"
#include "diagnostics/sysctl.h"
#include "model/cluster.h"
#include "model/config.h"
#include "netlink/netlink.h"
#include "overlay/overlay_plan.h"

namespace ovl::diag {

struct CheckerConfig {
  std::string kernelRelease;  // "" = uname(2)
  size_t maxPeers = 0;        // rp_filter probes: 0 = every peer, else the first N
  std::string nftTable = "ovl";
  bool nftables = true;  // the nftables checks
  bool rpFilter = true;  // the rp_filter check (the agent's `rpFilter: off` turns it off)
  // Where sysctl.d settings that re-apply rp_filter are looked for ({} = none).
  std::vector<std::string> sysctlSources = defaultSysctlSources();
};

// What the node should be: agent.yaml, the overlay plan, the network and what the services
// need of the paths; the full cluster (its services) only for the check of ovl's own nftables
// table (null: that check is skipped: the agent keeps its table itself).
struct NodeModel {
  const AgentConfig* agent = nullptr;
  const OverlayPlan* plan = nullptr;
  NetworkConfig network;
  ServiceSummary services;
  const Cluster* cluster = nullptr;

  static NodeModel of(const AgentConfig& agent, const OverlayPlan& plan, const Cluster& cluster) {
    return NodeModel{&agent, &plan, cluster.network, summarize(cluster.services), &cluster};
  }
};

// Which fixes fix() applies.
enum class FixScope { kAll, kRpFilterOnly };

class Checker {
 public:
  Checker(nl::Netlink& netlink, HostFs& fs, CheckerConfig cfg = {})
      : nl_(netlink), fs_(fs), cfg_(std::move(cfg)) {}

  // Every check. Read-only.
  Report run(const NodeModel& m);
  // Only the rp_filter check (with its log_martians note): cheap enough for every link event.
  Report runRpFilter(const NodeModel& m);

  // Applies the fix of every fixable finding of r that is not fixed yet, checks again, and marks
  // the findings that are gone as fixed; what was written goes to r.actions.
  void fix(Report& r, const NodeModel& m, FixScope scope = FixScope::kAll);

  // Writes (or extends) <dir>/kDropInName with rp_filter = 2 for the interfaces --fix made
  // loose; r.actions says so. Writes atomically (temporary file, then rename).
  Status persist(Report& r, const std::string& dir);

 private:
  // The checks themselves are free functions over a CheckContext (diagnostics/checks.h).
  Status applyFix(const Finding& f, Report& r);

  nl::Netlink& nl_;
  HostFs& fs_;
  CheckerConfig cfg_;
};

// The underlay interface: agent.yaml's underlayInterface, else the one that holds the node's
// underlay IP. "" when neither is found.
std::string underlayInterface(nl::Netlink& netlink, const AgentConfig& agent,
                              const OverlayPlan& plan);

}  // namespace ovl::diag
