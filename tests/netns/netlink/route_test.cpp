// Main-table IPv4 routes (netlink/route.cpp) against the real kernel, in a throwaway namespace,
// with `ip route` as the independent witness.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "netlink/netlink.h"
#include "tests/netns/netlink/netlink_fixture.h"

namespace ovl::nl {
namespace {

TEST_F(NetlinkTest, ReplaceListAndDeleteOnlinkRoute) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  const Route r{prefix("10.244.2.0/24"), ip("10.244.2.0"), vtep, true};
  ASSERT_TRUE(nl_->replaceRoute(r));
  ASSERT_TRUE(nl_->replaceRoute(r));  // idempotent
  std::string shown = sh(ipn() + "route show dev vtep");
  EXPECT_TRUE(has(shown, "10.244.2.0/24 via 10.244.2.0 proto 77 onlink"));
  EXPECT_EQ(countLines(shown), 1);

  auto got = nl_->routes(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got), sorted<Route>({r}));
  EXPECT_TRUE(got->front().onlink);

  ASSERT_TRUE(nl_->deleteRoute(r));
  EXPECT_EQ(sh(ipn() + "route show dev vtep"), "");
  got = nl_->routes(vtep);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->empty());

  auto missing = nl_->deleteRoute(r);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error().code == ESRCH || missing.error().code == ENOENT)
      << missing.error().code;
  EXPECT_TRUE(has(missing.error().message,
                  "delete route 10.244.2.0/24 via 10.244.2.0 dev #" + std::to_string(vtep)));
}

TEST_F(NetlinkTest, RoutesReadsWhatOthersInstalledAndDeletesAnyProtocol) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  sh(ipn() + "route add 10.244.7.0/24 via 10.244.7.0 dev vtep onlink");  // proto boot
  sh(ipn() + "addr add 10.244.1.0/24 dev vtep");  // + a connected route, no gateway
  auto got = nl_->routes(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got),
            sorted<Route>({Route{prefix("10.244.7.0/24"), ip("10.244.7.0"), vtep, true},
                           Route{prefix("10.244.1.0/24"), Ipv4{}, vtep, false}}));
  ASSERT_TRUE(nl_->deleteRoute(Route{prefix("10.244.7.0/24"), ip("10.244.7.0"), vtep, true}));
  EXPECT_TRUE(lacks(sh(ipn() + "route show dev vtep"), "10.244.7.0"));
}

TEST_F(NetlinkTest, RouteErrorsNameTheRoute) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  auto st = nl_->replaceRoute(Route{prefix("10.244.3.0/24"), ip("10.244.3.0"), 9999, true});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ENODEV);
  EXPECT_TRUE(has(st.error().message, "replace route 10.244.3.0/24 via 10.244.3.0 dev #9999"));

  // Without onlink the gateway is not reachable on the VTEP: the kernel says why.
  st = nl_->replaceRoute(Route{prefix("10.244.3.0/24"), ip("10.244.3.0"), vtep, false});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().code, 0);
  EXPECT_TRUE(has(st.error().message, "10.244.3.0/24"));
}

}  // namespace
}  // namespace ovl::nl
