#include "agent/agent_loop.h"

#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <unordered_set>
#include <variant>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/logging.h"

namespace ovl {

namespace {

// The nodes of the overlay in effect, as the VXLAN allow-list's input: this node and the peers
// it sends to. Not the snapshot's raw node list: a snapshot whose entry for this node is refused
// leaves the last good overlay, and its addresses, in place.
Cluster overlayNodes(const OverlayPlan& p) {
  Cluster c;
  c.network.port = p.port;
  c.nodes.push_back(Node{p.nodeName, p.underlayIp, p.podSubnet, std::nullopt, {}});
  for (const PeerPlan& peer : p.peers) {
    c.nodes.push_back(Node{peer.name, peer.underlayIp, peer.podSubnet, std::nullopt, {}});
  }
  return c;
}

// Whether the desired table has changes the next sync must write (else whatever it writes
// repairs drift).
bool anythingDirty(const nft::DesiredIndex& d) {
  if (d.allDirty()) {
    return true;
  }
  for (size_t set = 0; set < nft::kSyncedSetCount; ++set) {
    if (!d.dirty(set).empty()) {
      return true;
    }
  }
  return false;
}

}  // namespace

AgentLoop::AgentLoop(AgentConfig cfg, Parts parts, Now now)
    : cfg_(std::move(cfg)),
      now_(std::move(now)),
      countingKernel_(parts.kernel, parts.metrics),
      reconciler_(countingKernel_, cfg_.underlayInterface),
      store_(parts.store),
      nat_(parts.nat),
      conntrack_(parts.conntrack),
      health_(parts.health),
      local_(parts.local),
      hostWatch_(parts.hostWatch),
      notifier_(parts.notifier),
      metrics_(parts.metrics),
      nodeState_(cfg_.stateDir, parts.local.dir(), parts.kernel) {
  lastProgress_ = now_();
}

bool AgentLoop::loadPlan(bool startup) {
  auto change = store_.nextChange();
  if (!change) {
    return true;  // the same content as last time
  }
  if (auto* delta = std::get_if<ServiceDelta>(&*change)) {
    applyServiceDelta(std::move(*delta));
    return true;
  }
  ClusterLoad load = std::move(std::get<ClusterLoad>(*change));
  progress(
      fmt::format("read {} services from {}", load.cluster.services.size(), store_.describe()));
  reportIssues(load.issues);
  const auto fatalAtStart =
      load.strictStartup
          ? std::count_if(load.issues.begin(), load.issues.end(),
                          [](const ConfigIssue& i) { return i.field.rfind("services", 0) != 0; })
          : (load.fatal ? 1 : 0);
  if (startup && fatalAtStart > 0) {
    spdlog::error("{} problem(s) in {}; not starting", fatalAtStart, store_.describe());
    return false;
  }
  if (load.fatal) {
    spdlog::error("{} not applied; keeping the last good cluster ({} peers)", store_.describe(),
                  plan_ ? plan_->peers.size() : 0);
    return false;
  }
  auto plan = planOverlay(load.cluster, cfg_.nodeName, PlanNames{cfg_.vtepName, cfg_.bridgeName});
  if (plan && cfg_.datastore == "etcd" && cfg_.underlayIp && plan->underlayIp != *cfg_.underlayIp) {
    // With etcd the node registers itself: what it is comes from agent.yaml and its own claim
    // (the datastore puts that in), never from a record someone else wrote. Refused here too,
    // so that no snapshot can move the VTEP to an address this node does not own.
    plan = Error::msg(fmt::format(
        "this node's entry says underlayIP {}, but this node's is {} (underlayIP in {}); the "
        "entry is not applied",
        plan->underlayIp.toString(), cfg_.underlayIp->toString(), cfg_.path));
  }
  if (!plan && startup) {
    spdlog::error("{}: {}", store_.describe(), plan.error().message);
    return false;
  }
  const bool planned = plan.ok();
  applySnapshot(std::move(load), startup, std::move(plan));
  progress(fmt::format("planned {} services", natState_.size()));
  return planned;
}

// A usable snapshot: its services are applied whether or not this node's own entry is valid
// (a broken one keeps the last good overlay but does not hold back service changes).
void AgentLoop::applySnapshot(ClusterLoad load, bool startup, Result<OverlayPlan> plan) {
  noteChange();
  clusterServices_ = std::move(load.cluster.services);
  clusterIndex_.clear();
  clusterIndex_.reserve(clusterServices_.size());
  endpointCount_ = 0;
  for (size_t i = 0; i < clusterServices_.size(); ++i) {
    clusterIndex_.emplace(clusterServices_[i].id(), i);
    endpointCount_ += clusterServices_[i].endpoints.size();
  }
  hostWatch_.setCluster(load.cluster.network, clusterServices_);
  podCidr_ = load.cluster.network.podCidr;
  // Without a valid entry of its own this time, the node's subnet is the last good one.
  const OverlayPlan* self = plan ? &*plan : (plan_ ? &*plan_ : nullptr);
  natInputs_ = nat::planInputs(load.cluster.network, cfg_.nodeName,
                               self ? std::optional(self->podSubnet) : std::nullopt);
  planNatWithLocalEndpoints();
  due_ = now_();
  if (!plan) {
    // Said once per cause: with etcd, every node's change brings the same snapshot problem
    // while this node's lease is lost.
    if (plan.error().message != planProblem_) {
      planProblem_ = plan.error().message;
      spdlog::error("{}: {}; keeping the last good overlay, applying the services",
                    store_.describe(), planProblem_);
    }
    return;
  }
  if (!planProblem_.empty()) {
    spdlog::info("{}: this node's entry is valid again", store_.describe());
    planProblem_.clear();
  }
  if (plan_ && !startup) {
    spdlog::info("cluster reloaded from {} (revision {}): {} peers (was {})", store_.describe(),
                 load.revision, plan->peers.size(), plan_->peers.size());
  }
  plan_ = std::move(*plan);
  // yaml-cpp's document tree for a large cluster file is many times the file's size; glibc
  // keeps the freed pages unless asked to give them back.
  malloc_trim(0);
}

// Only some services changed (the etcd datastore): they alone are re-planned, and the pass
// that follows compares only their keys with the kernel; the overlay's plan stands.
void AgentLoop::applyServiceDelta(ServiceDelta delta) {
  noteChange();
  reportIssues(delta.issues);
  for (const auto& id : delta.removed) {
    auto it = clusterIndex_.find(id);
    if (it == clusterIndex_.end()) {
      continue;
    }
    const size_t at = it->second;
    endpointCount_ -= clusterServices_[at].endpoints.size();
    clusterIndex_.erase(it);
    if (at + 1 != clusterServices_.size()) {
      clusterServices_[at] = std::move(clusterServices_.back());
      clusterIndex_[clusterServices_[at].id()] = at;
    }
    clusterServices_.pop_back();
  }
  for (const auto& s : delta.upserts) {
    auto [it, added] = clusterIndex_.try_emplace(s.id(), clusterServices_.size());
    endpointCount_ += s.endpoints.size();
    if (added) {
      clusterServices_.push_back(s);
    } else {
      endpointCount_ -= clusterServices_[it->second].endpoints.size();
      clusterServices_[it->second] = s;
    }
  }
  hostWatch_.servicesChanged();
  if (!natInputs_) {
    return;  // no snapshot applied yet: the first one takes every service
  }
  std::vector<std::string> problems;
  auto regs = local_.read(&problems);
  registrations_ = regs.size();
  noteRegistrations(regs);
  for (const auto& id : delta.removed) {
    natState_.remove(id);
  }
  if (!regs.empty()) {
    // The registrations of the changed services only: the others are merged already.
    std::unordered_set<std::string> ids;
    for (const auto& s : delta.upserts) {
      ids.insert(s.id());
    }
    std::erase_if(regs, [&](const LocalEndpoint& r) { return !ids.contains(r.service); });
    delta.upserts = mergeLocalEndpoints(delta.upserts, regs, podCidr_, &problems);
  }
  for (auto& s : delta.upserts) {
    natState_.upsert(std::move(s));
  }
  for (const auto& p : problems) {
    spdlog::warn("{}", p);
  }
  spdlog::debug("revision {}: {} service(s) changed, {} removed", delta.revision,
                delta.upserts.size(), delta.removed.size());
  due_ = now_();
}

// The oldest change not yet programmed starts the programming latency: a change applied now
// reached the loop now (it reads the datastore as soon as its fd is readable).
void AgentLoop::noteChange() {
  if (!changeSince_) {
    changeSince_ = now_();
  }
}

// Each snapshot or delta reports every problem again; the log says them when they change.
void AgentLoop::reportIssues(const std::vector<ConfigIssue>& all) {
  // The first ones and a count of the rest: a file with a million bad entries must not flood
  // the log or /readyz.
  auto issues = issueLines(all);
  if (issues != loggedIssues_) {
    for (const auto& i : issues) {
      spdlog::error("{}", i);
    }
    loggedIssues_ = issues;
  }
  health_.setConfigIssues(std::move(issues));
}

// The NAT plan of the cluster's services plus the endpoints ovl-cni registered
// (agent/local_endpoints.h).
void AgentLoop::planNatWithLocalEndpoints() {
  std::vector<std::string> problems;
  auto regs = local_.read(&problems);
  registrations_ = regs.size();
  noteRegistrations(regs);
  natState_.setInputs(*natInputs_);
  // Without registrations the cluster's list is used as it is (no copy of every service).
  const size_t changed =
      regs.empty()
          ? natState_.setServices(clusterServices_)
          : natState_.setServices(mergeLocalEndpoints(clusterServices_, regs, podCidr_, &problems));
  spdlog::debug("{} service(s) added, changed or removed", changed);
  for (const auto& p : problems) {
    spdlog::warn("{}", p);
  }
}

// ovl-cni's ADDs and DELs as the registrations they leave appear and go. Those present at the
// first read (before this agent started) are not counted.
void AgentLoop::noteRegistrations(const std::vector<LocalEndpoint>& regs) {
  std::set<std::string> files;
  for (const auto& r : regs) {
    files.insert(LocalEndpoint::fileName(r.containerId, r.ifname));
  }
  size_t added = 0;
  size_t removed = 0;
  if (registrationFiles_) {
    for (const auto& f : files) {
      added += registrationFiles_->contains(f) ? 0 : 1;
    }
    for (const auto& f : *registrationFiles_) {
      removed += files.contains(f) ? 0 : 1;
    }
  }
  metrics_.cniRegistrations(added, removed, files.size());
  registrationFiles_ = std::move(files);
}

void AgentLoop::datastoreReadable() {
  if (store_.maybeChanged()) {
    loadPlan(false);
  }
}

void AgentLoop::reload() {
  spdlog::info("SIGHUP: reloading {}", store_.describe());
  loadPlan(false);
}

void AgentLoop::kernelEvents(const Result<std::vector<nl::Event>>& events) {
  if (!events) {
    spdlog::warn("kernel notifications: {}; re-reading the kernel", events.error().message);
    schedulePass(true);
    return;
  }
  for (const auto& ev : *events) {
    if (ev.kind == nl::Event::Kind::kLink) {
      // A new or re-created interface gets the distribution's defaults (rp_filter): checked
      // after a pass, which need not re-read the kernel for that.
      hostWatch_.linkChanged();
      schedulePass(false);
    }
    if (reconciler_.eventMayBeDrift(ev)) {
      spdlog::debug("kernel notification {}: checking for drift", ev.toString());
      schedulePass(true);
      return;
    }
  }
}

void AgentLoop::nftEvents(const Result<bool>& foreignChanges) {
  if (!foreignChanges) {
    spdlog::warn("nftables notifications: {}; re-reading the table",
                 foreignChanges.error().message);
  }
  if (!foreignChanges || *foreignChanges) {
    // Only a wake-up: the changed generation makes the next sync read the table back.
    spdlog::debug("table ip {} changed by another process: checking it", nat_.tableName());
    schedulePass(false);
  }
}

void AgentLoop::localEndpointsReadable() {
  if (local_.drain() && natInputs_) {
    planNatWithLocalEndpoints();
    due_ = now_();
  }
}

void AgentLoop::schedulePass(bool fullRead) {
  fullRead_ = fullRead_ || fullRead;
  auto at = now_() + kEventDebounce;
  if (!due_ || *due_ > at) {
    due_ = at;
  }
}

void AgentLoop::runDue() {
  health_.heartbeat();
  notifier_.watchdog();
  reportDatastore();
  readVxlanCounter();
  const auto now = now_();
  const auto resync = std::chrono::seconds(cfg_.resyncSeconds);
  if (!nextResync_) {
    nextResync_ = now + resync;
  }
  if (now >= *nextResync_) {
    loadPlan(false);  // in case a change notification was missed
    fullRead_ = true;
    due_ = now;
    nextResync_ = now + resync;
  }
  if (due_ && now >= *due_) {
    pass();
  }
}

// The datastore's health goes to /readyz and to the status line, with when a problem began.
void AgentLoop::reportDatastore() {
  const DatastoreCounters counters = store_.counters();
  metrics_.datastoreTotals(counters.watchRestarts, counters.leaseLosses);
  std::string problem = store_.problem();
  metrics_.setDatastoreUp(problem.empty());
  if (problem != datastoreProblem_) {
    if (datastoreProblem_.empty()) {
      datastoreProblemSince_ =
          fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::localtime(std::time(nullptr)));
    }
    datastoreProblem_ = problem;
    health_.setDatastoreProblem(std::move(problem));
    setStatus(passStatus_);
  }
}

// The allow-list's drop counter into the metrics, at most once a second (one netlink dump of
// one chain). Before the first pass wrote the chain there is nothing to read.
void AgentLoop::readVxlanCounter() {
  const auto now = now_();
  if (nextCounterRead_ && now < *nextCounterRead_) {
    return;
  }
  nextCounterRead_ = now + std::chrono::seconds(1);
  auto dropped = nat_.vxlanDropped();
  std::string problem = dropped ? "" : dropped.error().message;
  if (problem != vxlanCounterProblem_ && !problem.empty()) {
    spdlog::warn("VXLAN allow-list counter: {}", problem);
  }
  vxlanCounterProblem_ = std::move(problem);
  if (dropped && *dropped) {
    metrics_.vxlanDropped(**dropped);
  }
}

void AgentLoop::setStatus(std::string text) {
  passStatus_ = std::move(text);
  std::string line = passStatus_;
  if (!datastoreProblem_.empty()) {
    line = fmt::format("{} since {}; {}", datastoreProblem_, datastoreProblemSince_,
                       passStatus_.empty() ? "starting" : passStatus_);
  }
  if (line != status_) {
    status_ = line;
    notifier_.status(status_);
  }
}

// Logged at debug level with the time since the last step: where a long pass spends it.
void AgentLoop::progress(const std::string& step) {
  const auto now = now_();
  spdlog::debug("step done: {} ({:.1f} ms since the last)", step,
                std::chrono::duration<double, std::milli>(now - lastProgress_).count());
  lastProgress_ = now;
  notifier_.progress(step);
}

std::chrono::milliseconds AgentLoop::sleepTime() const {
  const auto now = now_();
  auto until = now + kMaxSleep;
  if (nextResync_) {
    until = std::min(until, *nextResync_);
  }
  if (due_) {
    until = std::min(until, *due_);
  }
  return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(until - now),
                  std::chrono::milliseconds(0));
}

void AgentLoop::pass() {
  due_.reset();
  if (!plan_) {
    return;
  }
  const auto t0 = now_();
  const bool full = fullRead_;
  ReconcileReport r = reconciler_.reconcile(*plan_, fullRead_);
  recordOverlay(r, now_() - t0);
  fullRead_ = false;
  progress(fmt::format("overlay programmed ({} peers); writing {} services to nftables",
                       plan_->peers.size(), natState_.size()));
  // Service NAT is independent of the overlay's links: synced whatever happened above.
  syncNat(r, full);
  progress(fmt::format("nftables sync of {} services finished", natState_.size()));
  const auto ms = std::chrono::duration<double, std::milli>(now_() - t0).count();
  hostWatch_.afterPass(*plan_);
  for (const auto& a : r.actions) {
    spdlog::info("{}", a);
  }
  if (r.ok()) {
    converged(r, ms);
  } else {
    failed(r, ms);
  }
}

// No invalidate() on a full pass: the table checks the ruleset generation on every sync and
// reads itself back whenever anyone changed anything, so a forced read-back (about a second at
// 10,000 services) would find nothing new.
void AgentLoop::syncNat(ReconcileReport& r, bool fullPass) {
  // VXLAN is accepted from the nodes this pass programmed (a change writes only the difference).
  natState_.setVxlanAllow(nat::planVxlanAllow(overlayNodes(*plan_)));
  const bool nothingDirty = !anythingDirty(natState_.desired());
  const auto t0 = now_();
  if (auto st = nat_.sync(natState_.desired()); !st) {
    metrics_.kernelErrors(AgentMetrics::Subsystem::kNftables, 1);
    r.errors.push_back(st.error());
    return;
  }
  recordNat(nothingDirty, now_() - t0);
  const auto& ns = nat_.lastSync();
  if (ns.operations > 0) {
    r.actions.push_back(fmt::format(
        "nftables table ip {}: {} elements added, {} deleted, {} chains added, {} deleted{}",
        nat_.tableName(), ns.elementsAdded, ns.elementsDeleted, ns.chainsAdded, ns.chainsDeleted,
        ns.readBack ? " (read back)" : (ns.incremental ? "" : " (full compare)")));
  }
  deleteStaleUdpFlows(r);
  clearStaleAffinity(r, fullPass);
}

// After a successful sync: the UDP conntrack entries that still point at an endpoint the sync
// took out of the table are deleted, so a client that keeps sending from one socket (no new
// connection, no new DNAT decision) moves to a live endpoint at once. The table reports what
// it removed from what the kernel held, so endpoints removed while the agent was down are
// covered too. A failure is only a warning: such entries also expire on their own.
void AgentLoop::deleteStaleUdpFlows(ReconcileReport& r) {
  const auto& stale = nat_.lastSync().removedUdpBackends;
  if (stale.empty()) {
    return;
  }
  auto n = conntrack_.deleteUdpFlows(stale);
  if (!n) {
    metrics_.kernelErrors(AgentMetrics::Subsystem::kConntrack, 1);
    spdlog::warn("conntrack cleanup of {} removed UDP endpoint(s): {}", stale.size(),
                 n.error().message);
  } else if (*n > 0) {
    r.actions.push_back(fmt::format("deleted {} UDP conntrack entries of removed endpoints", *n));
  } else {
    spdlog::debug("deleted 0 UDP conntrack entries of removed endpoints ({} flows)", stale.size());
  }
}

void AgentLoop::recordOverlay(const ReconcileReport& r, Clock::duration took) {
  metrics_.observeSync(AgentMetrics::SyncKind::kOverlay, took);
  using D = AgentMetrics::Drift;
  metrics_.driftRepaired(D::kLink, r.drift.links);
  metrics_.driftRepaired(D::kRoute, r.drift.routes);
  metrics_.driftRepaired(D::kFdb, r.drift.fdb);
  metrics_.driftRepaired(D::kNeighbour, r.drift.neighbours);
}

// A sync that wrote although no service changed put back what someone else changed in the
// table (the table reads itself back when the ruleset's generation moved).
void AgentLoop::recordNat(bool nothingDirty, Clock::duration took) {
  const auto& ns = nat_.lastSync();
  metrics_.observeSync(ns.incremental ? AgentMetrics::SyncKind::kServicesPartial
                                      : AgentMetrics::SyncKind::kServicesFull,
                       took);
  if (nothingDirty) {
    metrics_.driftRepaired(AgentMetrics::Drift::kNftElement, ns.elementsAdded + ns.elementsDeleted);
    metrics_.driftRepaired(AgentMetrics::Drift::kNftChain,
                           ns.chainsAdded + ns.chainsDeleted + ns.chainsRefilled);
  }
  const auto& want = natState_.desired();
  for (size_t set = 0; set < nft::kSyncedSetCount; ++set) {
    metrics_.setNftElements(nft::setLayouts()[set].name, want.elems(set).size());
  }
}

// ClientIP affinity entries that still send clients to a removed endpoint: the sync clears
// them when it deletes endpoints; a full pass looks again, for an entry the packet path
// re-created meanwhile. A failure is only a warning: the entries also time out.
void AgentLoop::clearStaleAffinity(ReconcileReport& r, bool fullPass) {
  size_t cleared = nat_.lastSync().affinityCleared;
  std::string problem = nat_.lastSync().affinityProblem;
  if (fullPass && problem.empty()) {
    auto more = nat_.clearStaleAffinity(natState_.desired());
    if (more) {
      cleared += *more;
    } else {
      problem = more.error().message;
    }
  }
  if (!problem.empty()) {
    spdlog::warn("{}", problem);
  }
  if (cleared > 0) {
    r.actions.push_back(fmt::format(
        "deleted {} ClientIP affinity entries that pointed at removed endpoints", cleared));
  }
}

void AgentLoop::converged(const ReconcileReport& r, double ms) {
  retry_ = kRetryMin;
  spdlog::log(r.actions.empty() ? spdlog::level::debug : spdlog::level::info,
              "converged: {} peers, {} services, {} overlay writes, {:.1f} ms{}",
              plan_->peers.size(), natState_.size(), r.opsApplied, ms,
              r.fullRead ? " (full read)" : "");
  health_.setPass(passSummary("", ms));
  metrics_.setProgrammed(plan_->peers.size(), natState_.size(), endpointCount_ + registrations_);
  metrics_.passSucceeded(std::chrono::system_clock::now());
  if (changeSince_) {
    metrics_.observeProgramming(now_() - *changeSince_);
    changeSince_.reset();
  }
  setStatus(fmt::format("converged: {} peers, {} services", plan_->peers.size(), natState_.size()));
  if (auto st = nodeState_.publish(*plan_, r.fullRead); !st) {
    spdlog::warn("{}", st.error().message);
  }
  store_.reportReady(true);
  if (!notifiedReady_) {
    notifier_.ready();
    notifiedReady_ = true;
  }
}

// Retried with a backoff from kRetryMin to kRetryMax, re-reading the kernel.
void AgentLoop::failed(const ReconcileReport& r, double ms) {
  for (const auto& e : r.errors) {
    spdlog::error("{}", explainError(e));
  }
  health_.setPass(passSummary(explainError(r.errors.front()), ms));
  setStatus(fmt::format("not converged, retrying in {} ms: {}", retry_.count(),
                        r.errors.front().message));
  store_.reportReady(false);
  spdlog::warn("{} error(s); retrying in {} ms", r.errors.size(), retry_.count());
  due_ = now_() + retry_;
  retry_ = std::min(retry_ * 2, kRetryMax);
  fullRead_ = true;
}

PassSummary AgentLoop::passSummary(std::string error, double ms) const {
  PassSummary p;
  p.converged = error.empty();
  p.lastError = std::move(error);
  p.peers = plan_->peers.size();
  p.services = natState_.size();
  p.endpoints = endpointCount_ + registrations_;
  p.ms = ms;
  p.vtep = plan_->vtepName;
  p.bridge = plan_->bridgeName;
  return p;
}

// nftables' notifications are watched from the first converged pass on, not from the start: a
// subscribed socket is handed every notification of a commit, one per element, and the first
// commit adds them all (1.1 million at 100,000 services x 10 endpoints); most are dropped as
// ENOBUFS, which then costs one more pass reading the table back, all to report the agent's own
// write (measured: the first sync at 10,000 x 10 about 0.6x as long without the subscription). A
// change made by someone else between that commit and the subscription is found by the pass
// scheduled here: the table compares the ruleset's generation and reads itself back when it
// moved. Should the subscription fail, the next turn of the loop tries again; meanwhile drift is
// repaired by the periodic resync.
void AgentLoop::subscribeNftEvents() {
  if (nftMonitor_ || !notifiedReady_) {
    return;
  }
  auto monitor = nat::NftMonitor::create(nat_.tableName());
  if (!monitor) {
    // Tried again at every turn of the loop; said once until the reason changes.
    if (monitor.error().message != nftSubscribeProblem_) {
      nftSubscribeProblem_ = monitor.error().message;
      spdlog::warn("nftables notifications: {}; drift is repaired at the periodic resync only",
                   nftSubscribeProblem_);
    }
    return;
  }
  nftMonitor_ = std::move(*monitor);
  schedulePass(false);
}

int AgentLoop::run(int signalFd, nl::EventMonitor& events) {
  for (;;) {
    runDue();
    subscribeNftEvents();
    // poll(2) skips a negative descriptor: no nftables notifications before the first pass.
    pollfd fds[5] = {{signalFd, POLLIN, 0},
                     {store_.fd(), POLLIN, 0},
                     {events.fd(), POLLIN, 0},
                     {nftMonitor_ ? nftMonitor_->fd() : -1, POLLIN, 0},
                     {local_.fd(), POLLIN, 0}};
    int n = ::poll(fds, 5, static_cast<int>(sleepTime().count()));
    if (n < 0 && errno != EINTR) {
      spdlog::error("poll: {}", std::strerror(errno));
      return 1;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo si{};
      if (::read(signalFd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
          reload();
        } else {
          spdlog::info("signal {}: stopping; the kernel keeps the overlay as it is",
                       strsignal(static_cast<int>(si.ssi_signo)));
          notifier_.stopping();
          return 0;
        }
      }
    }
    if ((fds[1].revents & POLLIN) != 0) {
      datastoreReadable();
    }
    if ((fds[2].revents & POLLIN) != 0) {
      kernelEvents(events.drain());
    }
    if ((fds[3].revents & POLLIN) != 0) {
      nftEvents(nftMonitor_->drainForeignChanges());
    }
    if ((fds[4].revents & POLLIN) != 0) {
      localEndpointsReadable();
    }
  }
}

}  // namespace ovl
