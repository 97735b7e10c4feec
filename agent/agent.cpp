#include "agent/agent.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "agent/agent_loop.h"
#include "agent/diagnostics_watch.h"
#include "agent/health.h"
#include "agent/local_endpoints.h"
#include "agent/logging.h"
#include "agent/systemd_notifier.h"
#include "common/fd.h"
#include "common/version.h"
#include "datastore/etcd_datastore.h"
#include "datastore/file_datastore.h"
#include "overlay/netlink_overlay_kernel.h"
#include "overlay/overlay_reconciler.h"
#include "rules/conntrack.h"
#include "rules/nat_table.h"
#include "rules/nft_monitor.h"

namespace ovl {

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitConfig = 2;

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

// Blocks the signals the loop reads from a signalfd; before any thread starts, so that every
// thread inherits the mask.
Result<UniqueFd> signalFd() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  UniqueFd fd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd.valid()) {
    return Error::sys(errno, "signalfd");
  }
  return fd;
}

Result<std::unique_ptr<Datastore>> openDatastore(const AgentConfig& cfg) {
  if (cfg.datastore == "etcd") {
    auto etcd = EtcdDatastore::create(cfg);
    if (!etcd) {
      return etcd.error();
    }
    return std::unique_ptr<Datastore>(std::move(*etcd));
  }
  auto file = FileDatastore::create(cfg.clusterFile);
  if (!file) {
    return file.error();
  }
  return std::unique_ptr<Datastore>(std::make_unique<FileDatastore>(std::move(*file)));
}

// The kernel handles the loop works through besides the overlay's, opened in this network
// namespace. The link notifications are subscribed before the datastore is first read, so no
// change between the read and the subscription is missed (nftables' own are subscribed by the
// loop after its first pass; see AgentLoop::subscribeNftEvents).
struct KernelHandles {
  nl::EventMonitor events;
  nat::NatTable nat;
  conntrack::Conntrack conntrack;

  static Result<KernelHandles> open() {
    auto events = nl::EventMonitor::create();
    if (!events) {
      return events.error();
    }
    auto table = nat::NatTable::create();
    if (!table) {
      return table.error();
    }
    auto ct = conntrack::Conntrack::create();
    if (!ct) {
      return ct.error();
    }
    // Subscribing needs CAP_NET_ADMIN: tried here, so that an agent without it stops at once
    // with the permission message, rather than retrying a first pass that cannot succeed. The
    // subscription itself is closed again (the loop makes its own after the first pass).
    if (auto probe = nat::NftMonitor::create(table->tableName()); !probe) {
      return probe.error();
    }
    return KernelHandles{std::move(*events), std::move(*table), std::move(*ct)};
  }
};

// Logs why the agent stops and returns its exit code.
int stop(int exitCode, const Error& e) {
  spdlog::error("{}", explainError(e));
  return exitCode;
}

// From the datastore's start (for etcd: registration and subnet claim) until a stop signal.
// Each start-up step reports progress: under systemd it extends TimeoutStartSec= (see
// agent/systemd_notifier.h), so a large cluster's start-up is not killed while it advances.
int serve(const AgentConfig& cfg, NetlinkOverlayKernel& kernel, int sigFd) {
  SystemdNotifier notifier;
  auto store = openDatastore(cfg);
  if (!store) {
    return stop(kExitConfig, store.error());
  }
  notifier.progress("datastore " + (*store)->describe() + " opened");
  auto handles = KernelHandles::open();
  if (!handles) {
    return stop(kExitRuntime, handles.error());
  }
  auto local = LocalEndpoints::create(
      cfg.endpointsDir.empty() ? cfg.stateDir + "/" + NodeState::kEndpointsDir : cfg.endpointsDir);
  if (!local) {
    return stop(kExitConfig, local.error());
  }
  if (auto st = (*store)->start(); !st) {
    return stop(kExitConfig, st.error());
  }
  notifier.progress("datastore started");
  HealthState health;
  health.setIdentity(cfg.nodeName, std::string(version()));
  AgentMetrics metrics(version(), cfg.datastore);
  DiagnosticsWatch hostWatch(cfg, health, &metrics);
  AgentLoop loop(cfg, {kernel, **store, handles->nat, handles->conntrack, health, *local, hostWatch,
                       notifier, metrics});
  if (!loop.loadPlan(true)) {
    return kExitConfig;
  }
  std::unique_ptr<HealthServer> server;
  if (!cfg.healthAddress.empty()) {
    auto s = HealthServer::start(cfg.healthAddress, health, &metrics);
    if (!s) {
      return stop(kExitConfig, s.error());
    }
    server = std::move(*s);
  }
  spdlog::info("ovl-agent {} on node {}: datastore {} ({}), health on {}", version(), cfg.nodeName,
               cfg.datastore, (*store)->describe(),
               cfg.healthAddress.empty() ? "(off)" : cfg.healthAddress);
  return loop.run(sigFd, handles->events);
}

}  // namespace

int runAgent(const AgentOptions& options) {
  setupLogging(options.logFormat);
  // OVL_* variables (a unit's Environment=, /etc/default/ovl) override agent.yaml's fields.
  AgentConfigResult acr = loadAgentConfig(options.configPath, ovlEnvironment(environ));
  for (const auto& w : acr.warnings) {
    spdlog::warn("{}", w);
  }
  for (const auto& line : issueLines(acr.issues)) {
    spdlog::error("{}", line);
  }
  if (!acr.issues.empty()) {
    return kExitConfig;
  }
  const AgentConfig& cfg = acr.config;
  spdlog::set_level(
      spdlog::level::from_str(options.logLevel.empty() ? cfg.logLevel : options.logLevel));
  // One agent per node: a second one would fight the first over the same kernel objects.
  auto lock = lockStateDir(cfg);
  if (!lock) {
    return stop(kExitConfig, lock.error());
  }
  auto kernel = NetlinkOverlayKernel::create();
  if (!kernel) {
    return stop(kExitRuntime, kernel.error());
  }
  if (options.cleanup) {
    return cleanup(cfg, *kernel);
  }
  if (auto st = checkUnderlayInterface(cfg, *kernel); !st) {
    return stop(kExitConfig, st.error());
  }
  auto sigFd = signalFd();
  if (!sigFd) {
    return stop(kExitRuntime, sigFd.error());
  }
  return serve(cfg, *kernel, sigFd->get());
}

}  // namespace ovl
