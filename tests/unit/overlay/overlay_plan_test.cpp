#include "overlay/overlay_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>

namespace ovl {
namespace {

using Kind = nl::Netlink::Op::Kind;

Node node(const std::string& name, const std::string& ul, const std::string& subnet) {
  return Node{name, *Ipv4::parse(ul), *Ipv4Prefix::parse(subnet), std::nullopt, {}};
}

Cluster threeNodes() {
  Cluster c;
  c.network.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  c.network.vni = 7;
  c.nodes = {node("node3", "192.168.50.3", "10.244.3.0/24"),
             node("node1", "192.168.50.1", "10.244.1.0/24"),
             node("node2", "192.168.50.2", "10.244.2.0/24")};
  return c;
}

std::vector<Kind> kinds(const std::vector<nl::Netlink::Op>& ops) {
  std::vector<Kind> k;
  for (const auto& o : ops) {
    k.push_back(o.kind);
  }
  return k;
}

TEST(PlanOverlay, DerivesVtepBridgeAndSortedPeers) {
  auto plan = planOverlay(threeNodes(), "node1", PlanNames{"", "ovlbr0"});
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->vtepName, "ovl.7");
  EXPECT_EQ(plan->vni, 7u);
  EXPECT_EQ(plan->vtepAddress.toString(), "10.244.1.0/32");
  EXPECT_EQ(plan->bridgeAddress.toString(), "10.244.1.1/24");
  EXPECT_EQ(plan->vtepMac, MacAddr::fromIdentity("node1"));
  ASSERT_EQ(plan->peers.size(), 2u);
  EXPECT_EQ(plan->peers[0].name, "node2");
  EXPECT_EQ(plan->peers[0].vtepIp.toString(), "10.244.2.0");
  EXPECT_EQ(plan->peers[0].underlayIp.toString(), "192.168.50.2");
  EXPECT_EQ(plan->peers[0].vtepMac, MacAddr::fromIdentity("node2"));
  EXPECT_EQ(plan->peers[1].name, "node3");
}

TEST(PlanOverlay, HonoursNamesAndMacOverride) {
  Cluster c = threeNodes();
  c.nodes[2].vtepMac = MacAddr::parse("02:00:00:00:00:02");
  auto plan = planOverlay(c, "node1", PlanNames{"vx0", "br9"});
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->vtepName, "vx0");
  EXPECT_EQ(plan->bridgeName, "br9");
  EXPECT_EQ(plan->peers[0].vtepMac.toString(), "02:00:00:00:00:02");
}

TEST(PlanOverlay, FailsWhenThisNodeHasNoEntry) {
  auto plan = planOverlay(threeNodes(), "node9", PlanNames{"", "ovlbr0"});
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().message.find("node9"), std::string::npos);
}

TEST(DiffPeerState, ColdAddsNeighbourFdbRouteInThatOrder) {
  auto plan = *planOverlay(threeNodes(), "node1", PlanNames{"", "ovlbr0"});
  auto desired = desiredPeerState(plan, 5);
  ASSERT_EQ(desired.routes.size(), 2u);
  EXPECT_EQ(desired.routes[0].toString(), "10.244.2.0/24 via 10.244.2.0 dev #5 onlink");
  auto ops = diffPeerState(desired, PeerState{});
  EXPECT_EQ(kinds(ops),
            (std::vector<Kind>{Kind::kReplaceNeighbour, Kind::kReplaceNeighbour, Kind::kReplaceFdb,
                               Kind::kReplaceFdb, Kind::kReplaceRoute, Kind::kReplaceRoute}));
  EXPECT_TRUE(diffPeerState(desired, desired).empty());
}

TEST(DiffPeerState, RemovedPeerGoesRouteFirst) {
  Cluster c = threeNodes();
  auto before = desiredPeerState(*planOverlay(c, "node1", PlanNames{"", "b"}), 5);
  c.nodes.erase(c.nodes.begin());  // node3 leaves
  auto after = desiredPeerState(*planOverlay(c, "node1", PlanNames{"", "b"}), 5);
  auto ops = diffPeerState(after, before);
  ASSERT_EQ(kinds(ops),
            (std::vector<Kind>{Kind::kDeleteRoute, Kind::kDeleteFdb, Kind::kDeleteNeighbour}));
  EXPECT_EQ(ops[0].route.dst.toString(), "10.244.3.0/24");
  EXPECT_EQ(ops[1].fdbEntry.dst.toString(), "192.168.50.3");
  EXPECT_EQ(ops[2].neighbour.ip.toString(), "10.244.3.0");
}

TEST(DiffPeerState, MovedUnderlayRewritesOnlyTheFdbEntry) {
  Cluster c = threeNodes();
  auto before = desiredPeerState(*planOverlay(c, "node1", PlanNames{"", "b"}), 5);
  c.nodes[2].underlayIp = *Ipv4::parse("192.168.50.22");  // node2 moved
  auto after = desiredPeerState(*planOverlay(c, "node1", PlanNames{"", "b"}), 5);
  auto ops = diffPeerState(after, before);
  ASSERT_EQ(kinds(ops), (std::vector<Kind>{Kind::kDeleteFdb, Kind::kReplaceFdb}));
  EXPECT_EQ(ops[0].fdbEntry.dst.toString(), "192.168.50.2");
  EXPECT_EQ(ops[1].fdbEntry.dst.toString(), "192.168.50.22");
}

TEST(DiffPeerState, BogusEntriesAreDeletedAndNothingElseTouched) {
  auto desired = desiredPeerState(*planOverlay(threeNodes(), "node1", PlanNames{"", "b"}), 5);
  PeerState actual = desired;
  // An extra remote for a good MAC, a flood entry, a foreign route and a stray neighbour.
  actual.fdb.push_back(nl::FdbEntry{5, desired.fdb[0].mac, *Ipv4::parse("192.168.50.99")});
  actual.fdb.push_back(nl::FdbEntry{5, MacAddr{}, *Ipv4::parse("192.168.50.98")});
  actual.routes.push_back(
      nl::Route{*Ipv4Prefix::parse("10.9.0.0/16"), *Ipv4::parse("10.244.2.0"), 5, true});
  actual.neighbours.push_back(
      nl::Neighbour{5, *Ipv4::parse("10.244.9.0"), *MacAddr::parse("02:00:00:00:00:09")});
  auto ops = diffPeerState(desired, actual);
  EXPECT_EQ(kinds(ops), (std::vector<Kind>{Kind::kDeleteRoute, Kind::kDeleteFdb, Kind::kDeleteFdb,
                                           Kind::kDeleteNeighbour}));
}

TEST(DiffPeerState, ApplyingTheDiffAlwaysReachesTheDesiredState) {
  // Random desired and actual states over a small universe, so collisions of keys (same IP,
  // same MAC, same destination) are frequent.
  std::mt19937 rng(42);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto randomState = [&](bool unique) {
    PeerState s;
    for (int i = 0, n = pick(6); i < n; ++i) {
      Ipv4 ip{0x0af40000u + static_cast<uint32_t>(pick(4)) * 256};
      MacAddr mac = MacAddr::fromIdentity(std::to_string(pick(4)));
      Ipv4 ul{0xc0a83200u + static_cast<uint32_t>(pick(3))};
      if (unique) {  // desired states never repeat a key
        ip = Ipv4{0x0af40000u + static_cast<uint32_t>(i) * 256};
        // Formatted, not "u" + std::to_string(i): GCC 12 at -O3 (a Release build) reports a
        // false -Wrestrict in that operator+ (GCC bugs 105329, 105651).
        mac = MacAddr::fromIdentity(fmt::format("u{}", i));
      }
      // As the kernel holds them: one neighbour per IP, one route per destination, one remote
      // per ordinary MAC (`bridge fdb append` adds remotes only to the all-zero MAC).
      auto sameIp = [&](const nl::Neighbour& x) { return x.ip == ip; };
      if (std::none_of(s.neighbours.begin(), s.neighbours.end(), sameIp)) {
        s.neighbours.push_back({5, ip, mac});
        s.routes.push_back({Ipv4Prefix{ip, 24}, ip, 5, true});
      }
      auto sameMac = [&](const nl::FdbEntry& x) { return x.mac == mac; };
      if (std::none_of(s.fdb.begin(), s.fdb.end(), sameMac)) {
        s.fdb.push_back({5, mac, ul});
      }
      if (!unique && pick(3) == 0) {
        s.fdb.push_back({5, MacAddr{}, ul});  // flood entries: never wanted by ovl
      }
    }
    std::sort(s.fdb.begin(), s.fdb.end());
    auto end = std::unique(s.fdb.begin(), s.fdb.end());
    s.fdb.erase(end, s.fdb.end());
    return s;
  };
  auto sorted = [](PeerState s) {
    std::sort(s.neighbours.begin(), s.neighbours.end());
    std::sort(s.fdb.begin(), s.fdb.end());
    std::sort(s.routes.begin(), s.routes.end());
    return s;
  };
  for (int round = 0; round < 2000; ++round) {
    PeerState desired = randomState(true);
    PeerState actual = randomState(false);
    PeerState state = actual;
    sortPeerState(state);  // applyToState's precondition; the diff takes any order
    for (const auto& op : diffPeerState(desired, actual)) {
      applyToState(state, op);
    }
    ASSERT_EQ(sorted(state), sorted(desired)) << "round " << round;
    PeerState keyOrder = state;
    sortPeerState(keyOrder);
    ASSERT_EQ(state, keyOrder) << "applyToState must keep the key order, round " << round;
    EXPECT_TRUE(diffPeerState(desired, state).empty());
  }
}

TEST(SortPeerState, OrdersByKeyAndTheDiffIsTheSameInAnyOrder) {
  auto desired = desiredPeerState(*planOverlay(threeNodes(), "node1", PlanNames{"", "b"}), 5);
  PeerState actual = desired;
  actual.fdb.push_back(nl::FdbEntry{5, MacAddr{}, *Ipv4::parse("192.168.50.98")});
  actual.routes.push_back(
      nl::Route{*Ipv4Prefix::parse("10.9.0.0/16"), *Ipv4::parse("10.244.2.0"), 5, true});
  actual.neighbours.insert(actual.neighbours.begin(), nl::Neighbour{5, *Ipv4::parse("10.244.9.0"),
                                                                    MacAddr::fromIdentity("x")});
  std::reverse(desired.fdb.begin(), desired.fdb.end());
  const auto unsortedOps = diffPeerState(desired, actual);
  PeerState sortedDesired = desired, sortedActual = actual;
  sortPeerState(sortedDesired);
  sortPeerState(sortedActual);
  for (const PeerState* s : {&sortedDesired, &sortedActual}) {
    EXPECT_TRUE(std::is_sorted(s->neighbours.begin(), s->neighbours.end(),
                               [](const auto& a, const auto& b) { return peerEntryLess(a, b); }));
    EXPECT_TRUE(std::is_sorted(s->fdb.begin(), s->fdb.end(),
                               [](const auto& a, const auto& b) { return peerEntryLess(a, b); }));
    EXPECT_TRUE(std::is_sorted(s->routes.begin(), s->routes.end(),
                               [](const auto& a, const auto& b) { return peerEntryLess(a, b); }));
  }
  EXPECT_EQ(sortedActual.neighbours.back().ip.toString(), "10.244.9.0");
  EXPECT_EQ(sortedActual.fdb.front().mac, MacAddr{});  // the all-zero MAC sorts first
  const auto sortedOps = diffPeerState(sortedDesired, sortedActual);
  ASSERT_EQ(kinds(sortedOps), kinds(unsortedOps));
  for (size_t i = 0; i < sortedOps.size(); ++i) {
    EXPECT_EQ(sortedOps[i].toString(), unsortedOps[i].toString());
  }
  PeerState again = sortedActual;
  sortPeerState(again);
  EXPECT_EQ(again, sortedActual);
}

TEST(ApplyToState, ReplacedFdbEntryTakesThePlaceOfEveryRemoteOfItsMac) {
  const MacAddr mac = MacAddr::fromIdentity("n");
  PeerState s;
  s.fdb = {{5, mac, *Ipv4::parse("192.168.50.2")}, {5, mac, *Ipv4::parse("192.168.50.3")}};
  sortPeerState(s);
  const nl::FdbEntry want{5, mac, *Ipv4::parse("192.168.50.1")};
  applyToState(s, nl::Netlink::Op{Kind::kReplaceFdb, {}, want, {}});
  EXPECT_EQ(s.fdb, std::vector<nl::FdbEntry>{want});
  applyToState(s, nl::Netlink::Op{Kind::kDeleteFdb, {}, want, {}});
  EXPECT_TRUE(s.fdb.empty());
}

// Random peer lists over a small universe of subnets, MACs and underlay IPs, sorted by subnet
// as planOverlay() makes them; MACs collide often (a configured vtepMac may repeat one).
std::vector<PeerPlan> randomPeers(std::mt19937& rng) {
  auto pick = [&](unsigned n) { return rng() % n; };
  std::vector<PeerPlan> peers;
  for (uint32_t subnet = 0; subnet < 12; ++subnet) {
    if (pick(2) == 0) {
      continue;
    }
    Ipv4Prefix net{Ipv4{0x0af40000u + subnet * 256}, 24};
    peers.push_back(PeerPlan{fmt::format("n{}", pick(3)), net.network(),
                             MacAddr::fromIdentity(fmt::format("m{}", pick(4))),
                             Ipv4{0xc0a83200u + static_cast<uint32_t>(pick(3))}, net});
  }
  return peers;
}

PeerState sortedDesired(const std::vector<PeerPlan>& peers, int vtepIndex) {
  OverlayPlan plan;
  plan.peers = peers;
  PeerState s = desiredPeerState(plan, vtepIndex);
  sortPeerState(s);
  return s;
}

TEST(UpdateDesiredPeerState, TouchesOnlyChangedPeersAndMatchesARebuild) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    const auto before = randomPeers(rng);
    auto after = round % 4 == 0 ? before : randomPeers(rng);
    if (round % 4 == 1 && !before.empty()) {  // one peer moved: the common change
      after = before;
      after[rng() % after.size()].underlayIp = Ipv4{0xc0a832ffu};
    }
    PeerState state = sortedDesired(before, 5);
    const bool changed = updateDesiredPeerState(state, before, after, 5);
    ASSERT_EQ(state, sortedDesired(after, 5)) << "round " << round;
    EXPECT_EQ(changed, before != after) << "round " << round;
  }
}

TEST(UpdateDesiredPeerState, UnsortedPeerListsAreRebuiltInFull) {
  std::mt19937 rng(3);
  auto before = randomPeers(rng);
  auto after = randomPeers(rng);
  PeerState state = sortedDesired(before, 5);
  std::reverse(before.begin(), before.end());
  std::reverse(after.begin(), after.end());
  ASSERT_GT(after.size(), 1u);
  updateDesiredPeerState(state, before, after, 5);
  EXPECT_EQ(state, sortedDesired(after, 5));
}

}  // namespace
}  // namespace ovl
