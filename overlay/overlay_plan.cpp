#include "overlay/overlay_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
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

namespace {

using Op = nl::Netlink::Op;
using Kind = Op::Kind;

// Each kind of entry has a key the kernel keeps unique on a device (a neighbour's IP, a route's
// destination, an FDB entry's MAC and remote); the diff is a merge of two lists sorted by key.
// Keys packed into integers: comparing thousands of entries each pass must be cheap.
using Key = std::pair<uint64_t, uint64_t>;
uint64_t macBits(const MacAddr& m) {
  uint64_t v = 0;
  for (uint8_t b : m.bytes) {
    v = (v << 8) | b;
  }
  return v;
}
Key entryKey(const nl::Neighbour& n) {
  return {static_cast<uint32_t>(n.index), n.ip.value};
}
Key entryKey(const nl::Route& r) {
  return {static_cast<uint32_t>(r.index), (uint64_t{r.dst.addr.value} << 8) | r.dst.len};
}
Key entryKey(const nl::FdbEntry& f) {
  return {macBits(f.mac), (uint64_t{static_cast<uint32_t>(f.index)} << 32) | f.dst.value};
}

struct ByKey {
  template <typename T>
  bool operator()(const T& a, const T& b) const {
    const Key ka = entryKey(a);
    const Key kb = entryKey(b);
    return ka < kb || (ka == kb && a < b);
  }
};

// One peer's entries, as desiredPeerState() makes them.
nl::Neighbour neighbourOf(const PeerPlan& p, int vtepIndex) {
  return nl::Neighbour{vtepIndex, p.vtepIp, p.vtepMac};
}
nl::FdbEntry fdbOf(const PeerPlan& p, int vtepIndex) {
  return nl::FdbEntry{vtepIndex, p.vtepMac, p.underlayIp};
}
nl::Route routeOf(const PeerPlan& p, int vtepIndex) {
  return nl::Route{p.podSubnet, p.vtepIp, vtepIndex, true};
}

template <typename T>
void sortByKey(std::vector<T>& v) {
  if (!std::is_sorted(v.begin(), v.end(), ByKey{})) {
    std::sort(v.begin(), v.end(), ByKey{});
  }
}

// `v` itself when it is in key order (the reconciler keeps its lists so), else a sorted copy.
template <typename T>
const std::vector<T>& inKeyOrder(const std::vector<T>& v, std::vector<T>& copy) {
  if (std::is_sorted(v.begin(), v.end(), ByKey{})) {
    return v;
  }
  copy = v;
  std::sort(copy.begin(), copy.end(), ByKey{});
  return copy;
}

// Calls onlyInA(a) for each element of `a` whose key no element of `b` has, and pairs(a, b) for
// elements with equal keys. Both in key order.
template <typename T, typename OnlyInA, typename Pair>
void mergeByKey(const std::vector<T>& a, const std::vector<T>& b, OnlyInA onlyInA, Pair pairs) {
  auto ib = b.begin();
  for (const T& x : a) {
    const Key key = entryKey(x);
    while (ib != b.end() && entryKey(*ib) < key) {
      ++ib;
    }
    if (ib != b.end() && entryKey(*ib) == key) {
      pairs(x, *ib);
    } else {
      onlyInA(x);
    }
  }
}

// Erases the entries whose key lies in [lo, hi] from a list in key order.
template <typename T>
typename std::vector<T>::iterator eraseKeys(std::vector<T>& v, Key lo, Key hi) {
  auto first =
      std::partition_point(v.begin(), v.end(), [&](const T& x) { return entryKey(x) < lo; });
  auto last = std::partition_point(first, v.end(), [&](const T& x) { return !(hi < entryKey(x)); });
  return v.erase(first, last);
}

template <typename T>
void insertSorted(std::vector<T>& v, const T& x) {
  v.insert(std::upper_bound(v.begin(), v.end(), x, ByKey{}), x);
}

// Erases one entry equal to x (desired lists may repeat one: peers sharing a MAC).
template <typename T>
bool eraseOne(std::vector<T>& v, const T& x) {
  auto it = std::lower_bound(v.begin(), v.end(), x, ByKey{});
  if (it == v.end() || !(*it == x)) {
    return false;
  }
  v.erase(it);
  return true;
}

}  // namespace

PeerState desiredPeerState(const OverlayPlan& plan, int vtepIndex) {
  PeerState s;
  s.neighbours.reserve(plan.peers.size());
  s.fdb.reserve(plan.peers.size());
  s.routes.reserve(plan.peers.size());
  for (const PeerPlan& p : plan.peers) {
    s.neighbours.push_back(neighbourOf(p, vtepIndex));
    s.fdb.push_back(fdbOf(p, vtepIndex));
    s.routes.push_back(routeOf(p, vtepIndex));
  }
  return s;
}

bool peerEntryLess(const nl::Neighbour& a, const nl::Neighbour& b) {
  return ByKey{}(a, b);
}
bool peerEntryLess(const nl::FdbEntry& a, const nl::FdbEntry& b) {
  return ByKey{}(a, b);
}
bool peerEntryLess(const nl::Route& a, const nl::Route& b) {
  return ByKey{}(a, b);
}

void sortPeerState(PeerState& state) {
  sortByKey(state.neighbours);
  sortByKey(state.fdb);
  sortByKey(state.routes);
}

std::vector<Op> diffPeerState(const PeerState& desiredIn, const PeerState& actualIn) {
  PeerState copies;  // used only for lists not in key order
  const auto& desNeigh = inKeyOrder(desiredIn.neighbours, copies.neighbours);
  const auto& desFdb = inKeyOrder(desiredIn.fdb, copies.fdb);
  const auto& desRoutes = inKeyOrder(desiredIn.routes, copies.routes);
  PeerState actualCopies;
  const auto& actNeigh = inKeyOrder(actualIn.neighbours, actualCopies.neighbours);
  const auto& actFdb = inKeyOrder(actualIn.fdb, actualCopies.fdb);
  const auto& actRoutes = inKeyOrder(actualIn.routes, actualCopies.routes);
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
  switch (op.kind) {
    case Kind::kReplaceNeighbour:
      eraseKeys(state.neighbours, entryKey(op.neighbour), entryKey(op.neighbour));
      insertSorted(state.neighbours, op.neighbour);
      break;
    case Kind::kDeleteNeighbour:
      eraseKeys(state.neighbours, entryKey(op.neighbour), entryKey(op.neighbour));
      break;
    case Kind::kReplaceFdb: {
      // NLM_F_REPLACE rewrites the MAC's (single, see diffPeerState) remote: every key with
      // this MAC goes.
      const uint64_t mac = macBits(op.fdbEntry.mac);
      eraseKeys(state.fdb, Key{mac, 0}, Key{mac, UINT64_MAX});
      insertSorted(state.fdb, op.fdbEntry);
      break;
    }
    case Kind::kDeleteFdb:
      eraseKeys(state.fdb, entryKey(op.fdbEntry), entryKey(op.fdbEntry));
      break;
    case Kind::kReplaceRoute:
      eraseKeys(state.routes, entryKey(op.route), entryKey(op.route));
      insertSorted(state.routes, op.route);
      break;
    case Kind::kDeleteRoute:
      eraseKeys(state.routes, entryKey(op.route), entryKey(op.route));
      break;
  }
}

namespace {

bool strictlyBySubnet(const std::vector<PeerPlan>& peers) {
  return std::adjacent_find(peers.begin(), peers.end(), [](const PeerPlan& a, const PeerPlan& b) {
           return !(a.podSubnet < b.podSubnet);
         }) == peers.end();
}

void removePeer(PeerState& s, const PeerPlan& p, int vtepIndex) {
  eraseOne(s.neighbours, neighbourOf(p, vtepIndex));
  eraseOne(s.fdb, fdbOf(p, vtepIndex));
  eraseOne(s.routes, routeOf(p, vtepIndex));
}

void addPeer(PeerState& s, const PeerPlan& p, int vtepIndex) {
  insertSorted(s.neighbours, neighbourOf(p, vtepIndex));
  insertSorted(s.fdb, fdbOf(p, vtepIndex));
  insertSorted(s.routes, routeOf(p, vtepIndex));
}

}  // namespace

bool updateDesiredPeerState(PeerState& desired, const std::vector<PeerPlan>& before,
                            const std::vector<PeerPlan>& after, int vtepIndex) {
  if (!strictlyBySubnet(before) || !strictlyBySubnet(after)) {
    OverlayPlan plan;
    plan.peers = after;
    PeerState rebuilt = desiredPeerState(plan, vtepIndex);
    sortPeerState(rebuilt);
    const bool changed = !(rebuilt == desired);
    desired = std::move(rebuilt);
    return changed;
  }
  bool changed = false;
  auto b = before.begin();
  auto a = after.begin();
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->podSubnet < a->podSubnet)) {
      removePeer(desired, *b++, vtepIndex);
      changed = true;
    } else if (b == before.end() || a->podSubnet < b->podSubnet) {
      addPeer(desired, *a++, vtepIndex);
      changed = true;
    } else {
      if (!(*a == *b)) {
        removePeer(desired, *b, vtepIndex);
        addPeer(desired, *a, vtepIndex);
        changed = true;
      }
      ++a;
      ++b;
    }
  }
  return changed;
}

}  // namespace ovl
