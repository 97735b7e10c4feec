// Main-table IPv4 routes and route queries (netlink/route.cpp) against the real kernel, in a
// throwaway namespace, with `ip route` as the independent witness.
#include <gtest/gtest.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <optional>
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

TEST_F(NetlinkTest, RouteGetAnswersAnOutputLookup) {
  auto direct = nl_->routeGet(ip("192.168.50.7"));
  ASSERT_TRUE(direct) << direct.error().message;
  EXPECT_EQ(*direct, (RouteAnswer{RTN_UNICAST, underlay_, std::nullopt, ip("192.168.50.1")}));

  sh(ipn() + "route add 10.9.0.0/16 via 192.168.50.254");
  auto viaGateway = nl_->routeGet(ip("10.9.1.1"), ip("192.168.50.1"));
  ASSERT_TRUE(viaGateway) << viaGateway.error().message;
  EXPECT_EQ(viaGateway->type, RTN_UNICAST);
  EXPECT_EQ(viaGateway->oif, underlay_);
  EXPECT_EQ(viaGateway->gateway, ip("192.168.50.254"));

  auto local = nl_->routeGet(ip("192.168.50.1"));
  ASSERT_TRUE(local) << local.error().message;
  EXPECT_EQ(local->type, RTN_LOCAL);

  auto none = nl_->routeGet(ip("203.0.113.1"));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ENETUNREACH);
  EXPECT_TRUE(has(none.error().message, "route get 203.0.113.1"));
}

// With iif, the kernel runs the input lookup of a packet from src arriving on iif, reverse-path
// check included: strict rp_filter refuses a source whose route back leaves by another device.
TEST_F(NetlinkTest, RouteGetWithIifRunsTheReversePathCheck) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  ASSERT_TRUE(nl_->replaceRoute(Route{prefix("10.244.9.0/24"), ip("10.244.9.0"), vtep, true}));
  const std::string sysctl = "ip netns exec " + ns() + " sysctl -qw ";
  sh(sysctl + "net.ipv4.ip_forward=1");
  sh(sysctl + "net.ipv4.conf.all.rp_filter=1");
  sh(sysctl + "net.ipv4.conf.ul0.rp_filter=1");

  // From 10.244.9.9 on ul0, but the way back to 10.244.9.9 is the VTEP.
  auto strict = nl_->routeGet(ip("192.168.50.7"), ip("10.244.9.9"), underlay_);
  ASSERT_FALSE(strict);
  // EXDEV on older kernels; recent ones (6.x) report it, like any martian source, as EINVAL.
  EXPECT_TRUE(strict.error().code == EXDEV || strict.error().code == EINVAL)
      << strict.error().message;
  EXPECT_TRUE(has(strict.error().message,
                  "route get 192.168.50.7 from 10.244.9.9 iif #" + std::to_string(underlay_)));

  // The same packet from a source whose way back is ul0 passes.
  auto symmetric = nl_->routeGet(ip("10.244.9.5"), ip("192.168.50.7"), underlay_);
  ASSERT_TRUE(symmetric) << symmetric.error().message;
  EXPECT_EQ(symmetric->type, RTN_UNICAST);
  EXPECT_EQ(symmetric->oif, vtep);

  // Loose mode only asks that the source be reachable at all.
  sh(sysctl + "net.ipv4.conf.all.rp_filter=2");
  sh(sysctl + "net.ipv4.conf.ul0.rp_filter=2");
  auto loose = nl_->routeGet(ip("192.168.50.7"), ip("10.244.9.9"), underlay_);
  ASSERT_TRUE(loose) << loose.error().message;
  EXPECT_EQ(loose->oif, underlay_);
}

}  // namespace
}  // namespace ovl::nl
