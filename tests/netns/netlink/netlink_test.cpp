// The Netlink facade's operations across object kinds (netlink/netlink.cpp) against the real
// kernel, in a throwaway namespace: the pipelined batch of neighbour, FDB and route writes, and
// the dumps that return only the entries of the interface asked for. iproute2 is the independent
// witness of every write.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <string>
#include <vector>

#include "netlink/netlink.h"
#include "tests/netns/netlink/netlink_fixture.h"

namespace ovl::nl {
namespace {

TEST_F(NetlinkTest, EntriesOnOtherInterfacesAreNotReturned) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  sh(ipn() + "link add other0 type veth peer name other0p");
  sh(ipn() + "link set other0p up");
  sh(ipn() + "link set other0 up");
  sh(ipn() + "link add vx2 type vxlan id 7 local 192.168.50.1 dev ul0 dstport 4789 nolearning");
  sh(ipn() + "link set vx2 up");
  sh(ipn() + "neigh replace 10.244.9.0 lladdr 02:00:00:00:09:09 dev other0 nud permanent");
  sh(ipn() + "neigh replace 10.244.9.1 lladdr 02:00:00:00:09:0a dev vx2 nud permanent");
  sh("bridge -n " + ns() + " fdb append 02:00:00:00:09:09 dev vx2 dst 192.168.50.9 self permanent");
  sh(ipn() + "route add 10.244.9.0/24 via 10.244.9.0 dev other0 onlink");
  sh(ipn() + "route add 10.244.10.0/24 via 10.244.10.0 dev vx2 onlink");
  // A non-permanent neighbour on the VTEP itself is not ovl's either.
  sh(ipn() + "neigh replace 10.244.11.0 lladdr 02:00:00:00:0b:0b dev vtep nud reachable");
  // Nor is a route on the VTEP in another table.
  sh(ipn() + "route add 10.244.12.0/24 via 10.244.12.0 dev vtep onlink table 100");

  auto neigh = nl_->neighbours(vtep);
  ASSERT_TRUE(neigh) << neigh.error().message;
  EXPECT_TRUE(neigh->empty());
  auto fdb = nl_->fdb(vtep);
  ASSERT_TRUE(fdb) << fdb.error().message;
  EXPECT_TRUE(fdb->empty());
  auto routes = nl_->routes(vtep);
  ASSERT_TRUE(routes) << routes.error().message;
  EXPECT_TRUE(routes->empty());

  // ...while the same reads of the other interfaces do see them.
  auto vx2 = nl_->linkByName("vx2");
  ASSERT_TRUE(vx2 && vx2->has_value());
  const int vx2Index = (*vx2)->index;
  EXPECT_EQ((*vx2)->vxlan->vni, 7u);
  EXPECT_EQ((*vx2)->vxlan->port, 4789);
  fdb = nl_->fdb(vx2Index);
  ASSERT_TRUE(fdb);
  EXPECT_EQ(sorted(*fdb),
            sorted<FdbEntry>({FdbEntry{vx2Index, mac("02:00:00:00:09:09"), ip("192.168.50.9")}}));
  neigh = nl_->neighbours(vx2Index);
  ASSERT_TRUE(neigh);
  EXPECT_EQ(sorted(*neigh),
            sorted<Neighbour>({Neighbour{vx2Index, ip("10.244.9.1"), mac("02:00:00:00:09:0a")}}));
  routes = nl_->routes(vx2Index);
  ASSERT_TRUE(routes);
  EXPECT_EQ(sorted(*routes),
            sorted<Route>({Route{prefix("10.244.10.0/24"), ip("10.244.10.0"), vx2Index, true}}));
}

TEST_F(NetlinkTest, ApplyBatchOfThousandPeers) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  constexpr int kPeers = 1000;
  std::vector<Netlink::Op> ops;
  for (int i = 0; i < kPeers; ++i) {
    const Peer p = peer(vtep, i);
    ops.push_back({Netlink::Op::Kind::kReplaceNeighbour, p.neigh, {}, {}});
    ops.push_back({Netlink::Op::Kind::kReplaceFdb, {}, p.fdb, {}});
    ops.push_back({Netlink::Op::Kind::kReplaceRoute, {}, {}, p.route});
  }
  auto results = nl_->applyBatch(ops);
  ASSERT_EQ(results.size(), ops.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i]) << i << ": " << results[i].error().message;
  }
  EXPECT_EQ(countLines(sh(ipn() + "route show dev vtep")), kPeers);
  EXPECT_EQ(countLines(sh(ipn() + "neigh show dev vtep nud permanent")), kPeers);
  EXPECT_EQ(countLines(sh("bridge -n " + ns() + " fdb show dev vtep | grep ' dst '")), kPeers);
  EXPECT_TRUE(has(sh(ipn() + "route show dev vtep"),
                  "10.4.231.0/24 via 10.4.231.0 proto 77 onlink"));  // peer 999

  auto routes = nl_->routes(vtep);
  ASSERT_TRUE(routes) << routes.error().message;
  EXPECT_EQ(routes->size(), static_cast<std::size_t>(kPeers));
  auto neigh = nl_->neighbours(vtep);
  ASSERT_TRUE(neigh) << neigh.error().message;
  EXPECT_EQ(neigh->size(), static_cast<std::size_t>(kPeers));
  auto fdb = nl_->fdb(vtep);
  ASSERT_TRUE(fdb) << fdb.error().message;
  ASSERT_EQ(fdb->size(), static_cast<std::size_t>(kPeers));
  const Peer last = peer(vtep, kPeers - 1);
  EXPECT_NE(std::find(fdb->begin(), fdb->end(), last.fdb), fdb->end());
  EXPECT_NE(std::find(routes->begin(), routes->end(), last.route), routes->end());
  EXPECT_NE(std::find(neigh->begin(), neigh->end(), last.neigh), neigh->end());

  // Applying the same batch again changes nothing and succeeds; then delete everything.
  results = nl_->applyBatch(ops);
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i]) << i << ": " << results[i].error().message;
  }
  std::vector<Netlink::Op> dels;
  for (int i = 0; i < kPeers; ++i) {
    const Peer p = peer(vtep, i);
    dels.push_back({Netlink::Op::Kind::kDeleteRoute, {}, {}, p.route});
    dels.push_back({Netlink::Op::Kind::kDeleteFdb, {}, p.fdb, {}});
    dels.push_back({Netlink::Op::Kind::kDeleteNeighbour, p.neigh, {}, {}});
  }
  results = nl_->applyBatch(dels);
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i]) << i << ": " << results[i].error().message;
  }
  EXPECT_EQ(sh(ipn() + "route show dev vtep"), "");
  EXPECT_EQ(sh(ipn() + "neigh show dev vtep nud permanent"), "");
  EXPECT_EQ(countLines(sh("bridge -n " + ns() + " fdb show dev vtep | grep ' dst ' || true")), 0);
}

TEST_F(NetlinkTest, ApplyBatchReportsEachFailureAndAppliesTheRest) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  sh(ipn() + "link add down0 type veth peer name down0p");  // stays down
  auto down = nl_->linkByName("down0");
  ASSERT_TRUE(down && down->has_value());
  const int downIndex = (*down)->index;

  std::vector<Netlink::Op> ops;
  for (int i = 0; i < 600; ++i) {  // more than one window
    ops.push_back({Netlink::Op::Kind::kReplaceRoute, {}, {}, peer(vtep, i).route});
  }
  const std::size_t badDown = 10;
  const std::size_t badMissing = 300;
  const std::size_t badDelete = 599;
  ops[badDown].route.index = downIndex;                   // onlink via a device that is down
  ops[badMissing].route.index = 9999;                     // no such device
  ops[badDelete].kind = Netlink::Op::Kind::kDeleteRoute;  // not there
  auto results = nl_->applyBatch(ops);
  ASSERT_EQ(results.size(), ops.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i == badDown || i == badMissing || i == badDelete) {
      ASSERT_FALSE(results[i]) << i;
      EXPECT_TRUE(has(results[i].error().message, ops[i].route.dst.toString())) << i;
    } else {
      EXPECT_TRUE(results[i]) << i << ": " << results[i].error().message;
    }
  }
  EXPECT_EQ(results[badDown].error().code, ENETDOWN) << results[badDown].error().message;
  EXPECT_TRUE(
      has(results[badDown].error().message, "replace route " + ops[badDown].route.toString()));
  EXPECT_EQ(results[badMissing].error().code, ENODEV);
  EXPECT_TRUE(results[badDelete].error().code == ESRCH ||
              results[badDelete].error().code == ENOENT);
  EXPECT_EQ(countLines(sh(ipn() + "route show dev vtep")), 597);
}

}  // namespace
}  // namespace ovl::nl
