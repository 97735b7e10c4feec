#include "agent/agent.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "agent/diagnostics_watch.h"
#include "agent/health.h"
#include "agent/local_endpoints.h"
#include "common/fd.h"
#include "datastore/datastore.h"
#include "datastore/etcd_datastore.h"
#include "datastore/file_datastore.h"
#include "model/config.h"
#include "overlay/netlink_overlay_kernel.h"
#include "overlay/overlay_reconciler.h"
#include "rules/conntrack.h"
#include "rules/nat_state.h"
#include "rules/nat_table.h"
#include "rules/nft_monitor.h"

namespace ovl {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kEventDebounce{20};  // kernel notifications come in bursts
constexpr milliseconds kRetryMin{100};
constexpr milliseconds kRetryMax{10'000};
constexpr milliseconds kMaxSleep{1'000};  // heartbeat period of the loop

std::vector<std::string> issueStrings(const std::vector<ConfigIssue>& issues) {
  std::vector<std::string> out;
  out.reserve(issues.size());
  for (const auto& i : issues) {
    out.push_back(i.toString());
  }
  return out;
}

void setLogLevel(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
}

// The loop's state: the plan of the last good cluster snapshot, and when work is due.
class AgentLoop {
 public:
  AgentLoop(AgentConfig cfg, OverlayKernel& kernel, Datastore& store, nl::EventMonitor& events,
            nat::NatTable& nat, conntrack::Conntrack& conntrack, nat::NftMonitor& nftEvents,
            HealthState& health, LocalEndpoints& local)
      : cfg_(std::move(cfg)),
        reconciler_(kernel, cfg_.underlayInterface),
        store_(store),
        events_(events),
        nat_(nat),
        conntrack_(conntrack),
        nftEvents_(nftEvents),
        health_(health),
        local_(local),
        nodeState_(cfg_.stateDir, local.dir(), kernel),
        diagnostics_(cfg_, health) {}

  // Reads the cluster snapshot and plans. At start-up an issue with the network (or, in a
  // cluster file, with a node) is fatal (exit 2); later a bad snapshot keeps the last good plan,
  // and a bad node entry only drops that node. A bad service is reported and skipped, at
  // start-up too: every other service is programmed.
  bool loadPlan(bool startup) {
    auto change = store_.nextChange();
    if (!change) {
      return true;  // the same content as last time
    }
    if (auto* delta = std::get_if<ServiceDelta>(&*change)) {
      applyServiceDelta(std::move(*delta));
      return true;
    }
    ClusterLoad load = std::move(std::get<ClusterLoad>(*change));
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
    if (!plan && startup) {
      spdlog::error("{}: {}", store_.describe(), plan.error().message);
      return false;
    }
    // Services do not depend on this node's own entry: a broken one keeps the last good
    // overlay but does not hold back service changes.
    clusterServices_ = std::move(load.cluster.services);
    clusterIndex_.clear();
    clusterIndex_.reserve(clusterServices_.size());
    for (size_t i = 0; i < clusterServices_.size(); ++i) {
      clusterIndex_.emplace(clusterServices_[i].id(), i);
    }
    diagnostics_.setCluster(load.cluster.network, clusterServices_);
    podCidr_ = load.cluster.network.podCidr;
    // Without a valid entry of its own this time, the node's subnet is the last good one.
    const OverlayPlan* self = plan ? &*plan : (plan_ ? &*plan_ : nullptr);
    natInputs_ = nat::planInputs(load.cluster.network, cfg_.nodeName,
                                 self ? std::optional(self->podSubnet) : std::nullopt);
    planNatWithLocalEndpoints();
    due_ = Clock::now();
    if (!plan) {
      // Said once per cause: with etcd, every node's change brings the same snapshot problem
      // while this node's lease is lost.
      if (plan.error().message != planProblem_) {
        planProblem_ = plan.error().message;
        spdlog::error("{}: {}; keeping the last good overlay, applying the services",
                      store_.describe(), planProblem_);
      }
      return false;
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
    return true;
  }

  int run(int signalFd) {
    nextResync_ = Clock::now() + std::chrono::seconds(cfg_.resyncSeconds);
    for (;;) {
      health_.heartbeat();
      health_.setDatastoreProblem(store_.problem());
      auto now = Clock::now();
      if (now >= nextResync_) {
        loadPlan(false);  // in case an inotify event was missed
        fullRead_ = true;
        due_ = now;
        nextResync_ = now + std::chrono::seconds(cfg_.resyncSeconds);
      }
      if (due_ && now >= *due_) {
        pass();
      }
      int timeout = sleepMs();
      pollfd fds[5] = {{signalFd, POLLIN, 0},
                       {store_.fd(), POLLIN, 0},
                       {events_.fd(), POLLIN, 0},
                       {nftEvents_.fd(), POLLIN, 0},
                       {local_.fd(), POLLIN, 0}};
      int n = ::poll(fds, 5, timeout);
      if (n < 0 && errno != EINTR) {
        spdlog::error("poll: {}", std::strerror(errno));
        return 1;
      }
      if ((fds[0].revents & POLLIN) != 0) {
        signalfd_siginfo si{};
        if (::read(signalFd, &si, sizeof si) == sizeof si) {
          if (si.ssi_signo == SIGHUP) {
            spdlog::info("SIGHUP: reloading {}", store_.describe());
            loadPlan(false);
          } else {
            spdlog::info("signal {}: stopping; the kernel keeps the overlay as it is",
                         strsignal(static_cast<int>(si.ssi_signo)));
            sd_notify(0, "STOPPING=1");
            return 0;
          }
        }
      }
      if ((fds[1].revents & POLLIN) != 0 && store_.maybeChanged()) {
        loadPlan(false);
      }
      if ((fds[2].revents & POLLIN) != 0) {
        drainEvents();
      }
      if ((fds[3].revents & POLLIN) != 0) {
        drainNftEvents();
      }
      if ((fds[4].revents & POLLIN) != 0 && local_.drain() && natInputs_) {
        planNatWithLocalEndpoints();
        due_ = Clock::now();
      }
    }
  }

 private:
  void pass() {
    due_.reset();
    if (!plan_) {
      return;
    }
    const auto t0 = Clock::now();
    const bool full = fullRead_;
    ReconcileReport r = reconciler_.reconcile(*plan_, fullRead_);
    fullRead_ = false;
    // Service NAT is independent of the overlay's links: synced whatever happened above. No
    // invalidate() on a full pass: the table checks the ruleset generation on every sync and
    // reads itself back whenever anyone changed anything, so a forced read-back (about a
    // second at 10,000 services) would find nothing new.
    if (auto st = nat_.sync(natState_.desired()); !st) {
      r.errors.push_back(st.error());
    } else {
      if (nat_.lastSync().operations > 0) {
        const auto& ns = nat_.lastSync();
        r.actions.push_back(
            fmt::format("nftables table ip {}: {} elements added, {} deleted, {} "
                        "chains added, {} deleted{}",
                        nat_.tableName(), ns.elementsAdded, ns.elementsDeleted, ns.chainsAdded,
                        ns.chainsDeleted,
                        ns.readBack ? " (read back)" : (ns.incremental ? "" : " (full compare)")));
      }
      deleteStaleUdpFlows(r);
      clearStaleAffinity(r, full);
    }
    const auto ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    diagnostics_.afterPass(*plan_);
    for (const auto& a : r.actions) {
      spdlog::info("{}", a);
    }
    if (r.ok()) {
      retry_ = kRetryMin;
      spdlog::log(r.actions.empty() ? spdlog::level::debug : spdlog::level::info,
                  "converged: {} peers, {} services, {} overlay writes, {:.1f} ms{}",
                  plan_->peers.size(), natState_.size(), r.opsApplied, ms,
                  r.fullRead ? " (full read)" : "");
      health_.setConverged(true, "", plan_->peers.size());
      if (auto st = nodeState_.publish(*plan_, r.fullRead); !st) {
        spdlog::warn("{}", st.error().message);
      }
      store_.reportReady(true);
      if (!notifiedReady_) {
        sd_notify(0, "READY=1");
        notifiedReady_ = true;
      }
      return;
    }
    for (const auto& e : r.errors) {
      spdlog::error("{}", e.message);
    }
    health_.setConverged(false, r.errors.front().message, plan_->peers.size());
    store_.reportReady(false);
    spdlog::warn("{} error(s); retrying in {} ms", r.errors.size(), retry_.count());
    due_ = Clock::now() + retry_;
    retry_ = std::min(retry_ * 2, kRetryMax);
    fullRead_ = true;
  }

  // After a successful sync: the UDP conntrack entries that still point at an endpoint the sync
  // took out of the table are deleted, so a client that keeps sending from one socket (no new
  // connection, no new DNAT decision) moves to a live endpoint at once. The table reports what
  // it removed from what the kernel held, so endpoints removed while the agent was down are
  // covered too. A failure is only a warning: such entries also expire on their own.
  void deleteStaleUdpFlows(ReconcileReport& r) {
    const auto& stale = nat_.lastSync().removedUdpBackends;
    if (stale.empty()) {
      return;
    }
    auto n = conntrack_.deleteUdpFlows(stale);
    if (!n) {
      spdlog::warn("conntrack cleanup of {} removed UDP endpoint(s): {}", stale.size(),
                   n.error().message);
    } else if (*n > 0) {
      r.actions.push_back(fmt::format("deleted {} UDP conntrack entries of removed endpoints", *n));
    } else {
      spdlog::debug("deleted 0 UDP conntrack entries of removed endpoints ({} flows)",
                    stale.size());
    }
  }

  // Each snapshot or delta reports every problem again; the log says them when they change.
  void reportIssues(const std::vector<ConfigIssue>& all) {
    auto issues = issueStrings(all);
    if (issues != loggedIssues_) {
      for (const auto& i : issues) {
        spdlog::error("{}", i);
      }
      loggedIssues_ = issues;
    }
    health_.setConfigIssues(std::move(issues));
  }

  // Only some services changed (the etcd datastore): they alone are re-planned, and the pass
  // that follows compares only their keys with the kernel; the overlay's plan stands.
  void applyServiceDelta(ServiceDelta delta) {
    reportIssues(delta.issues);
    for (const auto& id : delta.removed) {
      auto it = clusterIndex_.find(id);
      if (it == clusterIndex_.end()) {
        continue;
      }
      const size_t at = it->second;
      clusterIndex_.erase(it);
      if (at + 1 != clusterServices_.size()) {
        clusterServices_[at] = std::move(clusterServices_.back());
        clusterIndex_[clusterServices_[at].id()] = at;
      }
      clusterServices_.pop_back();
    }
    for (const auto& s : delta.upserts) {
      auto [it, added] = clusterIndex_.try_emplace(s.id(), clusterServices_.size());
      if (added) {
        clusterServices_.push_back(s);
      } else {
        clusterServices_[it->second] = s;
      }
    }
    diagnostics_.servicesChanged();
    if (!natInputs_) {
      return;  // no snapshot applied yet: the first one takes every service
    }
    std::vector<std::string> problems;
    auto regs = local_.read(&problems);
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
    due_ = Clock::now();
  }

  // ClientIP affinity entries that still send clients to a removed endpoint: the sync clears
  // them when it deletes endpoints; a full pass looks again, for an entry the packet path
  // re-created meanwhile. A failure is only a warning: the entries also time out.
  void clearStaleAffinity(ReconcileReport& r, bool fullPass) {
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

  // The NAT plan of the cluster's services plus the endpoints ovl-cni registered
  // (agent/local_endpoints.h).
  void planNatWithLocalEndpoints() {
    std::vector<std::string> problems;
    auto regs = local_.read(&problems);
    natState_.setInputs(*natInputs_);
    // Without registrations the cluster's list is used as it is (no copy of every service).
    const size_t changed = regs.empty() ? natState_.setServices(clusterServices_)
                                        : natState_.setServices(mergeLocalEndpoints(
                                              clusterServices_, regs, podCidr_, &problems));
    spdlog::debug("{} service(s) added, changed or removed", changed);
    for (const auto& p : problems) {
      spdlog::warn("{}", p);
    }
  }

  void drainEvents() {
    auto evs = events_.drain();
    if (!evs) {
      spdlog::warn("kernel notifications: {}; re-reading the kernel", evs.error().message);
      scheduleFullRead();
      return;
    }
    for (const auto& ev : *evs) {
      if (ev.kind == nl::Event::Kind::kLink) {
        // A new or re-created interface gets the distribution's defaults (rp_filter): checked
        // after a pass, which need not re-read the kernel for that.
        diagnostics_.linkChanged();
        schedulePass(false);
      }
      if (reconciler_.eventMayBeDrift(ev)) {
        spdlog::debug("kernel notification {}: checking for drift", ev.toString());
        scheduleFullRead();
        return;
      }
    }
  }

  void drainNftEvents() {
    auto foreign = nftEvents_.drainForeignChanges();
    if (!foreign) {
      spdlog::warn("nftables notifications: {}; re-reading the table", foreign.error().message);
    }
    if (!foreign || *foreign) {
      // Only a wake-up: the changed generation makes the next sync read the table back.
      spdlog::debug("table ip {} changed by another process: checking it", nat_.tableName());
      auto at = Clock::now() + kEventDebounce;
      if (!due_ || *due_ > at) {
        due_ = at;
      }
    }
  }

  void scheduleFullRead() { schedulePass(true); }

  void schedulePass(bool fullRead) {
    fullRead_ = fullRead_ || fullRead;
    auto at = Clock::now() + kEventDebounce;
    if (!due_ || *due_ > at) {
      due_ = at;
    }
  }

  int sleepMs() const {
    auto now = Clock::now();
    auto until = std::min(now + kMaxSleep, nextResync_);
    if (due_) {
      until = std::min(until, *due_);
    }
    auto ms = std::chrono::duration_cast<milliseconds>(until - now).count();
    return static_cast<int>(std::max<int64_t>(ms, 0));
  }

  AgentConfig cfg_;
  OverlayReconciler reconciler_;
  Datastore& store_;
  nl::EventMonitor& events_;
  nat::NatTable& nat_;
  conntrack::Conntrack& conntrack_;
  nat::NftMonitor& nftEvents_;
  HealthState& health_;
  LocalEndpoints& local_;
  NodeStatePublisher nodeState_;
  std::vector<svc::Service> clusterServices_;  // as the datastore has them, in no set order
  std::unordered_map<std::string, size_t> clusterIndex_;  // id -> position in clusterServices_
  Ipv4Prefix podCidr_;
  std::optional<nat::PlanInputs> natInputs_;
  DiagnosticsWatch diagnostics_;
  std::optional<OverlayPlan> plan_;
  nat::NatState natState_;  // the services, and the table they need
  std::vector<std::string> loggedIssues_;
  std::string planProblem_;  // why the last snapshot gave no overlay plan, as logged
  std::optional<Clock::time_point> due_;
  Clock::time_point nextResync_;
  bool fullRead_ = true;
  bool notifiedReady_ = false;
  milliseconds retry_ = kRetryMin;
};

int cleanup(const AgentConfig& cfg, OverlayKernel& kernel) {
  // The VTEP's name may come from the cluster's VNI; read it if it is readable.
  std::string vtep = cfg.vtepName;
  if (cfg.datastore == "etcd") {
    // Leave the cluster at once: peers remove this node now, not when its lease expires.
    if (auto st = EtcdDatastore::deregister(cfg); !st) {
      spdlog::warn("{}", st.error().message);
    }
    if (vtep.empty()) {
      auto network = EtcdDatastore::readNetwork(cfg);
      if (!network) {
        spdlog::error("cannot tell the VTEP's name: {}; and vtepName is not set",
                      network.error().message);
        return 2;
      }
      vtep = fmt::format("ovl.{}", network->vni);
    }
  }
  if (vtep.empty()) {
    ClusterLoad load = loadClusterFile(cfg.clusterFile);
    if (load.fatal) {
      spdlog::error("cannot tell the VTEP's name: {} is unreadable and vtepName is not set",
                    cfg.clusterFile);
      return 2;
    }
    vtep = fmt::format("ovl.{}", load.cluster.network.vni);
  }
  OverlayReconciler reconciler(kernel, cfg.underlayInterface);
  ReconcileReport r = reconciler.cleanup(vtep, cfg.bridgeName);
  if (auto table = nat::NatTable::create(); !table) {
    r.errors.push_back(table.error());
  } else if (auto st = table->remove(); !st) {
    r.errors.push_back(st.error());
  } else {
    r.actions.push_back("delete nftables table ip " + table->tableName() + " (if it existed)");
  }
  for (const auto& a : r.actions) {
    spdlog::info("{}", a);
  }
  for (const auto& e : r.errors) {
    spdlog::error("{}", e.message);
  }
  if (r.actions.empty() && r.ok()) {
    spdlog::info("nothing to clean up: no {} or {}", vtep, cfg.bridgeName);
  }
  return r.ok() ? 0 : 1;
}

// Takes <stateDir>/agent.lock (flock, released by the kernel when the process ends, however
// it ends), creating stateDir if needed.
Result<UniqueFd> lockStateDir(const AgentConfig& cfg) {
  std::error_code ec;
  std::filesystem::create_directories(cfg.stateDir, ec);
  if (ec) {
    return Error{ec.value(),
                 fmt::format("stateDir {}: cannot create it: {}", cfg.stateDir, ec.message())};
  }
  const std::string path = cfg.stateDir + "/agent.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return Error::sys(errno, "open " + path);
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd.get(), buf, sizeof(buf) - 1, 0);
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    holder.erase(holder.find_last_not_of("\n") + 1);
    return Error{EWOULDBLOCK,
                 fmt::format("another ovl-agent (pid {}) already runs with stateDir {} ({} is "
                             "locked); one agent per node",
                             holder, cfg.stateDir, path)};
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    return Error::sys(errno, "write " + path);
  }
  return fd;
}

// A named underlay interface that does not exist is a configuration error, reported at
// start-up with where it was written. (Without a name, the interface holding the node's
// underlay IP is looked up on every full pass, so an address that comes later is found.)
Status checkUnderlayInterface(const AgentConfig& cfg, OverlayKernel& kernel) {
  if (cfg.underlayInterface.empty()) {
    return okStatus();
  }
  auto links = kernel.links();
  if (!links) {
    return links.error();
  }
  std::vector<std::string> names;
  for (const auto& l : *links) {
    if (l.name == cfg.underlayInterface) {
      return okStatus();
    }
    names.push_back(l.name);
  }
  auto mark = cfg.marks.contains("underlayInterface") ? cfg.marks.at("underlayInterface")
                                                      : SourceMark{cfg.path};
  return Error{ENODEV,
               ConfigIssue{mark, "underlayInterface",
                           fmt::format("no interface '{}' on this host; expected one of: {}",
                                       cfg.underlayInterface, fmt::join(names, ", "))}
                   .toString()};
}

}  // namespace

int runAgent(const AgentOptions& options) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  AgentConfigResult acr = loadAgentConfig(options.configPath);
  if (!acr.issues.empty()) {
    for (const auto& i : acr.issues) {
      spdlog::error("{}", i.toString());
    }
    return 2;
  }
  AgentConfig cfg = std::move(acr.config);
  setLogLevel(options.logLevel.empty() ? cfg.logLevel : options.logLevel);

  // One agent per node: a second one would fight the first over the same kernel objects.
  auto lock = lockStateDir(cfg);
  if (!lock) {
    spdlog::error("{}", lock.error().message);
    return 2;
  }

  auto kernel = NetlinkOverlayKernel::create();
  if (!kernel) {
    spdlog::error("{}", kernel.error().message);
    return 1;
  }
  if (options.cleanup) {
    return cleanup(cfg, *kernel);
  }
  if (auto st = checkUnderlayInterface(cfg, *kernel); !st) {
    spdlog::error("{}", st.error().message);
    return 2;
  }

  // Block the signals the loop reads from a signalfd before any thread starts.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  UniqueFd sigFd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigFd.valid()) {
    spdlog::error("signalfd: {}", std::strerror(errno));
    return 1;
  }

  std::unique_ptr<Datastore> store;
  if (cfg.datastore == "etcd") {
    auto etcd = EtcdDatastore::create(cfg);
    if (!etcd) {
      spdlog::error("{}", etcd.error().message);
      return 2;
    }
    store = std::move(*etcd);
  } else {
    auto file = FileDatastore::create(cfg.clusterFile);
    if (!file) {
      spdlog::error("{}", file.error().message);
      return 2;
    }
    store = std::make_unique<FileDatastore>(std::move(*file));
  }
  // Subscribe before the first read, so no change between the read and the watch is missed.
  auto events = nl::EventMonitor::create();
  if (!events) {
    spdlog::error("{}", events.error().message);
    return 1;
  }
  auto natTable = nat::NatTable::create();
  if (!natTable) {
    spdlog::error("{}", natTable.error().message);
    return 1;
  }
  auto ct = conntrack::Conntrack::create();
  if (!ct) {
    spdlog::error("{}", ct.error().message);
    return 1;
  }
  auto nftEvents = nat::NftMonitor::create(natTable->tableName());
  if (!nftEvents) {
    spdlog::error("{}", nftEvents.error().message);
    return 1;
  }
  auto local = LocalEndpoints::create(
      cfg.endpointsDir.empty() ? cfg.stateDir + "/" + NodeState::kEndpointsDir : cfg.endpointsDir);
  if (!local) {
    spdlog::error("{}", local.error().message);
    return 2;
  }
  if (auto st = store->start(); !st) {
    spdlog::error("{}", st.error().message);
    return 2;
  }
  HealthState health;
  AgentLoop loop(cfg, *kernel, *store, *events, *natTable, *ct, *nftEvents, health, *local);
  if (!loop.loadPlan(true)) {
    return 2;
  }
  std::unique_ptr<HealthServer> server;
  if (!cfg.healthAddress.empty()) {
    auto s = HealthServer::start(cfg.healthAddress, health);
    if (!s) {
      spdlog::error("{}", s.error().message);
      return 2;
    }
    server = std::move(*s);
  }
  spdlog::info("ovl-agent {} on node {}: datastore {} ({}), health on {}", "0.1.0", cfg.nodeName,
               cfg.datastore, store->describe(),
               cfg.healthAddress.empty() ? "(off)" : cfg.healthAddress);
  return loop.run(sigFd.get());
}

}  // namespace ovl
