#include "diagnostics/trace.h"

#include <algorithm>
#include <map>

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

TracePlan planTrace(const Cluster& cluster, const OverlayPlan& plan, const Flow& flow,
                    bool dstIsLocal) {
  TracePlan out;
  const auto nat = nat::planNat(cluster.services,
                                nat::planInputs(cluster.network, plan.nodeName, plan.podSubnet));
  const nat::Target* target = nullptr;
  Ipv4 slotVip = flow.dst;
  uint16_t slotPort = flow.port;
  for (const auto& v : nat.vips) {
    if (v.ip == flow.dst && v.port == flow.port && v.protocol == flow.protocol) {
      target = &v.target;
      out.match = fmt::format("service {}", v.comment);
    }
  }
  if (target == nullptr && dstIsLocal) {
    for (const auto& n : nat.nodePorts) {
      if (n.port == flow.port && n.protocol == flow.protocol) {
        target = &n.target;
        out.match = fmt::format("service {} (NodePort {})", n.comment, n.port);
        slotVip = Ipv4{};
      }
    }
  }
  if (target == nullptr) {
    return out;
  }
  switch (target->kind) {
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
  std::map<std::pair<Ipv4, uint16_t>, uint32_t> slots;
  uint32_t total = 0;
  for (const auto& s : nat.slots) {
    if (s.vip == slotVip && s.port == slotPort && s.protocol == flow.protocol) {
      ++slots[{s.endpoint, s.endpointPort}];
      ++total;
    }
  }
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
    out.endpoints.push_back(e);
  }
  // nat postrouting, as the table programs it.
  const bool fromPods = cluster.network.podCidr.contains(flow.src);
  if (target->keepSource) {
    out.masqueradeWhy = "externalTrafficPolicy Local keeps the client's address";
  } else if (target->masquerade) {
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

}  // namespace

std::string explainTrace(nl::Netlink& netlink, const Cluster& cluster, const OverlayPlan& plan,
                         const std::string& underlay, const Flow& flow) {
  std::string out = fmt::format("flow {} traced on node {}\n", flow.toString(), plan.nodeName);
  bool dstLocal = false;
  if (auto addrs = netlink.addresses()) {
    dstLocal = std::any_of(addrs->begin(), addrs->end(),
                           [&](const nl::Address& a) { return a.local.addr == flow.dst; });
  }
  bool srcLocal = false;
  if (auto addrs = netlink.addresses()) {
    srcLocal = std::any_of(addrs->begin(), addrs->end(),
                           [&](const nl::Address& a) { return a.local.addr == flow.src; });
  }
  const TracePlan tp = planTrace(cluster, plan, flow, dstLocal);
  if (tp.match.empty()) {
    out += fmt::format("service: none matches {}:{}/{}; the packet is routed as it is\n",
                       flow.dst.toString(), flow.port, svc::toString(flow.protocol));
  } else {
    out += fmt::format("service: {} -> {}\n", tp.match, tp.verdict);
    if (tp.verdict == "reject") {
      out += "  no usable endpoint: refused at once (TCP reset / ICMP port unreachable)\n";
    } else if (tp.verdict == "drop") {
      out += "  externalTrafficPolicy Local and no endpoint on this node: dropped\n";
    }
  }
  std::vector<TraceEndpoint> targets = tp.endpoints;
  if (tp.match.empty()) {
    targets.push_back(TraceEndpoint{flow.dst, flow.port, "", 1.0, 0, false});
  }
  const int vtepIndex = linkIndex(netlink, plan.vtepName);
  for (const auto& e : targets) {
    if (!tp.match.empty()) {
      out += fmt::format("endpoint {}:{} on {} ({:.1f}%, {} slot(s))\n", e.ip.toString(), e.port,
                         e.node.empty() ? "no known node" : e.node, e.probability * 100, e.slots);
    } else {
      out += fmt::format("destination {}\n", e.ip.toString());
    }
    auto route = netlink.routeGet(e.ip);
    if (!route) {
      out += fmt::format("  route: {}\n", route.error().message);
      continue;
    }
    const std::string oif = route->oif ? linkName(netlink, route->oif) : "local";
    out += fmt::format("  route: {}{} dev {}{}\n", e.ip.toString(),
                       route->gateway ? " via " + route->gateway->toString() : "", oif,
                       route->prefSrc ? " src " + route->prefSrc->toString() : "");
    if (route->oif == vtepIndex && vtepIndex != 0 && route->gateway) {
      std::optional<MacAddr> mac;
      if (auto n = netlink.neighbours(vtepIndex)) {
        for (const auto& x : *n) {
          if (x.ip == *route->gateway) {
            mac = x.mac;
          }
        }
      }
      out += fmt::format("  neighbour: {} lladdr {}\n", route->gateway->toString(),
                         mac ? mac->toString() : "MISSING (no permanent entry on the VTEP)");
      if (mac) {
        std::optional<Ipv4> dst;
        if (auto f = netlink.fdb(vtepIndex)) {
          for (const auto& x : *f) {
            if (x.mac == *mac) {
              dst = x.dst;
            }
          }
        }
        out += fmt::format("  fdb: {} dst {} (VXLAN to that node's underlay address)\n",
                           mac->toString(),
                           dst ? dst->toString() : "MISSING (no FDB entry on the VTEP)");
      }
    }
    Ipv4 replyTo = flow.src;
    if (!tp.match.empty()) {
      out +=
          fmt::format("  after DNAT: {} -> {}:{}\n", flow.src.toString(), e.ip.toString(), e.port);
      if (tp.masquerade && route->prefSrc) {
        replyTo = *route->prefSrc;
        out += fmt::format("  after masquerade: {} -> {}:{} ({})\n", replyTo.toString(),
                           e.ip.toString(), e.port, tp.masqueradeWhy);
      } else {
        out += fmt::format("  not masqueraded ({})\n", tp.masqueradeWhy);
      }
    }
    // Where the reply arrives on this node, and would the kernel accept it there?
    std::string replyIif;
    if (e.local) {
      replyIif = plan.bridgeName;
    } else if (route->oif == vtepIndex && vtepIndex != 0) {
      // The remote node routes the reply by its destination: pod and VTEP addresses come back
      // over the overlay; anything else (a host's underlay address) over the underlay.
      replyIif = cluster.network.podCidr.contains(replyTo) ? plan.vtepName : underlay;
    }
    if (!srcLocal && !cluster.network.podCidr.contains(flow.src)) {
      if (!tp.match.empty() && !tp.masquerade && !e.local) {
        // The endpoint's node answers the client directly: the reply skips this node's
        // conntrack, so its source is never translated back.
        out += fmt::format(
            "  reply: goes from {} straight to {} with source {}, not through this node's "
            "de-NAT; the client drops it (masquerade, or externalTrafficPolicy Local, avoids "
            "this)\n",
            e.node.empty() ? "the endpoint's node" : e.node, flow.src.toString(), e.ip.toString());
      } else {
        out += "  reply: not checked here (the client is not on this node)\n";
      }
      continue;
    }
    if (replyIif.empty()) {
      out += "  reply: the endpoint is not behind ovl's VTEP or bridge; not checked\n";
      continue;
    }
    const int iif = linkIndex(netlink, replyIif);
    auto verdict = netlink.routeGet(replyTo, e.ip, iif);
    out += fmt::format("  reply {} -> {} arriving on {}: ", e.ip.toString(), replyTo.toString(),
                       replyIif);
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
  }
  return out;
}

}  // namespace ovl::diag
