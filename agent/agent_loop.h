// ovl-agent's run loop: level-triggered. A change of the datastore, a kernel notification that
// may mean drift, a change of ovl-cni's registrations, a retry or the resync timer only make a
// pass due; each pass converges the kernel to the whole plan of the last good snapshot, writing
// only the difference.
//
// The loop works through interfaces, so that unit tests drive it with fakes of the kernel, the
// NAT table and the datastore and with a clock of their own: the overlay kernel
// (overlay/overlay_kernel.h), the NAT data plane (rules/nat_dataplane.h), conntrack
// (rules/conntrack.h), the datastore (datastore/datastore.h), the host checks
// (agent/diagnostics_watch.h) and the service manager (ServiceNotifier below). run() is the only
// part that polls file descriptors. What each pass did is recorded in the metrics
// (agent/metrics.h).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/counting_kernel.h"
#include "agent/diagnostics_watch.h"
#include "agent/health.h"
#include "agent/local_endpoints.h"
#include "agent/metrics.h"
#include "datastore/datastore.h"
#include "model/config.h"
#include "netlink/netlink.h"
#include "overlay/overlay_kernel.h"
#include "overlay/overlay_reconciler.h"
#include "rules/conntrack.h"
#include "rules/nat_dataplane.h"
#include "rules/nat_planner.h"
#include "rules/nat_state.h"
#include "rules/nft_monitor.h"

namespace ovl {

// What the loop tells the service manager: systemd's sd_notify(3) in the daemon.
class ServiceNotifier {
 public:
  virtual ~ServiceNotifier() = default;
  virtual void ready() = 0;     // the first converged pass is done
  virtual void stopping() = 0;  // a stop signal arrived
  // One line saying what the agent is doing ("converged: 3 peers, 12 services"); sent when it
  // changes.
  virtual void status(const std::string& text) = 0;
  // The loop is alive: called on every turn of the loop (at least once a second), so a loop
  // stuck for longer than the unit's WatchdogSec= is restarted.
  virtual void watchdog() = 0;
  // A step of the work between two turns is done (a datastore read, a plan, the overlay, the
  // NAT sync): with 100,000 services one step takes seconds and a whole pass may take longer
  // than WatchdogSec= or TimeoutStartSec=. Before ready() it extends the start-up; after, it
  // keeps the watchdog fed. `step` says what was done, for the start-up status line.
  virtual void progress(const std::string& step) = 0;
};

class AgentLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;

  static constexpr std::chrono::milliseconds kEventDebounce{20};  // notifications come in bursts
  static constexpr std::chrono::milliseconds kRetryMin{100};
  static constexpr std::chrono::milliseconds kRetryMax{10'000};
  static constexpr std::chrono::milliseconds kMaxSleep{1'000};  // the loop's heartbeat period

  // What the loop works with; each must outlive it.
  struct Parts {
    OverlayKernel& kernel;
    Datastore& store;
    nat::NatDataplane& nat;
    conntrack::UdpFlowCleaner& conntrack;
    HealthState& health;
    LocalEndpoints& local;
    HostWatch& hostWatch;
    ServiceNotifier& notifier;
    AgentMetrics& metrics;
  };

  AgentLoop(AgentConfig cfg, Parts parts, Now now = Clock::now);

  // Takes the datastore's next change. At start-up an issue with the network (or, in a cluster
  // file, with a node) is fatal: false, and the agent exits with 2. Later a bad snapshot keeps
  // the last good plan, and a bad node entry only drops that node. A bad service is reported
  // and skipped, at start-up too: every other service is programmed. False also when this
  // node has no valid entry (the last good overlay stays).
  bool loadPlan(bool startup);

  // What woke the loop. Each only makes a pass due (or re-plans), none writes to the kernel.
  void datastoreReadable();  // the datastore's fd
  void reload();             // SIGHUP: the datastore is read again
  void kernelEvents(const Result<std::vector<nl::Event>>& events);
  void nftEvents(const Result<bool>& foreignChanges);
  void localEndpointsReadable();

  // Does what is due now: the periodic re-read (every resyncSeconds), then a pass.
  void runDue();
  // How long the loop may sleep before something is due (at most kMaxSleep).
  std::chrono::milliseconds sleepTime() const;

  // Polls the signalfd, the datastore, the kernel's notifications, nftables' notifications and
  // the endpoints directory until SIGTERM or SIGINT (0) or a failed poll (1).
  int run(int signalFd, nl::EventMonitor& events);

  // The state, for tests.
  const std::optional<OverlayPlan>& plan() const { return plan_; }
  const nat::NatState& natState() const { return natState_; }
  std::optional<Clock::time_point> due() const { return due_; }
  bool fullReadPending() const { return fullRead_; }

 private:
  void pass();
  void applySnapshot(ClusterLoad load, bool startup, Result<OverlayPlan> plan);
  void applyServiceDelta(ServiceDelta delta);
  void reportIssues(const std::vector<ConfigIssue>& all);
  void planNatWithLocalEndpoints();
  void syncNat(ReconcileReport& r, bool fullPass);
  void recordOverlay(const ReconcileReport& r, Clock::duration took);
  void recordNat(bool nothingDirty, Clock::duration took);
  void noteRegistrations(const std::vector<LocalEndpoint>& regs);
  void noteChange();
  void deleteStaleUdpFlows(ReconcileReport& r);
  void clearStaleAffinity(ReconcileReport& r, bool fullPass);
  void converged(const ReconcileReport& r, double ms);
  void failed(const ReconcileReport& r, double ms);
  PassSummary passSummary(std::string error, double ms) const;
  void schedulePass(bool fullRead);
  void subscribeNftEvents();
  void reportDatastore();
  void readVxlanCounter();
  void setStatus(std::string text);
  void progress(const std::string& step);

  AgentConfig cfg_;
  Now now_;
  CountingOverlayKernel countingKernel_;  // parts.kernel, its refusals counted in the metrics
  OverlayReconciler reconciler_;
  Datastore& store_;
  nat::NatDataplane& nat_;
  conntrack::UdpFlowCleaner& conntrack_;
  HealthState& health_;
  LocalEndpoints& local_;
  HostWatch& hostWatch_;
  ServiceNotifier& notifier_;
  AgentMetrics& metrics_;
  NodeStatePublisher nodeState_;

  std::vector<svc::Service> clusterServices_;  // as the datastore has them, in no set order
  std::unordered_map<std::string, size_t> clusterIndex_;    // id -> position in clusterServices_
  size_t endpointCount_ = 0;                                // of clusterServices_
  size_t registrations_ = 0;                                // ovl-cni's, as last read
  std::optional<std::set<std::string>> registrationFiles_;  // their files, as last read
  // When the oldest datastore change not yet programmed reached the loop (programming latency).
  std::optional<Clock::time_point> changeSince_;
  Ipv4Prefix podCidr_;
  std::optional<nat::PlanInputs> natInputs_;
  std::optional<OverlayPlan> plan_;
  nat::NatState natState_;  // the services, and the table they need
  std::vector<std::string> loggedIssues_;
  std::string planProblem_;  // why the last snapshot gave no overlay plan, as logged

  std::optional<Clock::time_point> due_;
  std::optional<Clock::time_point> nextResync_;       // set by the first runDue()
  std::optional<Clock::time_point> nextCounterRead_;  // the VXLAN drop counter, once a second
  std::string vxlanCounterProblem_;                   // as last logged
  bool fullRead_ = true;
  bool notifiedReady_ = false;
  // Subscribed once the first pass converged: a listener is handed one notification per element
  // of every commit, and the first commit writes them all (see subscribeNftEvents).
  std::optional<nat::NftMonitor> nftMonitor_;
  std::string nftSubscribeProblem_;    // as last logged
  Clock::time_point lastProgress_{};   // of the last progress() step, for its debug line
  std::string status_;                 // as last sent to the service manager
  std::string passStatus_;             // what the last pass did, for status_
  std::string datastoreProblem_;       // as last seen
  std::string datastoreProblemSince_;  // when it began (wall clock, for the status line)
  std::chrono::milliseconds retry_ = kRetryMin;
};

}  // namespace ovl
