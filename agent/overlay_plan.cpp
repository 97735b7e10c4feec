#include "agent/overlay_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace ovl {

Result<OverlayPlan> planOverlay(const Cluster& cluster, const std::string& self,
                                const PlanNames& names) {
  auto me = std::find_if(cluster.nodes.begin(), cluster.nodes.end(),
                         [&](const Node& n) { return n.name == self; });
  if (me == cluster.nodes.end()) {
    return Error::msg(fmt::format(
        "node '{}' (nodeName in the agent config) has no valid entry in the cluster", self));
  }
  OverlayPlan plan;
  plan.nodeName = self;
  plan.underlayIp = me->underlayIp;
  plan.podSubnet = me->podSubnet;
  plan.vtepName =
      names.vtepName.empty() ? fmt::format("ovl.{}", cluster.network.vni) : names.vtepName;
  plan.vni = cluster.network.vni;
  plan.port = cluster.network.port;
  plan.vtepMac = me->effectiveVtepMac();
  plan.vtepAddress = Ipv4Prefix{me->podSubnet.network(), 32};
  plan.mtu = cluster.network.mtu;
  plan.bridgeName = names.bridgeName;
  plan.bridgeAddress = Ipv4Prefix{Ipv4{me->podSubnet.network().value + 1}, me->podSubnet.len};
  for (const Node& n : cluster.nodes) {
    if (n.name == self) {
      continue;
    }
    plan.peers.push_back(
        PeerPlan{n.name, n.podSubnet.network(), n.effectiveVtepMac(), n.underlayIp, n.podSubnet});
  }
  std::sort(plan.peers.begin(), plan.peers.end(),
            [](const PeerPlan& a, const PeerPlan& b) { return a.name < b.name; });
  return plan;
}

PeerState desiredPeerState(const OverlayPlan& plan, int vtepIndex) {
  PeerState s;
  s.neighbours.reserve(plan.peers.size());
  s.fdb.reserve(plan.peers.size());
  s.routes.reserve(plan.peers.size());
  for (const PeerPlan& p : plan.peers) {
    s.neighbours.push_back(nl::Neighbour{vtepIndex, p.vtepIp, p.vtepMac});
    s.fdb.push_back(nl::FdbEntry{vtepIndex, p.vtepMac, p.underlayIp});
    s.routes.push_back(nl::Route{p.podSubnet, p.vtepIp, vtepIndex, true});
  }
  return s;
}

namespace {

using Op = nl::Netlink::Op;
using Kind = Op::Kind;

template <typename T>
std::set<T> toSet(const std::vector<T>& v) {
  return std::set<T>(v.begin(), v.end());
}

}  // namespace

std::vector<Op> diffPeerState(const PeerState& desired, const PeerState& actual) {
  std::vector<Op> ops;
  const auto desiredFdb = toSet(desired.fdb);
  std::set<Ipv4Prefix> wantedDst;
  for (const auto& r : desired.routes) {
    wantedDst.insert(r.dst);
  }
  std::set<Ipv4> wantedNeigh;
  for (const auto& n : desired.neighbours) {
    wantedNeigh.insert(n.ip);
  }

  // Deletions first, routes before FDB before neighbours, so nothing routes into a
  // half-removed peer. Neighbours are keyed by IP and routes by destination: a changed one is
  // replaced in place below, not deleted. An FDB entry is keyed by (MAC, remote): a stale
  // remote (a peer's old underlay IP, or an extra `bridge fdb append`) is deleted before the
  // right one is written, so no MAC ever keeps two remotes (VXLAN would send to both).
  for (const auto& r : actual.routes) {
    if (!wantedDst.contains(r.dst)) {
      ops.push_back(Op{Kind::kDeleteRoute, {}, {}, r});
    }
  }
  for (const auto& f : actual.fdb) {
    if (!desiredFdb.contains(f)) {
      ops.push_back(Op{Kind::kDeleteFdb, {}, f, {}});
    }
  }
  for (const auto& n : actual.neighbours) {
    if (!wantedNeigh.contains(n.ip)) {
      ops.push_back(Op{Kind::kDeleteNeighbour, n, {}, {}});
    }
  }

  // Adds and in-place changes: neighbour, then FDB, then route.
  const auto actualNeigh = toSet(actual.neighbours);
  const auto actualFdb = toSet(actual.fdb);
  const auto actualRoutes = toSet(actual.routes);
  for (const auto& n : desired.neighbours) {
    if (!actualNeigh.contains(n)) {
      ops.push_back(Op{Kind::kReplaceNeighbour, n, {}, {}});
    }
  }
  for (const auto& f : desired.fdb) {
    if (!actualFdb.contains(f)) {
      ops.push_back(Op{Kind::kReplaceFdb, {}, f, {}});
    }
  }
  for (const auto& r : desired.routes) {
    if (!actualRoutes.contains(r)) {
      ops.push_back(Op{Kind::kReplaceRoute, {}, {}, r});
    }
  }
  return ops;
}

void applyToState(PeerState& state, const nl::Netlink::Op& op) {
  auto eraseIf = [](auto& v, auto pred) { std::erase_if(v, pred); };
  switch (op.kind) {
    case Kind::kReplaceNeighbour:
      eraseIf(state.neighbours, [&](const nl::Neighbour& n) { return n.ip == op.neighbour.ip; });
      state.neighbours.push_back(op.neighbour);
      break;
    case Kind::kDeleteNeighbour:
      eraseIf(state.neighbours, [&](const nl::Neighbour& n) { return n.ip == op.neighbour.ip; });
      break;
    case Kind::kReplaceFdb:
      // NLM_F_REPLACE rewrites the MAC's (single, see diffPeerState) remote.
      eraseIf(state.fdb, [&](const nl::FdbEntry& f) { return f.mac == op.fdbEntry.mac; });
      state.fdb.push_back(op.fdbEntry);
      break;
    case Kind::kDeleteFdb:
      eraseIf(state.fdb, [&](const nl::FdbEntry& f) { return f == op.fdbEntry; });
      break;
    case Kind::kReplaceRoute:
      eraseIf(state.routes, [&](const nl::Route& r) { return r.dst == op.route.dst; });
      state.routes.push_back(op.route);
      break;
    case Kind::kDeleteRoute:
      eraseIf(state.routes, [&](const nl::Route& r) { return r.dst == op.route.dst; });
      break;
  }
}

}  // namespace ovl
