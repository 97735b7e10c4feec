// The overlay as the kernel holds it: the VTEP with a route, a neighbour and an FDB entry per
// peer (compared with what the overlay plan wants, through the reconciler's own diff), and the
// MTUs of the VTEP, the underlay and the pod bridge's ports.
#include "diagnostics/checks.h"

#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "overlay/overlay_plan.h"

namespace ovl::diag {

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

// The finding for one entry the reconciler would write (missing or wrong) or delete (stray).
Finding peerEntryFinding(const OverlayPlan& plan, const PeerState& actual,
                         const nl::Netlink::Op& op) {
  using K = nl::Netlink::Op::Kind;
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
  return f;
}

}  // namespace

void checkPeers(const CheckContext& c, Report& r) {
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
  auto neigh = c.nl.neighbours(vtep->index);
  auto fdb = c.nl.fdb(vtep->index);
  auto routes = c.nl.routes(vtep->index);
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
  for (const auto& op : diffPeerState(desiredPeerState(plan, vtep->index), actual)) {
    r.findings.push_back(peerEntryFinding(plan, actual, op));
  }
}

// ---- MTU ----------------------------------------------------------------------------------

void checkMtu(const CheckContext& c, Report& r) {
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

}  // namespace ovl::diag
