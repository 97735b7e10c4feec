#include "cli/connectivity_command.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/connectivity_cluster.h"
#include "cli/connectivity_plan.h"
#include "cli/connectivity_pod.h"
#include "cli/connectivity_probe.h"
#include "cli/exit_code.h"
#include "cli/global_options.h"
#include "cli/local_node.h"
#include "diagnostics/checker.h"
#include "diagnostics/sysctl.h"

namespace ovl::cli {

namespace {

constexpr const char* kDefaultCniConf = "/etc/cni/net.d/10-ovl.conflist";
constexpr const char* kAllAddresses = "0.0.0.0:";

struct ConnectivityOptions {
  std::string config = kDefaultAgentConfig;
  std::string format = "table";
  EtcdOptions etcd;  // with `datastore: etcd`: the global etcd flags
  std::string cniConf = kDefaultCniConf;
  int timeoutMs = 1000;
};

// SIGINT, SIGTERM and SIGHUP blocked from here on (in every thread made later) and read from a
// signalfd instead: the run sees them between steps and in its poll loop, removes the pod and
// exits. The mask is never restored: a signal that arrives during the clean-up must not cut it
// short, and the process ends right after.
class SignalGuard {
 public:
  SignalGuard() {
    sigemptyset(&set_);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) {
      sigaddset(&set_, s);
    }
    ::pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    fd_.reset(::signalfd(-1, &set_, SFD_CLOEXEC | SFD_NONBLOCK));
  }
  int fd() const { return fd_.get(); }
  // The signal received (0: none yet).
  int received() {
    signalfd_siginfo si{};
    if (signal_ == 0 && ::read(fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      signal_ = static_cast<int>(si.ssi_signo);
    }
    return signal_;
  }

 private:
  sigset_t set_{};
  UniqueFd fd_;
  int signal_ = 0;
};

Result<NodeState> readNodeState(const std::string& stateDir) {
  const std::string path = stateDir + "/" + NodeState::kFileName;
  auto text = readFile(path);
  if (!text) {
    return Error::msg(
        fmt::format("{} is not readable ({}): is ovl-agent running and converged "
                    "on this node?",
                    path, text.error().message));
  }
  return NodeState::parse(*text, path);
}

std::optional<uint16_t> agentPortOnEveryAddress(const std::string& healthAddress) {
  if (!healthAddress.starts_with(kAllAddresses)) {
    return std::nullopt;
  }
  const int port = std::atoi(healthAddress.c_str() + std::string(kAllAddresses).size());
  return port > 0 && port <= 65535 ? std::optional<uint16_t>(static_cast<uint16_t>(port))
                                   : std::nullopt;
}

// The legs of the plan: from the pod (when there is one), then from the host, per target.
struct LegRef {
  size_t target;
  bool fromPod;
};

std::vector<LegRef> legsOf(const ConnectivityPlan& plan, bool withPod) {
  std::vector<LegRef> refs;
  for (size_t i = 0; i < plan.targets.size(); ++i) {
    if (withPod) {
      refs.push_back({i, true});
    }
    if (plan.targets[i].fromHost) {
      refs.push_back({i, false});
    }
  }
  return refs;
}

// Explains the failing legs with the findings of diagnose's checks on this node (read-only).
void explainFailures(RunReport& report, const LocalNode& node) {
  if (report.count(Outcome::kFail) == 0) {
    return;
  }
  std::vector<diag::Finding> findings;
  if (auto netlink = nl::Netlink::create(); netlink) {
    diag::ProcFs fs;
    diag::Checker checker(*netlink, fs);
    findings = checker.run(diag::NodeModel::of(node.agent, node.plan, node.cluster)).findings;
  } else {
    report.notes.push_back("diagnose's checks could not run: " + netlink.error().message);
  }
  for (auto& r : report.results) {
    r.explanations = explain(r, findings, node.plan.vtepName);
  }
}

int interrupted(int signal, TestPod* pod) {
  const Status st = pod != nullptr ? pod->remove() : okStatus();
  std::fprintf(stderr, "ovlctl connectivity: stopped by signal %d (%s); %s\n", signal,
               strsignal(signal),
               st ? "the throwaway pod was removed"
                  : ("could not remove the throwaway pod: " + st.error().message).c_str());
  return 128 + signal;
}

void progress(const ConnectivityOptions& o, size_t done, size_t total, const Target& t,
              bool fromPod, const LegResult& r) {
  if (o.format == "json") {
    return;
  }
  const char* word = r.outcome == Outcome::kOk ? "ok" : r.outcome == Outcome::kFail ? "FAIL" : "?";
  std::fprintf(stderr, "[%2zu/%zu] %-4s from %-4s %s %s, %.1f ms%s\n", done, total, word,
               fromPod ? "pod" : "host", t.label.c_str(), t.address().c_str(), r.ms,
               r.error.empty() ? "" : (": " + r.error).c_str());
}

// Creates the pod, runs every leg, removes the pod. -1 = done (the report says how), else the
// exit code (a signal stopped the run).
int probeAll(const ConnectivityOptions& o, const NodeState& state, const CniSettings& cni,
             const ConnectivityPlan& plan, SignalGuard& sig, RunReport& report) {
  auto pod = TestPod::create(state, cni);
  std::string podError;
  if (!pod) {
    podError = kNoPodError + pod.error().message;
    report.notes.push_back(podError);
    std::fprintf(stderr, "ovlctl connectivity: %s\n", podError.c_str());
  } else {
    report.podAddress = (*pod)->address().toString();
    for (const auto& s : (*pod)->freedStale()) {
      report.notes.push_back("freed the address of an earlier run that was killed: " + s);
    }
  }
  TestPod* p = pod ? pod->get() : nullptr;
  if (int s = sig.received(); s != 0) {
    return interrupted(s, p);
  }
  for (const auto& t : plan.targets) {
    TargetResult r{t, {}, {}, {}};
    if (p == nullptr) {
      r.pod = LegResult{Outcome::kFail, 0, podError};
    }
    report.results.push_back(std::move(r));
  }
  const auto refs = legsOf(plan, p != nullptr);
  std::vector<ProbeLeg> legs;
  for (const auto& ref : refs) {
    const Target& t = plan.targets[ref.target];
    legs.push_back(ProbeLeg{t.probe, t.ip, t.port, ref.fromPod ? p->netnsFd() : -1});
  }
  if (o.format != "json") {
    std::fprintf(stderr, "ovlctl connectivity: node %s, throwaway pod %s on %s: %zu legs\n",
                 report.node.c_str(), report.podAddress.empty() ? "-" : report.podAddress.c_str(),
                 state.bridge.c_str(), legs.size());
  }
  size_t done = 0;
  auto run = runProbes(legs, std::chrono::milliseconds(o.timeoutMs), sig.fd(),
                       [&](size_t i, const LegResult& r) {
                         const auto& ref = refs[i];
                         auto& slot = report.results[ref.target];
                         (ref.fromPod ? slot.pod : slot.host) = r;
                         progress(o, ++done, legs.size(), slot.target, ref.fromPod, r);
                       });
  if (run.interrupted) {
    return interrupted(sig.received(), p);
  }
  if (p != nullptr) {
    if (Status st = p->remove(); !st) {
      report.notes.push_back("could not remove the throwaway pod: " + st.error().message);
      report.leftovers = true;
    }
  }
  return -1;
}

int runConnectivity(const ConnectivityOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  auto node = loadClusterNode(o.config, o.etcd);
  if (!node) {
    std::fprintf(stderr, "ovlctl connectivity: %s\n", node.error().message.c_str());
    return kExitInvalid;
  }
  for (const auto& i : node->issues) {
    std::fprintf(stderr,
                 "ovlctl connectivity: warning: %s (left out, as the agent leaves it out)\n",
                 i.c_str());
  }
  auto state = readNodeState(node->agent.stateDir);
  auto cni = readCniSettings(o.cniConf);
  if (!state || !cni) {
    std::fprintf(stderr, "ovlctl connectivity: %s\n",
                 (!state ? state.error() : cni.error()).message.c_str());
    return kExitInvalid;
  }
  const ConnectivityPlan plan =
      planConnectivity(PlanInputs{&node->plan, &node->cluster.services, state->gateway,
                                  agentPortOnEveryAddress(node->agent.healthAddress)});
  RunReport report;
  report.node = node->agent.nodeName;
  report.notes = plan.notes;
  SignalGuard sig;
  if (int code = probeAll(o, *state, *cni, plan, sig, report); code >= 0) {
    return code;
  }
  explainFailures(report, *node);
  if (int s = sig.received(); s != 0) {
    return interrupted(s, nullptr);
  }
  report.durationMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (o.format == "json") {
    std::printf("%s\n", toJson(report).dump(2).c_str());
  } else {
    std::printf("%s", renderMatrix(report).c_str());
  }
  return report.exitCode();
}

}  // namespace

void addConnectivityCommand(CLI::App& app, GlobalOptions& g) {
  auto o = std::make_shared<ConnectivityOptions>();
  auto* cmd = app.add_subcommand(
      "connectivity",
      "active test from a throwaway pod and the host: peers' pod gateways across the overlay, "
      "endpoints, cluster IPs, NodePorts; exit 0 all passed, 1 some failed, 2 usage error");
  cmd->add_option("--cni-conf", o->cniConf,
                  "the CNI network configuration naming ovl-cni's IPAM dataDir (the defaults "
                  "when it does not exist)")
      ->capture_default_str();
  cmd->add_option("--timeout-ms", o->timeoutMs, "how long each probe waits for an answer")
      ->check(CLI::Range(50, 60000))
      ->capture_default_str();
  // -o table|json (schema: docs/connectivity-json.md); the etcd flags with `datastore: etcd`.
  selectable(*cmd, g, Uses{{"table", "json"}, true}, [o, &g] {
    o->config = g.config;
    o->format = g.output;
    o->etcd = etcdOptionsOf(g);
    return runConnectivity(*o);
  });
}

}  // namespace ovl::cli
