#include "diagnostics/checker.h"

#include <sys/utsname.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "diagnostics/ethtool.h"
#include "diagnostics/iptables_legacy.h"
#include "diagnostics/nft_inspect.h"
#include "diagnostics/paths.h"
#include "rules/nat_planner.h"
#include "rules/nft_socket.h"

namespace ovl::diag {

namespace {

// An address outside every cluster network, to find where an off-cluster client would come
// from (TEST-NET-2, RFC 5737: never a real host).
const Ipv4 kOffClusterProbe{(198U << 24) | (51U << 16) | (100U << 8) | 1U};
// Broken paths shown per interface (one per peer would be thousands of lines).
constexpr size_t kPathsShown = 4;

std::string errnoName(int code) {
  switch (code) {
    case EXDEV:
      return "EXDEV";
    case EHOSTUNREACH:
      return "EHOSTUNREACH";
    case ENETUNREACH:
      return "ENETUNREACH";
    case EINVAL:
      return "EINVAL";
    case ENODEV:
      return "ENODEV";
  }
  return fmt::format("errno {}", code);
}

std::string kernelAnswer(const Error& e) {
  return fmt::format("{} ({})", errnoName(e.code), std::strerror(e.code));
}

std::string kernelRelease(const std::string& configured) {
  if (!configured.empty()) {
    return configured;
  }
  utsname u{};
  return ::uname(&u) == 0 ? std::string(u.release) : std::string();
}

}  // namespace

struct Checker::Ctx {
  const NodeModel& m;
  std::map<std::string, nl::Link> links;  // by name
  std::string underlay;
  const nl::Link* link(const std::string& name) const {
    auto it = links.find(name);
    return it == links.end() ? nullptr : &it->second;
  }
};

std::string underlayInterface(nl::Netlink& netlink, const AgentConfig& agent,
                              const OverlayPlan& plan) {
  if (!agent.underlayInterface.empty()) {
    return agent.underlayInterface;
  }
  auto addrs = netlink.addresses();
  if (!addrs) {
    return "";
  }
  for (const auto& a : *addrs) {
    if (a.local.addr == plan.underlayIp) {
      auto l = netlink.linkByIndex(a.index);
      if (l && *l) {
        return (*l)->name;
      }
    }
  }
  return "";
}

// ---- rp_filter ------------------------------------------------------------------------------

namespace {

std::string linkNameOf(const auto& c, int index) {
  for (const auto& [name, l] : c.links) {
    if (l.index == index) {
      return name;
    }
  }
  return fmt::format("#{}", index);
}

}  // namespace

void Checker::checkRpFilter(Ctx& c, Report& r) {
  r.checksRun.push_back("rp_filter");
  PathInputs in;
  in.plan = c.m.plan;
  in.network = c.m.network;
  in.services = c.m.services;
  in.underlayInterface = c.underlay;
  in.maxPeers = cfg_.maxPeers;
  if (const nl::Link* ul = c.link(c.underlay)) {
    auto out = nl_.routeGet(kOffClusterProbe);
    if (out && out->oif == ul->index) {
      in.outsideClient = out->gateway ? *out->gateway : kOffClusterProbe;
    }
  }
  struct Drop {
    Probe probe;
    Error error;
  };
  // The kernel refuses a source that fails the reverse-path check with EXDEV (older kernels)
  // or, like any martian source, EINVAL (recent ones, the 6.x tested here). A refusal is the
  // reverse-path check's when rp_filter
  // is on for the interface and the kernel's route back to the source does not fit it: strict
  // (1) wants the route back through the same interface, loose (2) any route back.
  std::map<std::string, std::optional<RpFilter>> rpCache;
  auto isReversePathDrop = [&](const Probe& p, const nl::Link& l, const Error& e) {
    if (e.code != EXDEV && e.code != EINVAL) {
      return false;
    }
    auto [it, fresh] = rpCache.try_emplace(p.iif);
    if (fresh) {
      if (auto rp = fs_.rpFilter(p.iif)) {
        it->second = *rp;
      }
    }
    if (!it->second || it->second->effective() == 0) {
      return false;
    }
    auto back = nl_.routeGet(p.src);
    return it->second->effective() == 1 ? (!back || back->oif != l.index) : !back;
  };
  std::map<std::string, std::vector<Drop>> drops;     // rp_filter (EXDEV), by interface
  std::map<std::string, std::vector<Drop>> unrouted;  // any other refusal
  std::set<std::string> missing;
  for (const Probe& p : planProbes(in)) {
    const nl::Link* l = c.link(p.iif);
    if (l == nullptr) {
      missing.insert(p.iif);
      continue;
    }
    auto ans = nl_.routeGet(p.dst, p.src, l->index);
    if (ans) {
      continue;
    }
    (isReversePathDrop(p, *l, ans.error()) ? drops : unrouted)[p.iif].push_back(
        Drop{p, ans.error()});
  }
  for (const auto& name : missing) {
    r.notChecked.push_back(
        fmt::format("rp_filter: interface {} does not exist; its paths were not checked", name));
  }
  auto netstat = fs_.read("net/netstat");
  std::optional<long long> counter;
  if (netstat) {
    counter = netstatCounter(*netstat, "TcpExt", "IPReversePathFilter");
  }
  const std::string counterText =
      counter ? fmt::format(
                    "{} packets dropped so far in this network namespace (TcpExt "
                    "IPReversePathFilter, /proc/net/netstat)",
                    *counter)
              : std::string("unavailable");
  auto martians = [&](const std::string& iface) -> std::optional<int> {
    auto all = fs_.readInt(confPath("all", "log_martians"));
    auto own = fs_.readInt(confPath(iface, "log_martians"));
    if (!all || !own) {
      return std::nullopt;
    }
    return static_cast<int>(std::max(*all, *own));
  };
  for (const auto& [iface, list] : drops) {
    auto rp = fs_.rpFilter(iface);
    Finding f;
    f.check = "rp_filter";
    f.severity = Severity::kError;
    f.subject = iface;
    const bool strict = rp && rp->effective() == 1;
    f.title = strict ? fmt::format(
                           "strict reverse-path filtering drops overlay traffic arriving "
                           "on {}",
                           iface)
                     : fmt::format(
                           "reverse-path filtering drops overlay traffic arriving on {}: "
                           "no route back to the source",
                           iface);
    f.explanation = fmt::format(
        "{} path(s) deliver packets to {} from a source whose route back leaves through another "
        "interface. The kernel's reverse-path check drops them as spoofed, so the connection "
        "hangs, with nothing in the logs unless log_martians is on. (Recent kernels answer such "
        "a route query with EINVAL, older ones with EXDEV.)",
        list.size(), iface);
    if (strict) {
      f.explanation += fmt::format(
          "\nLoose mode (2) on {} accepts a source that is reachable through any interface; "
          "`network.masquerade: off-cluster` would remove the asymmetry instead.",
          iface);
    }
    f.evidence.push_back(
        {"rp_filter", rp ? rp->describe(iface) : "unreadable: " + rp.error().message});
    // What re-applies a value at boot or when the interface is re-created.
    for (const auto& d : findSysctlDirectives(cfg_.sysctlSources, iface, "rp_filter")) {
      f.evidence.push_back({"sysctl.d", d.toString()});
    }
    for (size_t k = 0; k < list.size(); ++k) {
      const Drop& d = list[k];
      if (k == kPathsShown) {
        f.evidence.push_back({"more paths", fmt::format("{} more of the same kind, through "
                                                        "other peers",
                                                        list.size() - kPathsShown)});
        break;
      }
      f.evidence.push_back({"path", fmt::format("{}; {}", d.probe.path, d.probe.leg)});
      f.evidence.push_back(
          {"kernel answer", fmt::format("{} -> {}", d.probe.command(), kernelAnswer(d.error))});
      auto back = nl_.routeGet(d.probe.src);
      f.evidence.push_back(
          {"route back",
           back ? fmt::format("{} dev {}", d.probe.src.toString(), linkNameOf(c, back->oif))
                : fmt::format("{}: none ({})", d.probe.src.toString(), back.error().message)});
    }
    f.evidence.push_back({"IPReversePathFilter", counterText});
    if (auto lm = martians(iface)) {
      f.evidence.push_back({"log_martians", std::to_string(*lm)});
    }
    if (strict) {
      f.fixCommand = fmt::format("sysctl -w {}=2", confKey(iface, "rp_filter"));
      f.fixable = true;
      f.fix = Fix{Fix::Kind::kRpFilterLoose, iface};
    } else {
      f.fixCommand = "add a route back to the source through " + iface;
    }
    r.findings.push_back(std::move(f));
  }
  // A forwarded leg that ip_forward=0 refuses is the ip_forward check's finding.
  auto forwardingOff = fs_.readInt("sys/net/ipv4/ip_forward");
  for (const auto& [iface, list] : unrouted) {
    if (forwardingOff && *forwardingOff == 0) {
      break;
    }
    Finding f;
    f.check = "route";
    f.severity = Severity::kError;
    f.subject = iface;
    f.title = fmt::format("the kernel would not route overlay traffic arriving on {}", iface);
    f.explanation = "The input route lookup for these packets fails, so they are dropped.";
    for (size_t k = 0; k < list.size(); ++k) {
      const Drop& d = list[k];
      if (k == kPathsShown) {
        f.evidence.push_back(
            {"more paths", fmt::format("{} more of the same kind", list.size() - kPathsShown)});
        break;
      }
      f.evidence.push_back({"path", fmt::format("{}; {}", d.probe.path, d.probe.leg)});
      f.evidence.push_back(
          {"kernel answer", fmt::format("{} -> {}", d.probe.command(), kernelAnswer(d.error))});
    }
    r.findings.push_back(std::move(f));
  }
  // log_martians: drops that happen without a trace.
  std::vector<std::string> silent;
  for (const auto& [iface, list] : drops) {
    if (auto lm = martians(iface); lm && *lm == 0) {
      silent.push_back(iface);
    }
  }
  if (!silent.empty()) {
    r.checksRun.push_back("log_martians");
    Finding f;
    f.check = "log_martians";
    f.severity = Severity::kInfo;
    f.subject = fmt::format("{}", fmt::join(silent, ", "));
    f.title = "log_martians is off while reverse-path drops happen";
    f.explanation =
        "The kernel logs packets it drops as martians only with log_martians on; without it the "
        "drops above leave no trace but the IPReversePathFilter counter.";
    f.evidence.push_back({"IPReversePathFilter", counterText});
    std::vector<std::string> cmds;
    for (const auto& i : silent) {
      cmds.push_back(fmt::format("sysctl -w {}=1", confKey(i, "log_martians")));
    }
    f.fixCommand = fmt::format("{}", fmt::join(cmds, "; "));
    r.findings.push_back(std::move(f));
  }
}

// ---- forwarding ---------------------------------------------------------------------------

void Checker::checkForwarding(Ctx& c, Report& r) {
  r.checksRun.push_back("ip_forward");
  auto fwd = fs_.readInt("sys/net/ipv4/ip_forward");
  if (!fwd) {
    r.notChecked.push_back("ip_forward: " + fwd.error().message);
    return;
  }
  if (*fwd == 0) {
    Finding f;
    f.check = "ip_forward";
    f.severity = Severity::kError;
    f.subject = "net.ipv4.ip_forward";
    f.title = "IPv4 forwarding is off";
    f.explanation =
        "Pod traffic is forwarded between the pod bridge and the VTEP (and NodePort traffic "
        "between the underlay and the VTEP); with forwarding off the kernel drops all of it.";
    f.evidence.push_back({"net.ipv4.ip_forward", "0"});
    f.fixCommand = "sysctl -w net.ipv4.ip_forward=1";
    r.findings.push_back(std::move(f));
    return;
  }
  for (const auto& name : {c.m.plan->vtepName, c.m.plan->bridgeName}) {
    if (c.link(name) == nullptr) {
      continue;
    }
    auto v = fs_.readInt(confPath(name, "forwarding"));
    if (v && *v == 0) {
      Finding f;
      f.check = "ip_forward";
      f.severity = Severity::kError;
      f.subject = name;
      f.title = fmt::format("forwarding is off on {}", name);
      f.explanation = "Packets arriving on this interface are not forwarded to pods or peers.";
      f.fixCommand = fmt::format("sysctl -w {}=1", confKey(name, "forwarding"));
      r.findings.push_back(std::move(f));
    }
  }
}

// ---- peers: the VTEP and its route, neighbour and FDB entries --------------------------------

namespace {

std::string peerOf(const OverlayPlan& plan, const nl::Netlink::Op& op) {
  using K = nl::Netlink::Op::Kind;
  for (const auto& p : plan.peers) {
    const bool match =
        ((op.kind == K::kReplaceNeighbour || op.kind == K::kDeleteNeighbour) &&
         op.neighbour.ip == p.vtepIp) ||
        ((op.kind == K::kReplaceFdb || op.kind == K::kDeleteFdb) && op.fdbEntry.mac == p.vtepMac) ||
        ((op.kind == K::kReplaceRoute || op.kind == K::kDeleteRoute) &&
         op.route.dst == p.podSubnet);
    if (match) {
      return "peer " + p.name;
    }
  }
  return "no peer (stale entry)";
}

std::string opCommand(const nl::Netlink::Op& op, const std::string& dev) {
  using K = nl::Netlink::Op::Kind;
  switch (op.kind) {
    case K::kReplaceNeighbour:
      return fmt::format("ip neigh replace {} lladdr {} dev {} nud permanent",
                         op.neighbour.ip.toString(), op.neighbour.mac.toString(), dev);
    case K::kDeleteNeighbour:
      return fmt::format("ip neigh del {} dev {}", op.neighbour.ip.toString(), dev);
    case K::kReplaceFdb:
      return fmt::format("bridge fdb replace {} dev {} dst {} self permanent",
                         op.fdbEntry.mac.toString(), dev, op.fdbEntry.dst.toString());
    case K::kDeleteFdb:
      return fmt::format("bridge fdb del {} dev {} dst {} self", op.fdbEntry.mac.toString(), dev,
                         op.fdbEntry.dst.toString());
    case K::kReplaceRoute:
      return fmt::format("ip route replace {} via {} dev {} onlink", op.route.dst.toString(),
                         op.route.gateway.toString(), dev);
    case K::kDeleteRoute:
      return fmt::format("ip route del {} dev {}", op.route.dst.toString(), dev);
  }
  return "";
}

}  // namespace

void Checker::checkPeers(Ctx& c, Report& r) {
  r.checksRun.push_back("peer_entries");
  const OverlayPlan& plan = *c.m.plan;
  const nl::Link* vtep = c.link(plan.vtepName);
  if (vtep == nullptr || vtep->kind != "vxlan") {
    Finding f;
    f.check = "peer_entries";
    f.severity = Severity::kError;
    f.subject = plan.vtepName;
    f.title = vtep == nullptr ? "the VTEP does not exist"
                              : fmt::format("{} is a {} device, not VXLAN", plan.vtepName,
                                            vtep->kind.empty() ? "plain" : vtep->kind);
    f.explanation =
        "Without ovl's VXLAN device no pod traffic reaches other nodes. The agent "
        "creates it; if it is missing the agent is not running.";
    f.fixCommand = "systemctl restart ovl-agent";
    r.findings.push_back(std::move(f));
    return;
  }
  PeerState actual;
  auto neigh = nl_.neighbours(vtep->index);
  auto fdb = nl_.fdb(vtep->index);
  auto routes = nl_.routes(vtep->index);
  if (!neigh || !fdb || !routes) {
    r.notChecked.push_back(fmt::format("peer_entries: {}", (!neigh ? neigh.error()
                                                            : !fdb ? fdb.error()
                                                                   : routes.error())
                                                               .message));
    return;
  }
  actual.neighbours = *neigh;
  actual.fdb = *fdb;
  actual.routes = *routes;
  const auto ops = diffPeerState(desiredPeerState(plan, vtep->index), actual);
  using K = nl::Netlink::Op::Kind;
  for (const auto& op : ops) {
    const bool extra =
        op.kind == K::kDeleteNeighbour || op.kind == K::kDeleteFdb || op.kind == K::kDeleteRoute;
    const char* what = (op.kind == K::kReplaceNeighbour || op.kind == K::kDeleteNeighbour)
                           ? "neighbour"
                       : (op.kind == K::kReplaceFdb || op.kind == K::kDeleteFdb) ? "FDB"
                                                                                 : "route";
    bool present = false;  // an entry with the same key exists: it is wrong, not missing
    if (op.kind == K::kReplaceNeighbour) {
      present = std::any_of(actual.neighbours.begin(), actual.neighbours.end(),
                            [&](const auto& n) { return n.ip == op.neighbour.ip; });
    } else if (op.kind == K::kReplaceFdb) {
      present = std::any_of(actual.fdb.begin(), actual.fdb.end(),
                            [&](const auto& e) { return e.mac == op.fdbEntry.mac; });
    } else if (op.kind == K::kReplaceRoute) {
      present = std::any_of(actual.routes.begin(), actual.routes.end(),
                            [&](const auto& rt) { return rt.dst == op.route.dst; });
    }
    Finding f;
    f.check = "peer_entries";
    f.severity = extra ? Severity::kWarning : Severity::kError;
    f.subject = peerOf(plan, op);
    f.title = extra ? fmt::format("stray {} entry on {}", what, plan.vtepName)
                    : fmt::format("{} entry on {} {}", what, plan.vtepName,
                                  present ? "is wrong" : "is missing");
    f.explanation =
        extra ? "An entry on ovl's VTEP that no peer accounts for (a removed node, or someone "
                "else's): packets may go to an address that is gone."
              : "Each peer needs a route to its pod subnet via its VTEP address, a permanent "
                "neighbour entry for that address and an FDB entry sending its MAC to its "
                "underlay IP; without the right one, traffic to that node's pods is lost. A "
                "running agent repairs this at once.";
    f.evidence.push_back({"expected", op.toString()});
    f.fixCommand = opCommand(op, plan.vtepName);
    r.findings.push_back(std::move(f));
  }
}

// ---- MTU ----------------------------------------------------------------------------------

void Checker::checkMtu(Ctx& c, Report& r) {
  r.checksRun.push_back("mtu");
  const OverlayPlan& plan = *c.m.plan;
  const nl::Link* vtep = c.link(plan.vtepName);
  const nl::Link* ul = c.link(c.underlay);
  if (vtep == nullptr || ul == nullptr) {
    return;  // reported by the peers check / nothing to compare
  }
  if (vtep->mtu + kVxlanOverhead > ul->mtu) {
    Finding f;
    f.check = "mtu";
    f.severity = Severity::kError;
    f.subject = plan.vtepName;
    f.title = fmt::format("VTEP MTU {} is above the underlay's {} - {}", vtep->mtu, ul->mtu,
                          kVxlanOverhead);
    f.explanation = fmt::format(
        "VXLAN adds {} bytes; a full-size inner packet becomes an outer packet larger than {}'s "
        "MTU and is dropped (TCP connections stall once they send full segments).",
        kVxlanOverhead, c.underlay);
    f.evidence.push_back(
        {"mtu", fmt::format("{} {}, {} {}", plan.vtepName, vtep->mtu, c.underlay, ul->mtu)});
    f.fixCommand = fmt::format("ip link set dev {} mtu {}  (and network.mtu in the cluster file)",
                               plan.vtepName, ul->mtu - kVxlanOverhead);
    r.findings.push_back(std::move(f));
  }
  const nl::Link* bridge = c.link(plan.bridgeName);
  if (bridge == nullptr) {
    return;
  }
  for (const auto& [name, l] : c.links) {
    if (l.master != bridge->index || l.mtu <= vtep->mtu) {
      continue;
    }
    Finding f;
    f.check = "mtu";
    f.severity = Severity::kWarning;
    f.subject = name;
    f.title = fmt::format("pod interface MTU {} is above the VTEP's {}", l.mtu, vtep->mtu);
    f.explanation = fmt::format(
        "A pod behind {} can send packets larger than {} carries to other nodes; those are "
        "dropped (or need fragmentation), so large transfers to other nodes stall.",
        name, plan.vtepName);
    f.fixCommand =
        fmt::format("ip link set dev {} mtu {}  (and the pod's own interface)", name, vtep->mtu);
    r.findings.push_back(std::move(f));
  }
}

// ---- tx checksum offload --------------------------------------------------------------------

void Checker::checkTxChecksum(Ctx& c, Report& r) {
  r.checksRun.push_back("tx_checksum");
  const std::string release = kernelRelease(cfg_.kernelRelease);
  const std::string& vtep = c.m.plan->vtepName;
  if (!kernelHasVxlanChecksumBug(release) || c.link(vtep) == nullptr) {
    return;
  }
  auto on = txChecksum(vtep);
  if (!on) {
    r.notChecked.push_back("tx_checksum: " + on.error().message);
    return;
  }
  if (!*on) {
    return;
  }
  Finding f;
  f.check = "tx_checksum";
  f.severity = Severity::kWarning;
  f.subject = vtep;
  f.title = "tx checksum offload is on, and this kernel has the VXLAN checksum bug";
  f.explanation = fmt::format(
      "Kernel {} (before 5.7) can send VXLAN packets whose outer UDP checksum is wrong once they "
      "are NATed; the peer drops them, and service traffic between nodes stalls for about a "
      "minute at a time. Turning tx checksum offload off on the VTEP avoids it.",
      release);
  f.evidence.push_back({"kernel", release});
  f.evidence.push_back({"tx checksum offload", "on"});
  f.fixCommand = fmt::format("ethtool -K {} tx off", vtep);
  f.fixable = true;
  f.fix = Fix{Fix::Kind::kTxChecksumOff, vtep};
  r.findings.push_back(std::move(f));
}

// ---- conntrack ----------------------------------------------------------------------------

void Checker::checkConntrack(Ctx&, Report& r) {
  auto count = fs_.readInt("sys/net/netfilter/nf_conntrack_count");
  auto max = fs_.readInt("sys/net/netfilter/nf_conntrack_max");
  if (!count || !max || *max <= 0) {
    return;  // conntrack not loaded: nothing fills up
  }
  r.checksRun.push_back("conntrack");
  if (*count * 10 <= *max * 9) {
    return;
  }
  Finding f;
  f.check = "conntrack";
  f.severity = Severity::kError;
  f.subject = "nf_conntrack";
  f.title = fmt::format("the conntrack table is {}% full", *count * 100 / *max);
  f.explanation =
      "Every service connection needs a conntrack entry for its NAT; when the table is full the "
      "kernel drops new connections (\"nf_conntrack: table full, dropping packet\").";
  f.evidence.push_back({"nf_conntrack_count", std::to_string(*count)});
  f.evidence.push_back({"nf_conntrack_max", std::to_string(*max)});
  f.fixCommand = fmt::format("sysctl -w net.netfilter.nf_conntrack_max={}", *max * 2);
  r.findings.push_back(std::move(f));
}

// ---- hairpin ------------------------------------------------------------------------------

void Checker::checkHairpin(Ctx& c, Report& r) {
  auto brnf = fs_.readInt("sys/net/bridge/bridge-nf-call-iptables");
  if (!brnf || *brnf == 0) {
    return;  // br_netfilter not loaded or not calling netfilter: routing handles hairpin
  }
  r.checksRun.push_back("hairpin");
  const nl::Link* bridge = c.link(c.m.plan->bridgeName);
  if (bridge == nullptr) {
    return;
  }
  auto ports = nl_.bridgePorts();
  if (!ports) {
    r.notChecked.push_back("hairpin: " + ports.error().message);
    return;
  }
  for (const auto& p : *ports) {
    if (p.master != bridge->index || p.hairpin) {
      continue;
    }
    Finding f;
    f.check = "hairpin";
    f.severity = Severity::kWarning;
    f.subject = p.name;
    f.title = fmt::format("bridge port {} has hairpin off while br_netfilter is active", p.name);
    f.explanation = fmt::format(
        "With bridge-nf-call-iptables=1 a pod's packet to a service is DNATed while being "
        "bridged; when the pod lands on itself the frame must leave through the port it came in "
        "on, which the bridge does only with hairpin on. Otherwise a pod behind {} cannot reach "
        "itself through its own service.",
        p.name);
    f.evidence.push_back({"net.bridge.bridge-nf-call-iptables", std::to_string(*brnf)});
    f.fixCommand = fmt::format("bridge link set dev {} hairpin on", p.name);
    f.fixable = true;
    f.fix = Fix{Fix::Kind::kHairpinOn, p.name};
    r.findings.push_back(std::move(f));
  }
}

// ---- nftables -----------------------------------------------------------------------------

void Checker::checkNftables(Ctx& c, Report& r) {
  auto sock = nft::NftSocket::create();
  if (!sock) {
    r.notChecked.push_back("nftables: " + sock.error().message);
    return;
  }
  const NetworkConfig& net = c.m.network;
  auto rs = readRuleset(*sock);
  if (!rs) {
    r.notChecked.push_back("nftables: " + rs.error().message);
  } else {
    r.checksRun.push_back("vxlan_port");
    r.checksRun.push_back("forward_drop");
    for (auto& f : vxlanPortDrops(*rs, net.port, cfg_.nftTable)) {
      r.findings.push_back(std::move(f));
    }
    for (auto& f : forwardDrops(*rs, net.podCidr, {c.m.plan->vtepName, c.m.plan->bridgeName},
                                cfg_.nftTable)) {
      r.findings.push_back(std::move(f));
    }
  }
  // iptables-legacy: its tables are invisible to nftables; libip4tc reads them.
  if (auto names = fs_.read("net/ip_tables_names"); names && !names->empty()) {
    std::vector<std::string> tables;
    std::istringstream in(*names);
    for (std::string t; in >> t;) {
      tables.push_back(t);
    }
    auto legacy = readLegacyRuleset(tables);
    if (legacy) {
      for (auto& f : vxlanPortDrops(*legacy, net.port, cfg_.nftTable)) {
        r.findings.push_back(std::move(f));
      }
      for (auto& f : forwardDrops(*legacy, net.podCidr, {c.m.plan->vtepName, c.m.plan->bridgeName},
                                  cfg_.nftTable)) {
        r.findings.push_back(std::move(f));
      }
    } else {
      r.notChecked.push_back("iptables-legacy: " + legacy.error().message);
    }
  }
  if (c.m.cluster == nullptr) {
    return;
  }
  const Cluster& cl = *c.m.cluster;
  r.checksRun.push_back("nft_table");
  auto own = readOwnTable(*sock, cfg_.nftTable);
  if (!own) {
    r.notChecked.push_back("nft_table: " + own.error().message);
    return;
  }
  const auto natPlan = nat::planNat(
      cl.services, nat::planInputs(cl.network, c.m.plan->nodeName, c.m.plan->podSubnet));
  for (auto& f : compareOwnTable(desiredOwnTable(natPlan), *own, cfg_.nftTable)) {
    r.findings.push_back(std::move(f));
  }
}

// ---- running, fixing, persisting -------------------------------------------------------------

// The links and the underlay interface every check starts from; false (with the reason in
// r.notChecked) when the links cannot be read.
bool Checker::prepare(Ctx& c, Report& r) {
  r.node = c.m.plan->nodeName;
  auto links = nl_.links();
  if (!links) {
    r.notChecked.push_back("links: " + links.error().message);
    return false;
  }
  for (auto& l : *links) {
    c.links.emplace(l.name, l);
  }
  c.underlay = underlayInterface(nl_, *c.m.agent, *c.m.plan);
  return true;
}

Report Checker::run(const NodeModel& m) {
  Report r;
  Ctx c{m, {}, ""};
  if (!prepare(c, r)) {
    return r;
  }
  if (c.underlay.empty()) {
    r.notChecked.push_back(
        fmt::format("underlay: no interface holds {} and underlayInterface "
                    "is not set",
                    m.plan->underlayIp.toString()));
  }
  checkForwarding(c, r);
  if (cfg_.rpFilter) {
    checkRpFilter(c, r);
  }
  checkPeers(c, r);
  checkMtu(c, r);
  checkTxChecksum(c, r);
  checkConntrack(c, r);
  checkHairpin(c, r);
  if (cfg_.nftables) {
    checkNftables(c, r);
  }
  return r;
}

Report Checker::runRpFilter(const NodeModel& m) {
  Report r;
  Ctx c{m, {}, ""};
  if (prepare(c, r)) {
    checkRpFilter(c, r);
  }
  return r;
}

Status Checker::applyFix(const Finding& f, Report& r) {
  switch (f.fix.kind) {
    case Fix::Kind::kNone:
      return okStatus();
    case Fix::Kind::kRpFilterLoose: {
      const std::string path = confPath(f.fix.iface, "rp_filter");
      auto before = fs_.read(path);
      if (Status s = fs_.write(path, "2"); !s) {
        return s;
      }
      r.actions.push_back(fmt::format("{} = 2 (was {})", confKey(f.fix.iface, "rp_filter"),
                                      before ? *before : "?"));
      return okStatus();
    }
    case Fix::Kind::kHairpinOn: {
      auto l = nl_.linkByName(f.fix.iface);
      if (!l) {
        return l.error();
      }
      if (!*l) {
        return Error::sys(ENODEV, "bridge port " + f.fix.iface + " is gone");
      }
      if (Status s = nl_.setHairpin((*l)->index, true); !s) {
        return s;
      }
      r.actions.push_back(fmt::format("bridge port {}: hairpin on (was off)", f.fix.iface));
      return okStatus();
    }
    case Fix::Kind::kTxChecksumOff:
      if (Status s = setTxChecksum(f.fix.iface, false); !s) {
        return s;
      }
      r.actions.push_back(fmt::format("{}: tx checksum offload off (was on)", f.fix.iface));
      return okStatus();
  }
  return okStatus();
}

void Checker::fix(Report& r, const NodeModel& m, FixScope scope) {
  const bool rpFilterOnly = scope == FixScope::kRpFilterOnly;
  std::set<std::string> applied;
  for (const auto& f : r.findings) {
    if (!f.fixable || f.fixed || (rpFilterOnly && f.fix.kind != Fix::Kind::kRpFilterLoose)) {
      continue;
    }
    if (Status s = applyFix(f, r); !s) {
      r.notChecked.push_back(
          fmt::format("fix of {} {}: {}", f.check, f.subject, s.error().message));
    } else {
      applied.insert(f.key());
    }
  }
  if (applied.empty()) {
    return;
  }
  const Report again = rpFilterOnly ? runRpFilter(m) : run(m);
  std::set<std::string> still;
  for (const auto& f : again.findings) {
    still.insert(f.key());
  }
  for (auto& f : r.findings) {
    // A note that only held while the drops happened (log_martians) is settled with them.
    if ((applied.contains(f.key()) || f.check == "log_martians") && !still.contains(f.key())) {
      f.fixed = true;
    }
  }
}

Status Checker::persist(Report& r, const std::string& dir) {
  std::vector<std::string> ifaces;
  for (const auto& f : r.findings) {
    if (f.fix.kind == Fix::Kind::kRpFilterLoose && f.fixed) {
      ifaces.push_back(f.fix.iface);
    }
  }
  if (ifaces.empty()) {
    return okStatus();
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Error{ec.value(), fmt::format("sysctl dir {}: {}", dir, ec.message())};
  }
  const std::string path = dir + "/" + kDropInName;
  {
    std::ifstream in(path);
    if (in) {
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (auto& i : dropInInterfaces(text)) {
        ifaces.push_back(i);
      }
    }
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << dropInText(ifaces);
    out.flush();
    if (!out) {
      return Error::sys(errno != 0 ? errno : EIO, "write " + tmp);
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return Error{ec.value(), fmt::format("rename {} to {}: {}", tmp, path, ec.message())};
  }
  r.actions.push_back(fmt::format("wrote {} (rp_filter = 2 on {})", path, fmt::join(ifaces, ", ")));
  return okStatus();
}

}  // namespace ovl::diag
