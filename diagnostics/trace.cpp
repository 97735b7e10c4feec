#include "diagnostics/trace.h"

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "diagnostics/sysctl.h"
#include "rules/nat_planner.h"

namespace ovl::diag {

std::string Flow::toString() const {
  return fmt::format("{} -> {}:{}/{}", src.toString(), dst.toString(), port,
                     svc::toString(protocol));
}

Result<Flow> parseFlow(const std::string& src, const std::string& dst) {
  Flow f;
  auto s = Ipv4::parse(src);
  if (!s) {
    return Error::msg(fmt::format("SRC '{}': expected an IPv4 address", src));
  }
  f.src = *s;
  std::string rest = dst;
  std::string proto = "tcp";
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    proto = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) {
    return Error::msg(fmt::format("DST '{}': expected IP:PORT[/tcp|udp|sctp]", dst));
  }
  auto d = Ipv4::parse(rest.substr(0, colon));
  if (!d) {
    return Error::msg(
        fmt::format("DST '{}': '{}' is not an IPv4 address", dst, rest.substr(0, colon)));
  }
  f.dst = *d;
  const std::string portText = rest.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(portText.c_str(), &end, 10);
  if (portText.empty() || *end != '\0' || port < 1 || port > 65535) {
    return Error::msg(fmt::format("DST '{}': port '{}' is not in 1..65535", dst, portText));
  }
  f.port = static_cast<uint16_t>(port);
  if (proto == "tcp") {
    f.protocol = svc::Protocol::kTcp;
  } else if (proto == "udp") {
    f.protocol = svc::Protocol::kUdp;
  } else if (proto == "sctp") {
    f.protocol = svc::Protocol::kSctp;
  } else {
    return Error::msg(fmt::format("DST '{}': protocol '{}' is not tcp, udp or sctp", dst, proto));
  }
  return f;
}

namespace {

// The service entry a flow hits, and the (VIP, port) its slots are listed under.
struct TraceMatch {
  const nat::Target* target = nullptr;  // null: no service matches
  std::string match;
  Ipv4 slotVip;
  uint16_t slotPort = 0;
};

// A cluster or external IP first; a NodePort only when DST is one of this node's addresses
// (its slots have no VIP).
TraceMatch matchFlow(const nat::NatPlan& nat, const Flow& flow, bool dstIsLocal) {
  TraceMatch m{nullptr, "", flow.dst, flow.port};
  for (const auto& v : nat.vips) {
    if (v.ip == flow.dst && v.port == flow.port && v.protocol == flow.protocol) {
      m.target = &v.target;
      m.match = fmt::format("service {}", v.comment);
    }
  }
  if (m.target == nullptr && dstIsLocal) {
    for (const auto& n : nat.nodePorts) {
      if (n.port == flow.port && n.protocol == flow.protocol) {
        m.target = &n.target;
        m.match = fmt::format("service {} (NodePort {})", n.comment, n.port);
        m.slotVip = Ipv4{};
      }
    }
  }
  return m;
}

// The endpoints behind the matched entry: each with its share of the slots and the node whose
// pod subnet holds it.
std::vector<TraceEndpoint> endpointsOf(const nat::NatPlan& nat, const OverlayPlan& plan,
                                       const TraceMatch& m, svc::Protocol protocol) {
  std::map<std::pair<Ipv4, uint16_t>, uint32_t> slots;
  uint32_t total = 0;
  for (const auto& s : nat.slots) {
    if (s.vip == m.slotVip && s.port == m.slotPort && s.protocol == protocol) {
      ++slots[{s.endpoint, s.endpointPort}];
      ++total;
    }
  }
  std::vector<TraceEndpoint> out;
  for (const auto& [key, n] : slots) {
    TraceEndpoint e;
    e.ip = key.first;
    e.port = key.second;
    e.slots = n;
    e.probability = total == 0 ? 0 : static_cast<double>(n) / total;
    if (plan.podSubnet.contains(e.ip)) {
      e.node = plan.nodeName;
      e.local = true;
    }
    for (const auto& p : plan.peers) {
      if (p.podSubnet.contains(e.ip)) {
        e.node = p.name;
      }
    }
    out.push_back(e);
  }
  return out;
}

// nat postrouting, as the table programs it.
void decideMasquerade(const Cluster& cluster, const nat::Target& target, const Flow& flow,
                      TracePlan& out) {
  const bool fromPods = cluster.network.podCidr.contains(flow.src);
  if (target.keepSource) {
    out.masqueradeWhy = "externalTrafficPolicy Local keeps the client's address";
  } else if (target.masquerade) {
    out.masquerade = true;
    out.masqueradeWhy = "external traffic with externalTrafficPolicy Cluster";
  } else if (cluster.network.masquerade == svc::MasqueradeMode::kAll) {
    out.masquerade = true;
    out.masqueradeWhy = "network.masquerade: all";
  } else if (cluster.network.masquerade == svc::MasqueradeMode::kOffCluster && !fromPods) {
    out.masquerade = true;
    out.masqueradeWhy = fmt::format("network.masquerade: off-cluster, and {} is outside {}",
                                    flow.src.toString(), cluster.network.podCidr.toString());
  } else {
    out.masqueradeWhy = cluster.network.masquerade == svc::MasqueradeMode::kNone
                            ? "network.masquerade: none"
                            : "the source is a pod address";
  }
}

}  // namespace

TracePlan planTrace(const Cluster& cluster, const OverlayPlan& plan, const Flow& flow,
                    bool dstIsLocal) {
  TracePlan out;
  const auto nat = nat::planNat(cluster.services,
                                nat::planInputs(cluster.network, plan.nodeName, plan.podSubnet));
  const TraceMatch m = matchFlow(nat, flow, dstIsLocal);
  if (m.target == nullptr) {
    return out;
  }
  out.match = m.match;
  switch (m.target->kind) {
    case nat::Target::Kind::kReject:
      out.verdict = "reject";
      return out;
    case nat::Target::Kind::kDrop:
      out.verdict = "drop";
      return out;
    case nat::Target::Kind::kBalance:
      out.verdict = "balance";
      break;
  }
  out.endpoints = endpointsOf(nat, plan, m, flow.protocol);
  decideMasquerade(cluster, *m.target, flow, out);
  return out;
}

namespace {

std::string linkName(nl::Netlink& netlink, int index) {
  auto l = netlink.linkByIndex(index);
  return l && *l ? (*l)->name : fmt::format("#{}", index);
}

int linkIndex(nl::Netlink& netlink, const std::string& name) {
  if (name.empty()) {
    return 0;
  }
  auto l = netlink.linkByName(name);
  return l && *l ? (*l)->index : 0;
}

bool isLocalAddress(nl::Netlink& netlink, Ipv4 ip) {
  bool local = false;
  if (auto addrs = netlink.addresses()) {
    local = std::any_of(addrs->begin(), addrs->end(),
                        [&](const nl::Address& a) { return a.local.addr == ip; });
  }
  return local;
}

// What the explanation of every endpoint refers to.
struct TraceScope {
  nl::Netlink& netlink;
  const Cluster& cluster;
  const OverlayPlan& plan;
  const std::string& underlay;
  const Flow& flow;
  const TracePlan& tp;
  int vtepIndex = 0;  // 0: no VTEP
  bool srcLocal = false;
};

// Which service entry matches, and what it does with the flow.
std::string serviceLines(const TracePlan& tp, const Flow& flow) {
  if (tp.match.empty()) {
    return fmt::format("service: none matches {}:{}/{}; the packet is routed as it is\n",
                       flow.dst.toString(), flow.port, svc::toString(flow.protocol));
  }
  std::string out = fmt::format("service: {} -> {}\n", tp.match, tp.verdict);
  if (tp.verdict == "reject") {
    out += "  no usable endpoint: refused at once (TCP reset / ICMP port unreachable)\n";
  } else if (tp.verdict == "drop") {
    out += "  externalTrafficPolicy Local and no endpoint on this node: dropped\n";
  }
  return out;
}

// Through the VTEP: the neighbour entry of the next hop, and the FDB entry of its MAC.
std::string overlayHopLines(const TraceScope& t, const Ipv4& gateway) {
  std::optional<MacAddr> mac;
  if (auto n = t.netlink.neighbours(t.vtepIndex)) {
    for (const auto& x : *n) {
      if (x.ip == gateway) {
        mac = x.mac;
      }
    }
  }
  std::string out = fmt::format("  neighbour: {} lladdr {}\n", gateway.toString(),
                                mac ? mac->toString() : "MISSING (no permanent entry on the VTEP)");
  if (mac) {
    std::optional<Ipv4> dst;
    if (auto f = t.netlink.fdb(t.vtepIndex)) {
      for (const auto& x : *f) {
        if (x.mac == *mac) {
          dst = x.dst;
        }
      }
    }
    out +=
        fmt::format("  fdb: {} dst {} (VXLAN to that node's underlay address)\n", mac->toString(),
                    dst ? dst->toString() : "MISSING (no FDB entry on the VTEP)");
  }
  return out;
}

// The address the reply goes back to: this node's (the route's source) when masqueraded.
Ipv4 replyAddress(const TraceScope& t, const nl::RouteAnswer& route) {
  if (!t.tp.match.empty() && t.tp.masquerade && route.prefSrc) {
    return *route.prefSrc;
  }
  return t.flow.src;
}

// The flow after DNAT to this endpoint, and after masquerade where it applies.
std::string natLines(const TraceScope& t, const TraceEndpoint& e, const nl::RouteAnswer& route) {
  std::string out =
      fmt::format("  after DNAT: {} -> {}:{}\n", t.flow.src.toString(), e.ip.toString(), e.port);
  if (t.tp.masquerade && route.prefSrc) {
    out += fmt::format("  after masquerade: {} -> {}:{} ({})\n", route.prefSrc->toString(),
                       e.ip.toString(), e.port, t.tp.masqueradeWhy);
  } else {
    out += fmt::format("  not masqueraded ({})\n", t.tp.masqueradeWhy);
  }
  return out;
}

// The interface the reply arrives on at this node ("" = not behind ovl's VTEP or bridge).
std::string replyInterface(const TraceScope& t, const TraceEndpoint& e,
                           const nl::RouteAnswer& route, const Ipv4& replyTo) {
  if (e.local) {
    return t.plan.bridgeName;
  }
  if (route.oif == t.vtepIndex && t.vtepIndex != 0) {
    // The remote node routes the reply by its destination: pod and VTEP addresses come back
    // over the overlay; anything else (a host's underlay address) over the underlay.
    return t.cluster.network.podCidr.contains(replyTo) ? t.plan.vtepName : t.underlay;
  }
  return "";
}

// The kernel's verdict on the reply arriving on replyIif: its input route lookup, reverse-path
// check included.
std::string replyVerdict(const TraceScope& t, const TraceEndpoint& e, const Ipv4& replyTo,
                         const std::string& replyIif) {
  const int iif = linkIndex(t.netlink, replyIif);
  auto verdict = t.netlink.routeGet(replyTo, e.ip, iif);
  std::string out = fmt::format("  reply {} -> {} arriving on {}: ", e.ip.toString(),
                                replyTo.toString(), replyIif);
  if (verdict) {
    out += "accepted by the kernel\n";
  } else if (verdict.error().code == EXDEV || verdict.error().code == EINVAL) {
    // Recent kernels answer a reverse-path failure with EINVAL (as any martian source),
    // older ones with EXDEV; rp_filter on the interface says which it is.
    ProcFs fs;
    auto rp = fs.rpFilter(replyIif);
    const bool byRp = rp && rp->effective() != 0;
    out += fmt::format("{} (ip route get {} from {} iif {} -> {}{}); run ovlctl diagnose\n",
                       byRp ? "DROPPED by reverse-path filtering" : "DROPPED as a martian source",
                       replyTo.toString(), e.ip.toString(), replyIif,
                       verdict.error().code == EXDEV ? "EXDEV" : "EINVAL",
                       rp ? ", rp_filter " + rp->describe(replyIif) : "");
  } else {
    out += fmt::format("refused: {}\n", verdict.error().message);
  }
  return out;
}

// Where the reply arrives on this node, and would the kernel accept it there?
std::string replyLines(const TraceScope& t, const TraceEndpoint& e, const nl::RouteAnswer& route) {
  const Ipv4 replyTo = replyAddress(t, route);
  const std::string replyIif = replyInterface(t, e, route, replyTo);
  if (!t.srcLocal && !t.cluster.network.podCidr.contains(t.flow.src)) {
    if (!t.tp.match.empty() && !t.tp.masquerade && !e.local) {
      // The endpoint's node answers the client directly: the reply skips this node's
      // conntrack, so its source is never translated back.
      return fmt::format(
          "  reply: goes from {} straight to {} with source {}, not through this node's "
          "de-NAT; the client drops it (masquerade, or externalTrafficPolicy Local, avoids "
          "this)\n",
          e.node.empty() ? "the endpoint's node" : e.node, t.flow.src.toString(), e.ip.toString());
    }
    return "  reply: not checked here (the client is not on this node)\n";
  }
  if (replyIif.empty()) {
    return "  reply: the endpoint is not behind ovl's VTEP or bridge; not checked\n";
  }
  return replyVerdict(t, e, replyTo, replyIif);
}

// One endpoint (or the destination itself, when no service matches): the route to it, the
// VTEP's entries on the way, the NAT, and the reply.
std::string endpointLines(const TraceScope& t, const TraceEndpoint& e) {
  std::string out;
  if (!t.tp.match.empty()) {
    out += fmt::format("endpoint {}:{} on {} ({:.1f}%, {} slot(s))\n", e.ip.toString(), e.port,
                       e.node.empty() ? "no known node" : e.node, e.probability * 100, e.slots);
  } else {
    out += fmt::format("destination {}\n", e.ip.toString());
  }
  auto route = t.netlink.routeGet(e.ip);
  if (!route) {
    out += fmt::format("  route: {}\n", route.error().message);
    return out;
  }
  const std::string oif = route->oif ? linkName(t.netlink, route->oif) : "local";
  out += fmt::format("  route: {}{} dev {}{}\n", e.ip.toString(),
                     route->gateway ? " via " + route->gateway->toString() : "", oif,
                     route->prefSrc ? " src " + route->prefSrc->toString() : "");
  if (route->oif == t.vtepIndex && t.vtepIndex != 0 && route->gateway) {
    out += overlayHopLines(t, *route->gateway);
  }
  if (!t.tp.match.empty()) {
    out += natLines(t, e, *route);
  }
  out += replyLines(t, e, *route);
  return out;
}

}  // namespace

std::string explainTrace(nl::Netlink& netlink, const Cluster& cluster, const OverlayPlan& plan,
                         const std::string& underlay, const Flow& flow) {
  std::string out = fmt::format("flow {} traced on node {}\n", flow.toString(), plan.nodeName);
  const bool dstLocal = isLocalAddress(netlink, flow.dst);
  const bool srcLocal = isLocalAddress(netlink, flow.src);
  const TracePlan tp = planTrace(cluster, plan, flow, dstLocal);
  out += serviceLines(tp, flow);
  std::vector<TraceEndpoint> targets = tp.endpoints;
  if (tp.match.empty()) {
    targets.push_back(TraceEndpoint{flow.dst, flow.port, "", 1.0, 0, false});
  }
  const TraceScope t{netlink, cluster, plan, underlay, flow, tp, linkIndex(netlink, plan.vtepName),
                     srcLocal};
  for (const auto& e : targets) {
    out += endpointLines(t, e);
  }
  return out;
}

}  // namespace ovl::diag
