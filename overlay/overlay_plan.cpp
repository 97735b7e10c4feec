#include "overlay/overlay_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

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
  // By pod subnet: the desired neighbours and routes then come out in the order diffing
  // needs, and subnets are unique (validated), so the order is total.
  std::sort(plan.peers.begin(), plan.peers.end(),
            [](const PeerPlan& a, const PeerPlan& b) { return a.podSubnet < b.podSubnet; });
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

// Each kind of entry has a key the kernel keeps unique on a device (a neighbour's IP, a route's
// destination, an FDB entry's MAC and remote); the diff is a merge of two lists sorted by key,
// O(n log n) for the sort and linear after, with no per-entry allocation.
// Keys packed into integers: sorting thousands of entries each pass must be cheap.
using Key = std::pair<uint64_t, uint64_t>;
uint64_t macBits(const MacAddr& m) {
  uint64_t v = 0;
  for (uint8_t b : m.bytes) {
    v = (v << 8) | b;
  }
  return v;
}
Key neighKey(const nl::Neighbour& n) {
  return {static_cast<uint32_t>(n.index), n.ip.value};
}
Key routeKey(const nl::Route& r) {
  return {static_cast<uint32_t>(r.index), (uint64_t{r.dst.addr.value} << 8) | r.dst.len};
}
Key fdbKey(const nl::FdbEntry& f) {
  return {macBits(f.mac), (uint64_t{static_cast<uint32_t>(f.index)} << 32) | f.dst.value};
}

// The entries with their keys, computed once, sorted by key (then by value, for duplicates).
template <typename T>
using Keyed = std::vector<std::pair<Key, T>>;

template <typename T, typename KeyFn>
Keyed<T> sortedBy(const std::vector<T>& v, KeyFn key) {
  Keyed<T> out;
  out.reserve(v.size());
  for (const T& x : v) {
    out.emplace_back(key(x), x);
  }
  // Already sorted for the neighbours and routes the planner makes: one linear check then.
  if (!std::is_sorted(out.begin(), out.end())) {
    std::sort(out.begin(), out.end());
  }
  return out;
}

// Calls onlyInA(a) for each element of `a` whose key no element of `b` has, and pairs(a, b) for
// elements with equal keys.
template <typename T, typename OnlyInA, typename Pair>
void mergeByKey(const Keyed<T>& a, const Keyed<T>& b, OnlyInA onlyInA, Pair pairs) {
  auto ib = b.begin();
  for (const auto& [key, value] : a) {
    while (ib != b.end() && ib->first < key) {
      ++ib;
    }
    if (ib != b.end() && ib->first == key) {
      pairs(value, ib->second);
    } else {
      onlyInA(value);
    }
  }
}

}  // namespace

std::vector<Op> diffPeerState(const PeerState& desiredIn, const PeerState& actualIn) {
  const auto desNeigh = sortedBy(desiredIn.neighbours, neighKey);
  const auto actNeigh = sortedBy(actualIn.neighbours, neighKey);
  const auto desFdb = sortedBy(desiredIn.fdb, fdbKey);
  const auto actFdb = sortedBy(actualIn.fdb, fdbKey);
  const auto desRoutes = sortedBy(desiredIn.routes, routeKey);
  const auto actRoutes = sortedBy(actualIn.routes, routeKey);
  const auto none = [](const auto&, const auto&) {};
  std::vector<Op> ops;

  // Deletions first, routes before FDB before neighbours, so nothing routes into a
  // half-removed peer. Neighbours are keyed by IP and routes by destination: a changed one is
  // replaced in place below, not deleted. An FDB entry is keyed by (MAC, remote): a stale
  // remote (a peer's old underlay IP, or an extra `bridge fdb append`) is deleted before the
  // right one is written, so no MAC ever keeps two remotes (VXLAN would send to both).
  mergeByKey(
      actRoutes, desRoutes,
      [&](const nl::Route& r) {
        ops.push_back(Op{Kind::kDeleteRoute, {}, {}, r});
      },
      none);
  mergeByKey(
      actFdb, desFdb,
      [&](const nl::FdbEntry& f) {
        ops.push_back(Op{Kind::kDeleteFdb, {}, f, {}});
      },
      none);
  mergeByKey(
      actNeigh, desNeigh,
      [&](const nl::Neighbour& n) {
        ops.push_back(Op{Kind::kDeleteNeighbour, n, {}, {}});
      },
      none);

  // Adds and in-place changes: neighbour, then FDB, then route.
  mergeByKey(
      desNeigh, actNeigh,
      [&](const nl::Neighbour& n) {
        ops.push_back(Op{Kind::kReplaceNeighbour, n, {}, {}});
      },
      [&](const nl::Neighbour& want, const nl::Neighbour& have) {
        if (!(want == have)) {
          ops.push_back(Op{Kind::kReplaceNeighbour, want, {}, {}});
        }
      });
  mergeByKey(
      desFdb, actFdb,
      [&](const nl::FdbEntry& f) {
        ops.push_back(Op{Kind::kReplaceFdb, {}, f, {}});
      },
      none);
  mergeByKey(
      desRoutes, actRoutes,
      [&](const nl::Route& r) {
        ops.push_back(Op{Kind::kReplaceRoute, {}, {}, r});
      },
      [&](const nl::Route& want, const nl::Route& have) {
        if (!(want == have)) {
          ops.push_back(Op{Kind::kReplaceRoute, {}, {}, want});
        }
      });
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
