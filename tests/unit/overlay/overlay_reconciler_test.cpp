#include "overlay/overlay_reconciler.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_overlay_kernel.h"

namespace ovl {
namespace {

using test::FakeKernel;

Node node(const std::string& name, const std::string& ul, const std::string& subnet) {
  return Node{name, *Ipv4::parse(ul), *Ipv4Prefix::parse(subnet), std::nullopt, {}};
}

Cluster cluster(int n) {
  Cluster c;
  c.network.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  for (int i = 1; i <= n; ++i) {
    c.nodes.push_back(node("node" + std::to_string(i), "192.168.50." + std::to_string(i),
                           "10.244." + std::to_string(i) + ".0/24"));
  }
  return c;
}

OverlayPlan plan(const Cluster& c) {
  return *planOverlay(c, "node1", PlanNames{"", "ovlbr0"});
}

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    eth0 = k.addLink(nl::Link{0, "eth0", "", *MacAddr::parse("02:00:00:00:01:01"), 1500, true,
                              std::nullopt, std::nullopt});
    k.addressList().push_back(nl::Address{eth0, *Ipv4Prefix::parse("192.168.50.1/24")});
  }
  FakeKernel k;
  int eth0 = 0;
};

TEST_F(ReconcilerTest, ColdStartBuildsVtepBridgeAndPeers) {
  OverlayReconciler r(k, "");
  auto rep = r.reconcile(plan(cluster(3)), false);
  ASSERT_TRUE(rep.ok()) << rep.errors[0].message;
  const nl::Link* vtep = k.link("ovl.1");
  ASSERT_NE(vtep, nullptr);
  EXPECT_EQ(vtep->mtu, 1450u);
  EXPECT_TRUE(vtep->up);
  EXPECT_EQ(vtep->mac, MacAddr::fromIdentity("node1"));
  EXPECT_EQ(vtep->vxlan->underlayIndex, eth0);
  EXPECT_EQ(vtep->vxlan->local->toString(), "192.168.50.1");
  EXPECT_FALSE(vtep->vxlan->learning);
  const nl::Link* br = k.link("ovlbr0");
  ASSERT_NE(br, nullptr);
  EXPECT_TRUE(br->up);
  EXPECT_EQ(br->mtu, 1450u);
  int withAddr = 0;
  for (const auto& a : k.addressList()) {
    withAddr += (a.index == vtep->index && a.local.toString() == "10.244.1.0/32") ||
                (a.index == br->index && a.local.toString() == "10.244.1.1/24");
  }
  EXPECT_EQ(withAddr, 2);
  EXPECT_EQ(k.peers(vtep->index).routes.size(), 2u);
  EXPECT_EQ(k.peers(vtep->index).fdb.size(), 2u);
  EXPECT_EQ(k.peers(vtep->index).neighbours.size(), 2u);
  EXPECT_EQ(rep.opsApplied, 6u);
}

TEST_F(ReconcilerTest, ConvergedStateCostsNoWritesAndIncrementalPassesNoReads) {
  OverlayReconciler r(k, "");
  ASSERT_TRUE(r.reconcile(plan(cluster(3)), false).ok());
  const int writes = k.writes, reads = k.reads, peerReads = k.peerReads;
  // A new node joins: only its three entries are written, nothing is read back.
  auto rep = r.reconcile(plan(cluster(4)), false);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(k.writes - writes, 3);
  EXPECT_EQ(k.reads, reads);
  EXPECT_EQ(k.peerReads, peerReads);
  // A full read of a converged kernel writes nothing.
  rep = r.reconcile(plan(cluster(4)), true);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(k.writes - writes, 3);
  EXPECT_TRUE(rep.actions.empty());
}

TEST_F(ReconcilerTest, IncrementalPassesTouchOnlyChangedPeersAndAgreeWithAFullRead) {
  OverlayReconciler r(k, "");
  ASSERT_TRUE(r.reconcile(plan(cluster(6)), false).ok());
  const int vtepIndex = *r.vtepIndex();
  Cluster c = cluster(6);
  c.nodes[3].underlayIp = *Ipv4::parse("192.168.50.44");  // node4 moved
  c.nodes.erase(c.nodes.begin() + 4);                     // node5 left
  c.nodes.push_back(node("node9", "192.168.50.9", "10.244.9.0/24"));
  const int writes = k.writes, peerReads = k.peerReads;
  auto rep = r.reconcile(plan(c), false);
  ASSERT_TRUE(rep.ok()) << rep.errors[0].message;
  // node4: old FDB entry deleted, new written; node5: 3 deleted; node9: 3 added.
  EXPECT_EQ(k.writes - writes, 8);
  EXPECT_EQ(k.peerReads, peerReads);
  PeerState kernel = k.peers(vtepIndex);
  sortPeerState(kernel);
  EXPECT_EQ(r.believedPeerState(), kernel);
  // The same plan again: nothing to do, incrementally or after a full read.
  EXPECT_EQ(r.reconcile(plan(c), false).opsApplied, 0u);
  rep = r.reconcile(plan(c), true);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep.opsApplied, 0u);
  EXPECT_EQ(k.writes - writes, 8);
}

TEST_F(ReconcilerTest, RestartAdoptsWhatTheKernelHoldsAndPrunesDeparted) {
  {
    OverlayReconciler first(k, "");
    ASSERT_TRUE(first.reconcile(plan(cluster(4)), false).ok());
  }
  const int vtepIndex = k.link("ovl.1")->index;
  const int writes = k.writes;
  // A new agent (the old one was killed); node4 left the cluster meanwhile.
  OverlayReconciler second(k, "");
  auto rep = second.reconcile(plan(cluster(3)), false);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(k.link("ovl.1")->index, vtepIndex) << "the VTEP must be adopted, not re-created";
  EXPECT_EQ(k.writes - writes, 3) << "only node4's route, FDB entry and neighbour go";
  EXPECT_EQ(k.peers(vtepIndex).routes.size(), 2u);
}

TEST_F(ReconcilerTest, DriftIsRepairedOnAFullRead) {
  OverlayReconciler r(k, "");
  ASSERT_TRUE(r.reconcile(plan(cluster(3)), false).ok());
  const int idx = k.link("ovl.1")->index;
  k.peers(idx).routes.erase(k.peers(idx).routes.begin());
  k.peers(idx).fdb.push_back(nl::FdbEntry{idx, MacAddr{}, *Ipv4::parse("192.168.50.77")});
  auto rep = r.reconcile(plan(cluster(3)), true);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(k.peers(idx).routes.size(), 2u);
  EXPECT_EQ(k.peers(idx).fdb.size(), 2u);
}

TEST_F(ReconcilerTest, MisconfiguredVtepIsRecreatedAndMtuFixedInPlace) {
  OverlayReconciler r(k, "");
  ASSERT_TRUE(r.reconcile(plan(cluster(2)), false).ok());
  // Someone changes the MTU: fixed in place.
  k.link("ovl.1")->mtu = 9000;
  int idx = k.link("ovl.1")->index;
  ASSERT_TRUE(r.reconcile(plan(cluster(2)), true).ok());
  EXPECT_EQ(k.link("ovl.1")->index, idx);
  EXPECT_EQ(k.link("ovl.1")->mtu, 1450u);
  // Someone re-creates it with another VNI: ovl re-creates it and rewrites the peers.
  k.link("ovl.1")->vxlan->vni = 99;
  auto rep = r.reconcile(plan(cluster(2)), true);
  ASSERT_TRUE(rep.ok());
  ASSERT_NE(k.link("ovl.1"), nullptr);
  EXPECT_NE(k.link("ovl.1")->index, idx);
  EXPECT_EQ(k.link("ovl.1")->vxlan->vni, 1u);
  EXPECT_EQ(k.peers(k.link("ovl.1")->index).routes.size(), 1u);
  bool said = false;
  for (const auto& a : rep.actions) {
    said |= a.find("VNI is 99") != std::string::npos;
  }
  EXPECT_TRUE(said);
}

TEST_F(ReconcilerTest, DeletedVtepIsRecreated) {
  OverlayReconciler r(k, "");
  ASSERT_TRUE(r.reconcile(plan(cluster(3)), false).ok());
  ASSERT_TRUE(k.deleteLink(k.link("ovl.1")->index));
  ASSERT_TRUE(r.reconcile(plan(cluster(3)), true).ok());
  ASSERT_NE(k.link("ovl.1"), nullptr);
  EXPECT_EQ(k.peers(k.link("ovl.1")->index).routes.size(), 2u);
}

TEST_F(ReconcilerTest, OneFailedWriteDoesNotStopTheRestAndIsRetried) {
  OverlayReconciler r(k, "");
  k.failOp = [](const nl::Netlink::Op& op) -> std::optional<Error> {
    if (op.kind == nl::Netlink::Op::Kind::kReplaceRoute &&
        op.route.dst.toString() == "10.244.2.0/24") {
      return Error::sys(EINVAL, "add route " + op.route.toString());
    }
    return std::nullopt;
  };
  auto rep = r.reconcile(plan(cluster(3)), false);
  ASSERT_EQ(rep.errors.size(), 1u);
  EXPECT_NE(rep.errors[0].message.find("10.244.2.0/24"), std::string::npos);
  const int idx = k.link("ovl.1")->index;
  EXPECT_EQ(k.peers(idx).routes.size(), 1u) << "node3's route is still written";
  k.failOp = nullptr;
  const int peerReads = k.peerReads;
  rep = r.reconcile(plan(cluster(3)), false);
  ASSERT_TRUE(rep.ok());
  EXPECT_GT(k.peerReads, peerReads) << "after a failure the kernel is read back, not trusted";
  EXPECT_EQ(k.peers(idx).routes.size(), 2u);
}

TEST_F(ReconcilerTest, MissingUnderlayIsAClearError) {
  OverlayReconciler named(k, "eth9");
  auto rep = named.reconcile(plan(cluster(2)), false);
  ASSERT_EQ(rep.errors.size(), 1u);
  EXPECT_NE(rep.errors[0].message.find("'eth9'"), std::string::npos);
  EXPECT_EQ(k.link("ovl.1"), nullptr) << "nothing is created without an underlay";

  k.addressList().clear();
  OverlayReconciler byIp(k, "");
  rep = byIp.reconcile(plan(cluster(2)), false);
  ASSERT_EQ(rep.errors.size(), 1u);
  EXPECT_NE(rep.errors[0].message.find("192.168.50.1"), std::string::npos);
}

TEST_F(ReconcilerTest, ConfiguredMtuWins) {
  Cluster c = cluster(2);
  c.network.mtu = 1400;
  OverlayReconciler r(k, "eth0");
  ASSERT_TRUE(r.reconcile(plan(c), false).ok());
  EXPECT_EQ(k.link("ovl.1")->mtu, 1400u);
}

TEST_F(ReconcilerTest, StaleAddressesOnOwnDevicesAreReplaced) {
  OverlayReconciler r(k, "");
  ASSERT_TRUE(r.reconcile(plan(cluster(2)), false).ok());
  const int br = k.link("ovlbr0")->index;
  k.addressList().push_back(nl::Address{br, *Ipv4Prefix::parse("10.244.7.1/24")});
  ASSERT_TRUE(r.reconcile(plan(cluster(2)), true).ok());
  int onBridge = 0;
  for (const auto& a : k.addressList()) {
    onBridge += a.index == br;
  }
  EXPECT_EQ(onBridge, 1);
}

TEST_F(ReconcilerTest, CleanupRemovesOnlyOvlDevices) {
  OverlayReconciler r(k, "");
  ASSERT_TRUE(r.reconcile(plan(cluster(2)), false).ok());
  auto rep = r.cleanup("ovl.1", "ovlbr0");
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(k.link("ovl.1"), nullptr);
  EXPECT_EQ(k.link("ovlbr0"), nullptr);
  EXPECT_NE(k.link("eth0"), nullptr);
}

nl::Event event(nl::Event::Kind kind, bool deleted, int index) {
  nl::Event e;
  e.kind = kind;
  e.deleted = deleted;
  e.index = index;
  return e;
}

TEST_F(ReconcilerTest, OwnWritesAreNotDriftButOthersChangesAre) {
  using K = nl::Event::Kind;
  OverlayReconciler r(k, "");
  ASSERT_TRUE(r.reconcile(plan(cluster(2)), false).ok());
  const int vtep = *r.vtepIndex();
  const nl::Route ours = k.peers(vtep).routes.at(0);
  const nl::FdbEntry ourFdb = k.peers(vtep).fdb.at(0);

  EXPECT_TRUE(r.eventMayBeDrift(event(K::kOverflow, false, 0)));
  // The notification of ovl's own write agrees with what it believes: no drift.
  auto added = event(K::kRoute, false, vtep);
  added.route = ours;
  EXPECT_FALSE(r.eventMayBeDrift(added));
  auto addedFdb = event(K::kNeighbour, false, vtep);
  addedFdb.fdb = ourFdb;
  EXPECT_FALSE(r.eventMayBeDrift(addedFdb));
  // Someone deleted ovl's route, or added an FDB entry ovl does not want: drift.
  auto deleted = added;
  deleted.deleted = true;
  EXPECT_TRUE(r.eventMayBeDrift(deleted));
  auto bogus = addedFdb;
  bogus.fdb->dst = *Ipv4::parse("192.168.50.99");
  EXPECT_TRUE(r.eventMayBeDrift(bogus));
  // A route of another table, or through another device, is not ovl's business.
  EXPECT_FALSE(r.eventMayBeDrift(event(K::kRoute, true, vtep)));
  auto elsewhere = deleted;
  elsewhere.index = 999;
  EXPECT_FALSE(r.eventMayBeDrift(elsewhere));
  // Links: ovl's own devices, and a device re-created under ovl's name, are checked.
  EXPECT_TRUE(r.eventMayBeDrift(event(K::kLink, true, vtep)));
  EXPECT_FALSE(r.eventMayBeDrift(event(K::kLink, false, 999)));
  auto renamed = event(K::kLink, false, 999);
  renamed.linkName = "ovl.1";
  EXPECT_TRUE(r.eventMayBeDrift(renamed));
}

}  // namespace
}  // namespace ovl

namespace ovl {
namespace {

class ReconcilerConflictTest : public ::testing::Test {
 protected:
  void SetUp() override {
    eth0 = k.addLink(nl::Link{0, "eth0", "", *MacAddr::parse("02:00:00:00:01:01"), 1500, true,
                              std::nullopt, std::nullopt});
    k.addressList().push_back(nl::Address{eth0, *Ipv4Prefix::parse("192.168.50.1/24")});
  }
  static Cluster twoNodes() {
    Cluster c;
    c.network.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
    c.nodes = {Node{"node1",
                    *Ipv4::parse("192.168.50.1"),
                    *Ipv4Prefix::parse("10.244.1.0/24"),
                    std::nullopt,
                    {}},
               Node{"node2",
                    *Ipv4::parse("192.168.50.2"),
                    *Ipv4Prefix::parse("10.244.2.0/24"),
                    std::nullopt,
                    {}}};
    return c;
  }
  static OverlayPlan planOf(const Cluster& c, const std::string& bridge = "ovlbr0") {
    return *planOverlay(c, "node1", PlanNames{"", bridge});
  }
  static bool mentions(const ReconcileReport& r, const std::string& text) {
    for (const auto& e : r.errors) {
      if (e.message.find(text) != std::string::npos) {
        return true;
      }
    }
    return false;
  }
  test::FakeKernel k;
  int eth0 = 0;
};

TEST_F(ReconcilerConflictTest, ForeignDevicesUnderOvlNamesAreNeverDeleted) {
  const int veth =
      k.addLink(nl::Link{0, "ovlbr0", "veth", MacAddr{}, 1500, true, std::nullopt, std::nullopt});
  OverlayReconciler r(k, "");
  auto rep = r.reconcile(planOf(twoNodes()), false);
  EXPECT_TRUE(mentions(rep, "not a bridge"));
  ASSERT_NE(k.link("ovlbr0"), nullptr);
  EXPECT_EQ(k.link("ovlbr0")->index, veth) << "someone else's device stays";
  EXPECT_EQ(k.peers(k.link("ovl.1")->index).routes.size(), 1u) << "peers are still programmed";

  k.addLink(nl::Link{0, "ovl.1", "", MacAddr{}, 1500, true, std::nullopt, std::nullopt});
  ASSERT_TRUE(k.deleteLink(k.link("ovl.1")->index));  // the VTEP above; now a plain device
  k.addLink(nl::Link{0, "ovl.1", "", MacAddr{}, 1500, true, std::nullopt, std::nullopt});
  rep = r.reconcile(planOf(twoNodes()), true);
  EXPECT_TRUE(mentions(rep, "not ovl's VTEP"));
  EXPECT_EQ(k.link("ovl.1")->kind, "");
}

TEST_F(ReconcilerConflictTest, UnderlayWithAnOvlNameIsRefused) {
  OverlayReconciler r(k, "eth0");
  auto rep = r.reconcile(planOf(twoNodes(), "eth0"), false);
  EXPECT_TRUE(mentions(rep, "underlay interface 'eth0' has the name ovl uses"));
  EXPECT_EQ(k.link("eth0")->kind, "") << "the underlay is untouched";
  EXPECT_EQ(k.link("ovl.1"), nullptr);
}

TEST_F(ReconcilerConflictTest, TooLargeMtuIsReportedClampedAndPeersStillProgrammed) {
  Cluster c = twoNodes();
  c.network.mtu = 1500;
  OverlayReconciler r(k, "");
  auto rep = r.reconcile(planOf(c), false);
  EXPECT_TRUE(mentions(rep, "network.mtu 1500 does not fit"));
  EXPECT_EQ(k.link("ovl.1")->mtu, 1450u);
  EXPECT_EQ(k.peers(k.link("ovl.1")->index).routes.size(), 1u);
}

TEST_F(ReconcilerConflictTest, PlanChangesOfTheDevicesApplyWithoutWaitingForAResync) {
  OverlayReconciler r(k, "");
  ASSERT_TRUE(r.reconcile(planOf(twoNodes()), false).ok());
  Cluster c = twoNodes();
  c.network.vni = 2;  // the VTEP becomes ovl.2
  auto rep = r.reconcile(planOf(c, "pods0"), false);
  ASSERT_TRUE(rep.ok()) << rep.errors[0].message;
  EXPECT_EQ(k.link("ovl.1"), nullptr) << "the former VTEP goes";
  EXPECT_EQ(k.link("ovlbr0"), nullptr) << "the former bridge goes";
  ASSERT_NE(k.link("ovl.2"), nullptr);
  EXPECT_EQ(k.link("ovl.2")->vxlan->vni, 2u);
  EXPECT_NE(k.link("pods0"), nullptr);
  EXPECT_EQ(k.peers(k.link("ovl.2")->index).routes.size(), 1u);
}

TEST_F(ReconcilerConflictTest, RouteReplacedOntoAnotherDeviceIsDrift) {
  OverlayReconciler r(k, "");
  ASSERT_TRUE(r.reconcile(planOf(twoNodes()), false).ok());
  nl::Event e;
  e.kind = nl::Event::Kind::kRoute;
  e.index = eth0;
  e.route = nl::Route{*Ipv4Prefix::parse("10.244.2.0/24"), Ipv4{}, eth0, false};
  EXPECT_TRUE(r.eventMayBeDrift(e));
  e.route->dst = *Ipv4Prefix::parse("10.9.0.0/16");
  EXPECT_FALSE(r.eventMayBeDrift(e)) << "not one of ovl's destinations";
}

}  // namespace
}  // namespace ovl
