// IPv4 addresses (netlink/address.cpp) against the real kernel, in a throwaway namespace, with
// iproute2 as the independent witness.
#include <gtest/gtest.h>

#include "netlink/netlink.h"
#include "tests/netns/netlink/netlink_fixture.h"

namespace ovl::nl {
namespace {

TEST_F(NetlinkTest, AddListAndDeleteAddress) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  const Address a{vtep, prefix("10.244.1.0/32")};
  ASSERT_TRUE(nl_->addAddress(a));
  EXPECT_TRUE(has(sh(ipn() + "-4 addr show dev vtep"), "inet 10.244.1.0/32 "));

  auto mine = nl_->addresses(vtep);
  ASSERT_TRUE(mine) << mine.error().message;
  EXPECT_EQ(sorted(*mine), sorted<Address>({a}));
  auto all = nl_->addresses();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(sorted(*all), sorted<Address>({a, Address{underlay_, prefix("192.168.50.1/24")},
                                           Address{1, prefix("127.0.0.1/8")}}));

  auto again = nl_->addAddress(a);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  EXPECT_TRUE(has(again.error().message, "10.244.1.0/32"));

  ASSERT_TRUE(nl_->deleteAddress(a));
  EXPECT_TRUE(lacks(sh(ipn() + "-4 addr show dev vtep"), "10.244.1.0"));
  mine = nl_->addresses(vtep);
  ASSERT_TRUE(mine);
  EXPECT_TRUE(mine->empty());
}

}  // namespace
}  // namespace ovl::nl
