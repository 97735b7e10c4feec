// The rtnetlink parsers (netlink/messages.h) on the malformed messages the fuzz harness found:
// each is refused or read as far as it is sound, never read past or handed to libnl where libnl
// would crash on it.
#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <vector>

#include "netlink/messages.h"
#include "netlink/nl_handles.h"

namespace ovl::nl {
namespace {

using detail::MsgPtr;

template <typename Header>
MsgPtr kernelMessage(int type, const Header& hdr) {
  MsgPtr m(nlmsg_alloc_simple(type, 0));
  EXPECT_TRUE(m);
  EXPECT_EQ(nlmsg_append(m.get(), const_cast<Header*>(&hdr), sizeof(hdr), NLMSG_ALIGNTO), 0);
  return m;
}

TEST(NetlinkMalformed, RouteAnswerShorterThanItsHeaderIsAnError) {
  MsgPtr m(nlmsg_alloc_simple(RTM_NEWROUTE, 0));
  ASSERT_TRUE(m);
  const uint32_t four = 0;
  ASSERT_EQ(nlmsg_append(m.get(), const_cast<uint32_t*>(&four), sizeof four, NLMSG_ALIGNTO), 0);
  EXPECT_FALSE(detail::parseRouteAnswer(nlmsg_hdr(m.get())));
}

TEST(NetlinkMalformed, RouteAnswerWithAShortOifIgnoresIt) {
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  MsgPtr m = kernelMessage(RTM_NEWROUTE, rtm);
  ASSERT_EQ(nla_put_u8(m.get(), RTA_OIF, 3), 0);
  auto a = detail::parseRouteAnswer(nlmsg_hdr(m.get()));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->oif, 0);
}

TEST(NetlinkMalformed, RouteWithAShortViaIsRefusedBeforeLibnl) {
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  rtm.rtm_dst_len = 24;
  MsgPtr m = kernelMessage(RTM_NEWROUTE, rtm);
  ASSERT_EQ(nla_put_u8(m.get(), RTA_VIA, AF_INET), 0);  // 1 byte: libnl copied -1 bytes
  EXPECT_FALSE(detail::parseRoute(nlmsg_hdr(m.get())));
  // libnl uses the last of repeated attributes: a sound RTA_VIA before a short one is no cover.
  MsgPtr twice = kernelMessage(RTM_NEWROUTE, rtm);
  const uint8_t via[sizeof(rtvia) + 4] = {AF_INET, 0, 10, 0, 0, 1};
  ASSERT_EQ(nla_put(twice.get(), RTA_VIA, sizeof via, via), 0);
  ASSERT_EQ(nla_put_u8(twice.get(), RTA_VIA, AF_INET), 0);
  EXPECT_FALSE(detail::parseRoute(nlmsg_hdr(twice.get())));
  MsgPtr multipath = kernelMessage(RTM_NEWROUTE, rtm);
  ASSERT_EQ(nla_put(multipath.get(), RTA_MULTIPATH, 0, nullptr), 0);
  auto r = detail::parseRoute(nlmsg_hdr(multipath.get()));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->has_value());
}

TEST(NetlinkMalformed, VxlanLinkWithoutItsDataHasNoVxlanInfo) {
  ifinfomsg ifi{};
  ifi.ifi_index = 4;
  MsgPtr m = kernelMessage(RTM_NEWLINK, ifi);
  ASSERT_EQ(nla_put_string(m.get(), IFLA_IFNAME, "ovl.1"), 0);
  nlattr* info = nla_nest_start(m.get(), IFLA_LINKINFO);
  ASSERT_EQ(nla_put_string(m.get(), IFLA_INFO_KIND, "vxlan"), 0);
  nla_nest_end(m.get(), info);
  std::vector<Link> links;
  ASSERT_TRUE(detail::parseLink(nlmsg_hdr(m.get()), &links));
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].kind, "vxlan");
  EXPECT_FALSE(links[0].vxlan.has_value());
}

TEST(NetlinkMalformed, LinkWithStatisticsButNoDataIsAnError) {
  ifinfomsg ifi{};
  MsgPtr m = kernelMessage(RTM_NEWLINK, ifi);
  nlattr* info = nla_nest_start(m.get(), IFLA_LINKINFO);
  ASSERT_EQ(nla_put_string(m.get(), IFLA_INFO_KIND, "veth"), 0);
  nlattr* xstats = nla_nest_start(m.get(), IFLA_INFO_XSTATS);
  nla_nest_end(m.get(), xstats);
  nla_nest_end(m.get(), info);
  std::vector<Link> links;
  EXPECT_FALSE(detail::parseLink(nlmsg_hdr(m.get()), &links));
}

TEST(NetlinkMalformed, BridgePortWithAShortMasterIsAnError) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_BRIDGE;
  MsgPtr m = kernelMessage(RTM_NEWLINK, ifi);
  ASSERT_EQ(nla_put_u8(m.get(), IFLA_MASTER, 1), 0);
  EXPECT_FALSE(detail::parseBridgePort(nlmsg_hdr(m.get())));
}

}  // namespace
}  // namespace ovl::nl
