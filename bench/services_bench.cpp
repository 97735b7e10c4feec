// Service NAT, ovl against its peers, side by side in one run (issue 3, "Benchmark"):
//  1. full sync of S ClusterIP services x E endpoints: ovl's NatTable::sync of planNat's plan,
//     against `nft -f` of the very ruleset ovl programmed (dumped once with `nft list table`)
//     `iptables-legacy-restore` of the kube-proxy iptables-mode layout and `nft -f` of the
//     kube-proxy nftables-mode layout (kube_proxy_nft.h) for the same services, the latter
//     verified by counting the chains and elements the kernel then holds;
//  2. one service's endpoints changed (one endpoint replaced, same count) with S services
//     present, ovl's incremental sync, against the same change with 100 services present (the
//     two tables side by side, their changes alternating), and against kube-proxy's nftables
//     transaction for the same change (`nft -f` against its loaded S-service table, in turn);
//  3. data plane: new TCP connections per second to the last service added, with 10 and with S
//     services installed, for ovl, the kube-proxy iptables and nftables layouts, the minimal
//     one-map DNAT ruleset (S services, first endpoint) and a direct connect to the endpoint
//     (no table: the limit), all set-ups side by side, measured in blocks that take turns
//     (`--blocks` per run, `--setups` to measure some only);
// The real agent end to end (cold start, file changes, peak RSS over a run) is ovl-bench-agent's.
// Compared sizes are measured in turns within a run, so that a burst of noise from the shared
// machine falls on both rather than on one. Each run uses fresh network namespaces; the figures
// are medians with min and max over all samples. `--figures 2,3` measures some only. Nothing here
// touches the host's own network: every address lives in a namespace made for the measurement and
// deleted after it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "bench/bench_util.h"
#include "bench/kube_proxy_nft.h"
#include "model/service.h"
#include "rules/nat_planner.h"
#include "rules/nat_state.h"
#include "rules/nat_table.h"

namespace {

using namespace ovl;
using bench::describe;
using bench::ScopedNetns;
using bench::sh;

// Best effort: a benchmark's scratch directory.
void removeTree(const std::string& dir) {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

constexpr uint16_t kPort = 80;
constexpr uint16_t kTargetPort = 8080;
const Ipv4Prefix kPodCidr = *Ipv4Prefix::parse("10.244.0.0/16");
const Ipv4Prefix kServiceCidr = *Ipv4Prefix::parse("10.96.0.0/12");

Ipv4 ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return Ipv4{(uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d};
}

// Service i's cluster IP: 10.96.0.10 + i (10.96.x.y, inside 10.96.0.0/12).
Ipv4 vipOf(int i) {
  return Ipv4{ip4(10, 96, 0, 10).value + static_cast<uint32_t>(i)};
}

// Synthetic endpoint k: 10.244.(1 + k/250).(2 + k%250), k taken modulo 253 * 250, so that the
// E endpoints of one service are distinct (E <= 250).
Ipv4 syntheticEndpoint(int k) {
  k %= 253 * 250;
  return ip4(10, 244, static_cast<uint8_t>(1 + k / 250), static_cast<uint8_t>(2 + k % 250));
}

// The data-plane "pod": endpoint j of every service in figure 3 is 10.244.255.(2 + j), all
// addresses of one pod namespace whose server listens on 0.0.0.0:8080.
Ipv4 podEndpoint(int j) {
  return ip4(10, 244, 255, static_cast<uint8_t>(2 + j));
}

svc::Service serviceOf(int i, const std::vector<Ipv4>& endpoints) {
  svc::Service s;
  s.ns = "bench";
  s.name = fmt::format("svc-{}", i);
  s.clusterIps = {vipOf(i)};
  s.ports = {svc::ServicePort{"http", svc::Protocol::kTcp, kPort, kTargetPort, std::nullopt}};
  for (const Ipv4& ip : endpoints) {
    svc::Endpoint ep;
    ep.ip = ip;
    ep.node = "node2";  // not this node: no hairpin entries
    s.endpoints.push_back(ep);
  }
  return s;
}

std::vector<Ipv4> syntheticEndpoints(int i, int e) {
  std::vector<Ipv4> v;
  for (int j = 0; j < e; ++j) {
    v.push_back(syntheticEndpoint(i * e + j));
  }
  return v;
}

std::vector<Ipv4> podEndpoints(int e) {
  std::vector<Ipv4> v;
  for (int j = 0; j < e; ++j) {
    v.push_back(podEndpoint(j));
  }
  return v;
}

std::vector<svc::Service> syntheticServices(int s, int e) {
  std::vector<svc::Service> v;
  v.reserve(static_cast<size_t>(s));
  for (int i = 0; i < s; ++i) {
    v.push_back(serviceOf(i, syntheticEndpoints(i, e)));
  }
  return v;
}

std::vector<svc::Service> podServices(int s, int e) {
  std::vector<svc::Service> v;
  v.reserve(static_cast<size_t>(s));
  const auto eps = podEndpoints(e);
  for (int i = 0; i < s; ++i) {
    v.push_back(serviceOf(i, eps));
  }
  return v;
}

const nat::PlanInputs kInputs{"node1", kPodCidr, svc::MasqueradeMode::kOffCluster, std::nullopt};

// ---- the kube-proxy iptables-mode layout ----------------------------------------------------

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// "KUBE-SVC-" / "KUBE-SEP-" + 16 hex digits of a hash of what the chain stands for, as
// kube-proxy names them (it uses base32 of a SHA-256; the shape and length are the same).
std::string chainName(const char* prefix, const std::string& what,
                      std::unordered_set<std::string>& used) {
  std::string name = fmt::format("{}{:016X}", prefix, fnv1a(what));
  if (!used.insert(name).second) {
    throw std::runtime_error("chain name collision: " + name);
  }
  return name;
}

// An iptables-restore file of the kube-proxy iptables-mode nat table for these services.
void writeKubeProxyIptables(const std::string& path, const std::vector<svc::Service>& services) {
  std::unordered_set<std::string> used;
  std::ostringstream chains, rules;
  chains << "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            ":POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-POSTROUTING - [0:0]\n"
            ":KUBE-MARK-MASQ - [0:0]\n";
  rules << "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
           "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
           "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j "
           "KUBE-POSTROUTING\n"
           "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
           "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
           "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n"
           "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring "
           "SNAT\" -j MASQUERADE\n";
  std::ostringstream svcRules, sepRules, services_;
  for (const auto& s : services) {
    const std::string portName = s.id() + ":" + s.ports[0].name;
    const std::string vip = s.clusterIps[0].toString();
    const std::string svcChain = chainName("KUBE-SVC-", portName + "/tcp", used);
    chains << ":" << svcChain << " - [0:0]\n";
    services_ << fmt::format(
        "-A KUBE-SERVICES -d {}/32 -p tcp -m comment --comment \"{} cluster IP\" -m tcp --dport "
        "{} -j {}\n",
        vip, portName, kPort, svcChain);
    svcRules << fmt::format(
        "-A {} ! -s {} -d {}/32 -p tcp -m comment --comment \"{} cluster IP\" -m tcp --dport {} "
        "-j KUBE-MARK-MASQ\n",
        svcChain, kPodCidr.toString(), vip, portName, kPort);
    const size_t n = s.endpoints.size();
    for (size_t i = 0; i < n; ++i) {
      const std::string ep = fmt::format("{}:{}", s.endpoints[i].ip.toString(), kTargetPort);
      const std::string sepChain = chainName("KUBE-SEP-", portName + "/tcp/" + ep, used);
      chains << ":" << sepChain << " - [0:0]\n";
      if (i + 1 < n) {
        svcRules << fmt::format(
            "-A {} -m comment --comment \"{} -> {}\" -m statistic --mode random --probability "
            "{:.10f} -j {}\n",
            svcChain, portName, ep, 1.0 / static_cast<double>(n - i), sepChain);
      } else {
        svcRules << fmt::format("-A {} -m comment --comment \"{} -> {}\" -j {}\n", svcChain,
                                portName, ep, sepChain);
      }
      sepRules << fmt::format(
          "-A {0} -s {1}/32 -m comment --comment \"{2}\" -j KUBE-MARK-MASQ\n"
          "-A {0} -p tcp -m comment --comment \"{2}\" -m tcp -j DNAT --to-destination {3}\n",
          sepChain, s.endpoints[i].ip.toString(), portName, ep);
    }
  }
  std::ofstream out(path);
  out << chains.str() << rules.str() << services_.str() << svcRules.str() << sepRules.str()
      << "COMMIT\n";
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

// ---- small helpers ---------------------------------------------------------------------------

size_t countLines(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    throw std::runtime_error("popen: " + cmd);
  }
  size_t n = 0;
  for (int c; (c = fgetc(p)) != EOF;) {
    n += c == '\n';
  }
  pclose(p);
  return n;
}

nat::NatTable openTable() {
  auto t = nat::NatTable::create();
  if (!t) {
    throw std::runtime_error("NatTable::create: " + t.error().message);
  }
  return std::move(*t);
}

// A whole plan (const NatPlan&) or a kept DesiredIndex.
template <typename Want>
double syncMs(nat::NatTable& table, Want& want) {
  double t0 = bench::nowMs();
  auto st = table.sync(want);
  double ms = bench::nowMs() - t0;
  if (!st.ok()) {
    throw std::runtime_error("NatTable::sync: " + st.error().message);
  }
  return ms;
}

// One changed service: re-planned into the state, then synced. Must be incremental and write.
double changeMs(nat::NatTable& table, nat::NatState& state, const svc::Service& s) {
  double t0 = bench::nowMs();
  state.upsert(s);
  auto st = table.sync(state.desired());
  double ms = bench::nowMs() - t0;
  if (!st.ok()) {
    throw std::runtime_error("NatTable::sync: " + st.error().message);
  }
  if (!table.lastSync().incremental || table.lastSync().operations == 0) {
    throw std::runtime_error("one service changed: the sync was not incremental or sent nothing");
  }
  return ms;
}

// Runs fn with this thread in the named namespace, then returns to the original one.
template <typename F>
void inNetns(const std::string& name, F&& fn) {
  int orig = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (orig < 0 || fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
    throw std::runtime_error("cannot enter namespace " + name);
  }
  ::close(fd);
  try {
    fn();
  } catch (...) {
    (void)::setns(orig, CLONE_NEWNET);
    ::close(orig);
    throw;
  }
  (void)::setns(orig, CLONE_NEWNET);
  ::close(orig);
}

// The kube-proxy nftables table as loaded: its chains, endpoint chains and service-ips
// elements counted in what the kernel holds (`nft list`), not in the file.
void verifyKubeProxyNft(const bench::KubeProxyNftCounts& want) {
  const size_t chains = countLines("nft list chains ip | grep -E '^\\s+chain '");
  const size_t endpoints = countLines("nft list chains ip | grep -E '^\\s+chain endpoint-'");
  const size_t elements =
      countLines("nft list map ip kube-proxy service-ips | grep -oE ': goto service-'");
  if (chains != want.chains || endpoints != want.endpointChains ||
      elements != want.serviceElements) {
    throw std::runtime_error(fmt::format(
        "kube-proxy nft -f: the kernel holds {} chains, {} endpoint chains, {} service-ips "
        "elements; expected {}, {}, {}",
        chains, endpoints, elements, want.chains, want.endpointChains, want.serviceElements));
  }
}

// After the changes: an endpoint chain DNATs to the endpoint the last change added.
void verifyKubeProxyChange(Ipv4 added) {
  const std::string ep = added.toString();
  const size_t n =
      countLines(fmt::format("nft list ruleset | grep -E 'dnat to {}:' | head -1", ep));
  if (n != 1) {
    throw std::runtime_error("kube-proxy change: no endpoint chain dnats to " + ep);
  }
}

// ---- figure 3: the data plane ----------------------------------------------------------------

// A TCP server on 0.0.0.0:8080 in the pod namespace: accepts and closes at once.
class PodServer {
 public:
  explicit PodServer(const std::string& podNs) {
    inNetns(podNs, [&] {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int yes = 1;
      ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(kTargetPort);
      if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
          ::listen(fd_, 4096) != 0) {
        throw std::runtime_error(std::string("pod server: ") + std::strerror(errno));
      }
    });
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          ::close(c);
        } else if (errno != EINTR && errno != ECONNABORTED) {
          break;
        }
      }
    });
  }
  ~PodServer() {
    stop_.store(true);
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  PodServer(const PodServer&) = delete;
  PodServer& operator=(const PodServer&) = delete;

 private:
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The client namespace `node` (this thread is in it) and a pod namespace behind a veth, with E
// addresses; cluster IPs are routed to the veth (the NAT rules DNAT them to the pod).
void dataPlaneNamespaces(const std::string& node, const std::string& pod, int e) {
  sh(
      fmt::format("ip -n {0} link add v0 type veth peer name v1 netns {1} && "
                  "ip -n {0} addr add 10.244.255.1/24 dev v0 && ip -n {0} link set v0 up && "
                  "ip -n {1} link set v1 up && ip -n {0} route add 10.96.0.0/12 dev v0",
                  node, pod));
  for (int j = 0; j < e; ++j) {
    sh(fmt::format("ip -n {} addr add {}/24 dev v1", pod, podEndpoint(j).toString()));
  }
  sh(
      fmt::format("ip netns exec {} sysctl -q -w net.ipv4.ip_local_port_range='1024 65535' "
                  "net.ipv4.tcp_tw_reuse=1",
                  node));
}

// n sequential connect() + close() (SO_LINGER 0: no TIME_WAIT) to vip:port; connections per
// second.
double connectRate(Ipv4 vip, uint16_t port, int n) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = vip.networkOrder();
  auto once = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      int err = errno;
      ::close(fd);
      throw std::runtime_error(
          fmt::format("connect {}:{}: {}", vip.toString(), port, std::strerror(err)));
    }
    ::close(fd);
  };
  for (int i = 0; i < 200; ++i) {  // warm-up
    once();
  }
  double t0 = bench::nowMs();
  for (int i = 0; i < n; ++i) {
    once();
  }
  return n / ((bench::nowMs() - t0) / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ovl service NAT benchmark: ovl vs nft -f vs iptables-legacy-restore"};
  int services = 10000;
  int endpoints = 10;
  int runs = 5;
  int connections = 3000;
  int blocks = 4;
  std::vector<std::string> setupNames = {"ovl10", "ovlS", "ipt10", "iptS",
                                         "kpn10", "kpnS", "min",   "direct"};
  std::vector<int> figures = {1, 2, 3};
  std::string peers = "all";
  app.add_option("--services", services, "ClusterIP services")->check(CLI::Range(100, 200000));
  app.add_option("--endpoints", endpoints, "endpoints per service")->check(CLI::Range(1, 250));
  app.add_option("--runs", runs, "runs per figure")->check(CLI::Range(1, 100));
  app.add_option("--blocks", blocks,
                 "data-plane samples per run and set-up (the set-ups take turns, block by block)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--setups", setupNames,
                 "figure 3's set-ups to measure (all by default; fewer to profile one with perf)")
      ->delimiter(',')
      ->check(CLI::IsMember(setupNames));
  app.add_option("--connections", connections, "timed connections per data-plane sample")
      ->check(CLI::Range(100, 50000));
  app.add_option("--figures", figures,
                 "which figures to measure (1 full sync, 2 one change, "
                 "3 data plane)")
      ->delimiter(',')
      ->check(CLI::Range(1, 3));
  app.add_option("--peers", peers,
                 "figure 1's peers: all (nft -f, iptables-legacy-restore) or none (ovl alone: the "
                 "peers take minutes at 100,000 services)")
      ->check(CLI::IsMember({"all", "none"}));
  CLI11_PARSE(app, argc, argv);
  const bool withPeers = peers == "all";
  if (services % 7919 == 0) {
    std::fprintf(stderr,
                 "--services %d: a multiple of 7919 would send every change to one "
                 "service; take another count\n",
                 services);
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "services_bench needs root (it creates network namespaces)\n");
    return 2;
  }
  const std::string tag = fmt::format("ovls{}", getpid());
  const std::string dir = "/tmp/" + tag;
  sh("mkdir -p " + dir);
  const std::string nftFile = dir + "/ovl.nft";
  const std::string iptFile = dir + "/kube-proxy.iptables";
  const std::string kpnFile = dir + "/kube-proxy.nft";

  try {
    // ---- figures 1 and 2 ----
    const auto full = syntheticServices(services, endpoints);
    const auto small = syntheticServices(100, endpoints);
    double t0 = bench::nowMs();
    const nat::NatPlan fullPlan = nat::planNat(full, kInputs);
    const double planFullMs = bench::nowMs() - t0;
    bench::KubeProxyNftCounts kpnCounts{};
    if (withPeers) {
      writeKubeProxyIptables(iptFile, full);
      kpnCounts = bench::writeKubeProxyNft(kpnFile, full, kServiceCidr, kPodCidr);
    }

    // One endpoint of one service replaced, K times per run: change c touches service
    // (c * 7919) % count and replaces its endpoint c % E by 10.244.254.(2 + c). Each change is
    // the service as a datastore hands it over (a watch event): NatState re-plans that service
    // and NatTable compares only its keys. Timed: planning the service + the sync.
    constexpr int kChanges = 40;
    auto changedServices = [&](const std::vector<svc::Service>& base) {
      std::vector<svc::Service> out;
      auto cur = base;
      for (int c = 0; c < kChanges; ++c) {
        auto& s = cur[static_cast<size_t>(c * 7919) % cur.size()];
        s.endpoints[static_cast<size_t>(c % endpoints)].ip =
            ip4(10, 244, 254, static_cast<uint8_t>(2 + c));
        out.push_back(s);
      }
      return out;
    };
    const auto fullChanges = changedServices(full);
    // The same changes as kube-proxy's nftables mode sends them, one `nft -f` file each (the
    // service before the change is the one the previous change left).
    std::vector<std::string> kpnChangeFiles;
    {
      auto cur = full;
      for (int c = 0; c < kChanges; ++c) {
        auto& s = cur[static_cast<size_t>(c * 7919) % cur.size()];
        const std::string file = fmt::format("{}/kube-proxy-change{}.nft", dir, c);
        std::ofstream(file) << bench::kubeProxyNftChange(s, fullChanges[static_cast<size_t>(c)],
                                                         kPodCidr);
        s = fullChanges[static_cast<size_t>(c)];
        kpnChangeFiles.push_back(file);
      }
    }
    const auto smallChanges = changedServices(small);
    // The whole-file path: a reload of all services where one changed (setServices compares
    // every service, re-plans one). Reported, not a target.
    std::vector<double> reloadFull;
    std::string nftFixups;
    std::vector<double> oneDiff, oneKernel, smallDiff, smallKernel;
    std::vector<double> ovlFull, nftFull, iptFull, oneFull, oneSmall, ovlKernel;
    std::vector<double> kpnFull, kpnOne;
    size_t fullElements = 0;
    size_t oneOps = 0;
    const auto want = [&](int figure) {
      return std::find(figures.begin(), figures.end(), figure) != figures.end();
    };
    for (int run = 0; run < runs && want(1); ++run) {
      {
        ScopedNetns ns(fmt::format("{}-o{}", tag, run), true);
        auto table = openTable();
        ovlFull.push_back(syncMs(table, fullPlan));
        ovlKernel.push_back(table.lastSync().kernelMs);
        fullElements = table.lastSync().elementsAdded;
        if (run == 0 && withPeers) {
          sh("nft list table ip ovl > " + nftFile);
          nftFixups = bench::makeNftReloadable(nftFile);
        }
      }
      if (!withPeers) {
        continue;
      }
      {
        ScopedNetns ns(fmt::format("{}-n{}", tag, run), true);
        nftFull.push_back(bench::timeShMs("nft -f " + nftFile));
        if (run == 0) {
          size_t lines = countLines("nft list map ip ovl endpoints");
          if (lines < static_cast<size_t>(services)) {
            throw std::runtime_error("nft -f: endpoints map not loaded");
          }
        }
      }
      {
        ScopedNetns ns(fmt::format("{}-k{}", tag, run), true);
        kpnFull.push_back(bench::timeShMs("nft -f " + kpnFile));
        if (run == 0) {
          verifyKubeProxyNft(kpnCounts);
        }
      }
      {
        ScopedNetns ns(fmt::format("{}-i{}", tag, run), true);
        iptFull.push_back(bench::timeShMs("iptables-legacy-restore " + iptFile));
        if (run == 0) {
          size_t seps = countLines("iptables-legacy-save -t nat | grep -- '-j DNAT'");
          if (seps != static_cast<size_t>(services) * static_cast<size_t>(endpoints)) {
            throw std::runtime_error(
                fmt::format("iptables-legacy-restore: {} DNAT rules, expected {}", seps,
                            static_cast<size_t>(services) * static_cast<size_t>(endpoints)));
          }
        }
      }
    }
    // Figure 2: the S-service and the 100-service tables live side by side (two namespaces),
    // and their changes alternate, so that both sizes meet the same machine noise.
    for (int run = 0; run < runs && want(2); ++run) {
      ScopedNetns bigNs(fmt::format("{}-c{}", tag, run), false);
      ScopedNetns smallNs(fmt::format("{}-s{}", tag, run), false);
      ScopedNetns kpnNs(fmt::format("{}-q{}", tag, run), false);
      if (withPeers) {
        sh(fmt::format("ip netns exec {} nft -f {}", kpnNs.name(), kpnFile));
      }
      std::optional<nat::NatTable> big, little;
      inNetns(bigNs.name(), [&] { big = openTable(); });
      inNetns(smallNs.name(), [&] { little = openTable(); });
      nat::NatState bigState(kInputs);
      nat::NatState smallState(kInputs);
      bigState.setServices(full);
      smallState.setServices(small);
      (void)syncMs(*big, bigState.desired());
      (void)syncMs(*little, smallState.desired());
      for (size_t c = 0; c < fullChanges.size(); ++c) {
        // Which size goes first alternates too.
        if (c % 2 == 0) {
          oneSmall.push_back(changeMs(*little, smallState, smallChanges[c]));
        }
        oneFull.push_back(changeMs(*big, bigState, fullChanges[c]));
        oneDiff.push_back(big->lastSync().diffMs);
        oneKernel.push_back(big->lastSync().kernelMs);
        oneOps = big->lastSync().operations;
        if (c % 2 == 1) {
          oneSmall.push_back(changeMs(*little, smallState, smallChanges[c]));
        }
        smallDiff.push_back(little->lastSync().diffMs);
        smallKernel.push_back(little->lastSync().kernelMs);
        // kube-proxy's transaction for the same change, in turn with ovl's (its namespace
        // entered the same way: `ip netns exec` is not in the timer). Every fourth change
        // only, the last included: with 10,000 services each takes seconds. The changes touch
        // distinct services (7919 is prime and --services is no multiple of it), so each file
        // applies to the loaded table whether or not the others were sent.
        if (withPeers && c % 4 == 3) {
          inNetns(kpnNs.name(),
                  [&] { kpnOne.push_back(bench::timeShMs("nft -f " + kpnChangeFiles[c])); });
        }
      }
      if (run == 0 && withPeers) {
        inNetns(kpnNs.name(), [&] {
          verifyKubeProxyChange(ip4(10, 244, 254, static_cast<uint8_t>(2 + kChanges - 1)));
        });
      }
      // The same changes, as whole reloads of the service list.
      auto cur = full;
      for (const auto& s : fullChanges) {
        for (auto& x : cur) {
          if (x.id() == s.id()) {
            x = s;
          }
        }
        const auto copy = cur;
        double r0 = bench::nowMs();
        bigState.setServices(copy);
        (void)syncMs(*big, bigState.desired());
        reloadFull.push_back(bench::nowMs() - r0);
      }
    }

    auto med = [](const std::vector<double>& v) { return bench::Stats::of(v).median; };
    std::printf("service NAT, %d ClusterIP services x %d endpoints, %d runs\n", services, endpoints,
                runs);
    if (want(1)) {
      std::printf("1. full sync (%zu nft elements written by ovl)\n", fullElements);
      std::printf("%s\n", describe("ovl NatTable::sync (plan precomputed)", ovlFull).c_str());
      std::printf("%s\n",
                  describe("  of which kernel (batch sent until last ack)", ovlKernel).c_str());
      std::printf("%s\n", describe("  planNat alone (once)", {planFullMs}).c_str());
      std::printf("ovl full sync median:                     %.1f ms (target <= 500 ms)\n",
                  med(ovlFull));
    }
    if (want(1) && !withPeers) {
      std::printf("  (--peers none: nft -f and iptables-legacy-restore not measured)\n");
    }
    if (want(1) && withPeers) {
      std::printf("%s\n", describe("nft -f of the ruleset ovl programmed", nftFull).c_str());
      std::printf("  (the dump does not reload verbatim; rewritten for nft -f: %s)\n",
                  nftFixups.c_str());
      std::printf("%s\n",
                  describe("iptables-legacy-restore, kube-proxy iptables layout", iptFull).c_str());
      std::printf("%s\n", describe(fmt::format("nft -f, kube-proxy nftables layout ({} chains)",
                                               kpnCounts.chains),
                                   kpnFull)
                              .c_str());
      std::printf("ratio ovl / nft -f:                       %.3f (target <= 0.333)\n",
                  med(ovlFull) / med(nftFull));
      std::printf("ratio ovl / iptables-legacy-restore:      %.3f (target <= 0.125)\n",
                  med(ovlFull) / med(iptFull));
      std::printf("ratio ovl / kube-proxy nftables nft -f:   %.3f (target <= 0.1)\n",
                  med(ovlFull) / med(kpnFull));
    }
    if (want(2)) {
      std::printf(
          "2. one service's endpoint replaced (%d changes per run, %zu operations each; "
          "the two sizes alternate)\n",
          kChanges, oneOps);
      std::printf(
          "%s\n",
          describe(fmt::format("ovl incremental sync, {} services", services), oneFull).c_str());
      std::printf("%s\n", describe("  of which diff (touched keys vs view)", oneDiff).c_str());
      std::printf("%s\n",
                  describe("  of which kernel (batch sent until last ack)", oneKernel).c_str());
      std::printf("%s\n", describe("ovl incremental sync, 100 services", oneSmall).c_str());
      std::printf("%s\n", describe("  of which diff (touched keys vs view)", smallDiff).c_str());
      std::printf("%s\n",
                  describe("  of which kernel (batch sent until last ack)", smallKernel).c_str());
      if (!kpnOne.empty()) {
        std::printf("%s\n",
                    describe(fmt::format("kube-proxy nftables, nft -f of its transaction, {} "
                                         "services (service chain refilled, endpoint chain "
                                         "added and deleted; process start included, as "
                                         "kube-proxy pays it)",
                                         services),
                             kpnOne)
                        .c_str());
      }
      std::printf("%s\n", describe(fmt::format("  (whole-list reload with one change, {} services: "
                                               "compare all, re-plan one, sync)",
                                               services),
                                   reloadFull)
                              .c_str());
      std::printf("one change with %d services, median:     %.3f ms (target <= 2 ms)\n", services,
                  med(oneFull));
      std::printf("ratio %d services / 100 services:       %.2f (target <= 1.5)\n", services,
                  med(oneFull) / med(oneSmall));
      if (!kpnOne.empty()) {
        std::printf("ratio ovl / kube-proxy nftables, one change: %.6f (kube-proxy takes %.0fx)\n",
                    med(oneFull) / med(kpnOne), med(kpnOne) / med(oneFull));
      }
    }
    std::fflush(stdout);

    std::fflush(stdout);

    // ---- figure 3: data plane ----
    if (!want(3)) {
      removeTree(dir);
      return 0;
    }
    // Every service has E endpoints, all addresses of one pod namespace (10.244.255.2..),
    // whose server answers on 0.0.0.0:8080. Measured: the last service added.
    const auto dp10 = podServices(10, endpoints);
    const auto dpFull = podServices(services, endpoints);
    const nat::NatPlan dpPlan10 = nat::planNat(dp10, kInputs);
    const nat::NatPlan dpPlanFull = nat::planNat(dpFull, kInputs);
    const std::string ipt10 = dir + "/dp10.iptables";
    const std::string iptS = dir + "/dpS.iptables";
    writeKubeProxyIptables(ipt10, dp10);
    writeKubeProxyIptables(iptS, dpFull);
    const std::string kpn10 = dir + "/dp10.nft";
    const std::string kpnS = dir + "/dpS.nft";
    const std::string minS = dir + "/dpS-min.nft";
    (void)bench::writeKubeProxyNft(kpn10, dp10, kServiceCidr, kPodCidr);
    (void)bench::writeKubeProxyNft(kpnS, dpFull, kServiceCidr, kPodCidr);
    bench::writeMinimalDnat(minS, dpFull);
    std::vector<double> ovl10, ovlS, ipt10r, iptSr, kpn10r, kpnSr, minSr, directR;
    // The four set-ups live side by side (a node and a pod namespace each) and are measured in
    // blocks that take turns, the order rotating, so that the machine's noise falls on all of
    // them alike; each block is one sample.
    struct Setup {
      std::unique_ptr<ScopedNetns> pod, node;
      std::unique_ptr<PodServer> server;
      Ipv4 vip;
      uint16_t port = kPort;
      std::vector<double>* samples;
    };
    for (int run = 0; run < runs; ++run) {
      std::vector<Setup> setups;
      auto add = [&](const char* id, auto&& load, Ipv4 vip, std::vector<double>& samples,
                     uint16_t port = kPort) {
        if (std::find(setupNames.begin(), setupNames.end(), id) == setupNames.end()) {
          return;
        }
        Setup st;
        const std::string name = fmt::format("{}-d{}{}", tag, run, id);
        st.pod = std::make_unique<ScopedNetns>(name + "p", false);
        st.node = std::make_unique<ScopedNetns>(name, false);
        dataPlaneNamespaces(st.node->name(), st.pod->name(), endpoints);
        inNetns(st.node->name(), load);
        st.server = std::make_unique<PodServer>(st.pod->name());
        st.vip = vip;
        st.port = port;
        st.samples = &samples;
        setups.push_back(std::move(st));
      };
      add(
          "ovl10",
          [&] {
            auto t = openTable();
            (void)syncMs(t, dpPlan10);
          },
          vipOf(9), ovl10);
      add(
          "ovlS",
          [&] {
            auto t = openTable();
            (void)syncMs(t, dpPlanFull);
          },
          vipOf(services - 1), ovlS);
      add(
          "ipt10", [&] { sh("iptables-legacy-restore " + ipt10); }, vipOf(9), ipt10r);
      add(
          "iptS", [&] { sh("iptables-legacy-restore " + iptS); }, vipOf(services - 1), iptSr);
      add(
          "kpn10", [&] { sh("nft -f " + kpn10); }, vipOf(9), kpn10r);
      add(
          "kpnS", [&] { sh("nft -f " + kpnS); }, vipOf(services - 1), kpnSr);
      add(
          "min", [&] { sh("nft -f " + minS); }, vipOf(services - 1), minSr);
      // The limit: the endpoint's own address, no table at all, the same two namespaces.
      add(
          "direct", [] {}, podEndpoint(0), directR, kTargetPort);
      for (int block = 0; block < blocks; ++block) {
        for (size_t k = 0; k < setups.size(); ++k) {
          Setup& st = setups[(k + static_cast<size_t>(block + run)) % setups.size()];
          inNetns(st.node->name(),
                  [&] { st.samples->push_back(connectRate(st.vip, st.port, connections)); });
        }
      }
    }
    auto rate = [](const std::string& label, const std::vector<double>& v) {
      if (v.empty()) {
        return fmt::format("{:<58} not measured (--setups)", label);
      }
      bench::Stats s = bench::Stats::of(v);
      return fmt::format("{:<58} median {:9.0f} c/s (min {:9.0f}, max {:9.0f}, n={})", label,
                         s.median, s.min, s.max, v.size());
    };
    std::printf(
        "3. data plane: %d sequential connect()+close() (SO_LINGER 0) to the last service's "
        "cluster IP per sample, %d samples per run taking turns with the other set-ups; every "
        "service has %d endpoints, all in one pod namespace\n",
        connections, blocks, endpoints);
    std::printf("%s\n", rate("ovl, 10 services", ovl10).c_str());
    std::printf("%s\n", rate(fmt::format("ovl, {} services", services), ovlS).c_str());
    std::printf("%s\n", rate("kube-proxy iptables layout (legacy), 10 services", ipt10r).c_str());
    std::printf(
        "%s\n",
        rate(fmt::format("kube-proxy iptables layout (legacy), {} services", services), iptSr)
            .c_str());
    std::printf("%s\n", rate("kube-proxy nftables layout, 10 services", kpn10r).c_str());
    std::printf(
        "%s\n",
        rate(fmt::format("kube-proxy nftables layout, {} services", services), kpnSr).c_str());
    std::printf("%s\n", rate(fmt::format("minimal ruleset (one DNAT map, first endpoint), {} "
                                         "services",
                                         services),
                             minSr)
                            .c_str());
    std::printf("%s\n",
                rate("direct connect to the endpoint (no table: the limit)", directR).c_str());
    // Ratios need both of their set-ups; with --setups some are not measured.
    auto both = [](const std::vector<double>& a, const std::vector<double>& b) {
      return !a.empty() && !b.empty();
    };
    if (both(ovlS, ovl10)) {
      std::printf("ratio ovl %d / 10 services:              %.3f (target >= 0.9)\n", services,
                  med(ovlS) / med(ovl10));
    }
    if (both(iptSr, ipt10r)) {
      std::printf("ratio iptables layout %d / 10 services:  %.3f\n", services,
                  med(iptSr) / med(ipt10r));
    }
    if (both(ovl10, kpn10r)) {
      std::printf("ratio ovl / kube-proxy nftables, 10 services:   %.3f (target >= 1.0)\n",
                  med(ovl10) / med(kpn10r));
    }
    if (both(ovlS, kpnSr)) {
      std::printf("ratio ovl / kube-proxy nftables, %d services: %.3f (target >= 1.0)\n", services,
                  med(ovlS) / med(kpnSr));
    }
    if (both(ovlS, minSr)) {
      std::printf("ratio ovl / minimal DNAT map, %d services:    %.3f (target >= 0.95)\n", services,
                  med(ovlS) / med(minSr));
    }
    if (both(ovlS, directR)) {
      std::printf("ratio ovl / direct connect (the limit), %d services: %.3f\n", services,
                  med(ovlS) / med(directR));
    }
    if (both(minSr, directR)) {
      std::printf("ratio minimal DNAT map / direct connect:    %.3f (NAT and conntrack alone)\n",
                  med(minSr) / med(directR));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "services_bench: %s\n", e.what());
    removeTree(dir);
    return 1;
  }
  removeTree(dir);
  return 0;
}
