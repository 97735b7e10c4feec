// Converges the kernel of one node to an OverlayPlan: the VTEP, the pod bridge and one
// neighbour, FDB entry and route per peer. Reads what the kernel holds, writes only the
// difference, and never flushes. What it believes the kernel holds is updated only from
// acknowledged writes and from read-backs, never from intent.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "overlay/overlay_kernel.h"

namespace ovl {

// Writes that put back what a converged pass had left in place and someone changed since
// (deleted a route, re-created a device, added an entry on the VTEP): found by a full read
// against an unchanged plan. A pass that also applies a change of the plan counts no drift in
// the peer entries (their writes are the plan's).
struct DriftRepairs {
  size_t links = 0;  // the VTEP or the bridge: re-created, or its address, MTU, MAC or state
  size_t routes = 0;
  size_t fdb = 0;
  size_t neighbours = 0;
};

struct ReconcileReport {
  bool fullRead = false;
  std::vector<std::string> actions;  // what was changed, human-readable, for the log
  std::vector<Error> errors;         // what failed (the rest was still applied)
  size_t opsApplied = 0;
  DriftRepairs drift;
  bool ok() const { return errors.empty(); }
};

class OverlayReconciler {
 public:
  // underlayInterface: "" = the interface that holds the plan's underlay IP.
  OverlayReconciler(OverlayKernel& kernel, std::string underlayInterface)
      : kernel_(kernel), underlayInterface_(std::move(underlayInterface)) {}

  // One pass. Re-reads links, addresses and peer entries when fullRead is set or when the
  // last pass left doubt (a failed write, a re-created VTEP, invalidate()); otherwise trusts
  // the state acknowledged so far and computes only the peer delta.
  ReconcileReport reconcile(const OverlayPlan& plan, bool fullRead);

  // The next reconcile re-reads everything from the kernel.
  void invalidate() { cacheValid_ = false; }

  // Whether a kernel notification may mean that the kernel no longer holds what ovl wants
  // (someone deleted or changed one of its objects). Notifications of ovl's own writes,
  // which match what it believes the kernel holds, are not drift.
  bool eventMayBeDrift(const nl::Event& event) const;

  std::optional<int> vtepIndex() const { return vtepIndex_; }
  std::optional<int> bridgeIndex() const { return bridgeIndex_; }
  const PeerState& believedPeerState() const { return actual_; }

  // --cleanup: deletes the VTEP (the kernel drops its neighbours, FDB entries and routes with
  // it) and the pod bridge, if they exist.
  ReconcileReport cleanup(const std::string& vtepName, const std::string& bridgeName);

 private:
  Status ensureLinks(const OverlayPlan& plan, ReconcileReport& report);
  Status ensureVtep(const OverlayPlan& plan, const nl::Link& underlay, ReconcileReport& report);
  Status ensureBridge(const OverlayPlan& plan, uint32_t mtu, ReconcileReport& report);
  void removeRenamedDevices(const OverlayPlan& plan, ReconcileReport& report);
  static std::string linkFields(const OverlayPlan& plan);
  void updateDesired(const OverlayPlan& plan, bool rebuild);
  Status ensureOnlyAddress(int index, const std::string& name, const Ipv4Prefix& want,
                           ReconcileReport& report);

  OverlayKernel& kernel_;
  std::string underlayInterface_;
  bool cacheValid_ = false;
  std::vector<nl::Link> links_;
  std::vector<nl::Address> addresses_;
  std::optional<int> vtepIndex_;
  std::optional<int> bridgeIndex_;
  std::optional<int> underlayIndex_;
  PeerState actual_;                    // acknowledged state of the VTEP's peer entries
  PeerState desired_;                   // what the last pass wanted, in key order (sortPeerState)
  std::vector<PeerPlan> desiredPeers_;  // the plan's peers desired_ was made from
  std::optional<int> desiredIndex_;     // the VTEP desired_ was made for
  std::string vtepName_;                // the names the last full pass made the devices under
  std::string bridgeName_;
  std::string lastLinkPlan_;  // linkFields() of the plan the links were last made for
};

}  // namespace ovl
