// Permanent neighbours and FDB entries (netlink/neighbour.cpp) against the real kernel, in a
// throwaway namespace, with iproute2 (`ip neigh`, `bridge fdb`) as the independent witness.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "netlink/netlink.h"
#include "tests/netns/netlink/netlink_fixture.h"

namespace ovl::nl {
namespace {

TEST_F(NetlinkTest, ReplaceListAndDeleteNeighbour) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  Neighbour n{vtep, ip("10.244.2.0"), mac("02:aa:bb:cc:dd:02")};
  ASSERT_TRUE(nl_->replaceNeighbour(n));
  ASSERT_TRUE(nl_->replaceNeighbour(n));  // idempotent
  std::string shown = sh(ipn() + "neigh show dev vtep nud permanent");
  EXPECT_TRUE(has(shown, "10.244.2.0 lladdr 02:aa:bb:cc:dd:02 PERMANENT"));
  EXPECT_EQ(countLines(shown), 1);

  auto got = nl_->neighbours(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got), sorted<Neighbour>({n}));

  n.mac = mac("02:aa:bb:cc:dd:03");  // the peer's MAC changed
  ASSERT_TRUE(nl_->replaceNeighbour(n));
  EXPECT_TRUE(has(sh(ipn() + "neigh show dev vtep nud permanent"),
                  "10.244.2.0 lladdr 02:aa:bb:cc:dd:03 PERMANENT"));
  got = nl_->neighbours(vtep);
  ASSERT_TRUE(got);
  EXPECT_EQ(sorted(*got), sorted<Neighbour>({n}));

  ASSERT_TRUE(nl_->deleteNeighbour(n));
  EXPECT_EQ(sh(ipn() + "neigh show dev vtep nud permanent"), "");
  got = nl_->neighbours(vtep);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->empty());

  auto missing = nl_->deleteNeighbour(n);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_TRUE(has(missing.error().message, "delete neighbour 10.244.2.0"));
}

TEST_F(NetlinkTest, AppendReplaceListAndDeleteFdb) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  const MacAddr m = mac("02:aa:bb:cc:dd:02");
  const FdbEntry first{vtep, m, ip("192.168.50.2")};
  ASSERT_TRUE(nl_->appendFdb(first));
  const std::string fdbShow = "bridge -n " + ns() + " fdb show dev vtep";
  EXPECT_TRUE(has(sh(fdbShow), "02:aa:bb:cc:dd:02 dst 192.168.50.2 self permanent"));
  auto got = nl_->fdb(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got), sorted<FdbEntry>({first}));

  // Replace moves the MAC to another remote.
  const FdbEntry moved{vtep, m, ip("192.168.50.3")};
  ASSERT_TRUE(nl_->replaceFdb(moved));
  ASSERT_TRUE(nl_->replaceFdb(moved));  // idempotent
  std::string shown = sh(fdbShow);
  EXPECT_TRUE(has(shown, "02:aa:bb:cc:dd:02 dst 192.168.50.3 self permanent"));
  EXPECT_TRUE(lacks(shown, "192.168.50.2"));

  // The kernel keeps one remote per unicast MAC (append adds remotes only to the all-zeros
  // and multicast entries, the flood lists): appending another dst for m changes nothing...
  ASSERT_TRUE(nl_->appendFdb(FdbEntry{vtep, m, ip("192.168.50.4")}));
  got = nl_->fdb(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got), sorted<FdbEntry>({moved}));
  // ...while the all-zeros entry takes several remotes, each listed on its own.
  const FdbEntry flood1{vtep, MacAddr{}, ip("192.168.50.5")};
  const FdbEntry flood2{vtep, MacAddr{}, ip("192.168.50.6")};
  ASSERT_TRUE(nl_->appendFdb(flood1));
  ASSERT_TRUE(nl_->appendFdb(flood2));
  got = nl_->fdb(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got), sorted<FdbEntry>({moved, flood1, flood2}));

  ASSERT_TRUE(nl_->deleteFdb(flood2));
  shown = sh(fdbShow);
  EXPECT_TRUE(lacks(shown, "192.168.50.6"));
  EXPECT_TRUE(has(shown, "00:00:00:00:00:00 dst 192.168.50.5 self permanent"));
  EXPECT_TRUE(has(shown, "dst 192.168.50.3"));
  ASSERT_TRUE(nl_->deleteFdb(flood1));
  ASSERT_TRUE(nl_->deleteFdb(moved));
  EXPECT_TRUE(lacks(sh(fdbShow), "02:aa:bb:cc:dd:02"));
  got = nl_->fdb(vtep);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->empty());

  auto missing = nl_->deleteFdb(moved);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_TRUE(has(missing.error().message, "02:aa:bb:cc:dd:02 dst 192.168.50.3"));
}

}  // namespace
}  // namespace ovl::nl
