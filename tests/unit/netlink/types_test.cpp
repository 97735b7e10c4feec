// The pure translations of the netlink layer, without a kernel: the value types' toString(), the
// conversions to and from libnl's nl_addr and NLE_* codes (netlink/nl_handles.h), and the
// translators between value types and rtnetlink messages or libnl objects, one group per kernel
// object kind (netlink/messages.h). Messages are built by the translators and read back field by
// field, or built here by hand the way the kernel sends them.
#include "netlink/types.h"

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <gtest/gtest.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "netlink/messages.h"
#include "netlink/netlink.h"
#include "netlink/nl_handles.h"
#include "tests/fakes/netlink_printers.h"

namespace ovl::nl {

namespace {

using detail::MsgPtr;

Ipv4 ip(const char* s) {
  return *Ipv4::parse(s);
}
Ipv4Prefix prefix(const char* s) {
  return *Ipv4Prefix::parse(s);
}
MacAddr mac(const char* s) {
  return *MacAddr::parse(s);
}

// The fixed header of a message (rtmsg, ndmsg, ifaddrmsg, ifinfomsg).
template <typename Header>
const Header& headerOf(const MsgPtr& m) {
  return *static_cast<const Header*>(nlmsg_data(nlmsg_hdr(m.get())));
}

// Attribute `type` of a message whose fixed header is Header; nullptr when absent.
template <typename Header>
nlattr* attrOf(const MsgPtr& m, int type) {
  return nlmsg_find_attr(nlmsg_hdr(m.get()), sizeof(Header), type);
}

std::optional<Ipv4> ipv4Attr(nlattr* a) {
  if (a == nullptr || nla_len(a) != 4) {
    return std::nullopt;
  }
  uint32_t be = 0;
  std::memcpy(&be, nla_data(a), 4);
  return Ipv4::fromNetworkOrder(be);
}

// A message as the kernel sends it: type, fixed header, then attributes added by the caller.
template <typename Header>
MsgPtr kernelMessage(int type, const Header& hdr) {
  MsgPtr m(nlmsg_alloc_simple(type, 0));
  EXPECT_TRUE(m);
  EXPECT_EQ(nlmsg_append(m.get(), const_cast<Header*>(&hdr), sizeof(hdr), NLMSG_ALIGNTO), 0);
  return m;
}

// --- the value types' toString() -----------------------------------------------------------

TEST(NetlinkTypes, ToStringReadsLikeIproute2) {
  EXPECT_EQ(
      (Route{*Ipv4Prefix::parse("10.244.2.0/24"), *Ipv4::parse("10.244.2.0"), 5, true}).toString(),
      "10.244.2.0/24 via 10.244.2.0 dev #5 onlink");
  EXPECT_EQ(
      (FdbEntry{5, *MacAddr::parse("aa:bb:cc:dd:ee:ff"), *Ipv4::parse("192.168.50.2")}).toString(),
      "aa:bb:cc:dd:ee:ff dst 192.168.50.2 dev #5");
  EXPECT_EQ(
      (Neighbour{5, *Ipv4::parse("10.244.2.0"), *MacAddr::parse("aa:bb:cc:dd:ee:ff")}).toString(),
      "10.244.2.0 lladdr aa:bb:cc:dd:ee:ff dev #5");
  Event deleted;
  deleted.kind = Event::Kind::kRoute;
  deleted.deleted = true;
  deleted.index = 5;
  EXPECT_EQ(deleted.toString(), "route deleted dev #5");
  deleted.route = Route{*Ipv4Prefix::parse("10.244.2.0/24"), *Ipv4::parse("10.244.2.0"), 5, true};
  EXPECT_EQ(deleted.toString(), "route deleted 10.244.2.0/24 via 10.244.2.0 dev #5 onlink");
  EXPECT_EQ((VxlanSpec{"vtep", 42, *Ipv4::parse("192.168.50.1"), 2, 8472, 1450,
                       *MacAddr::parse("02:aa:bb:cc:dd:01")})
                .toString(),
            "vtep vxlan vni 42 local 192.168.50.1 dev #2 dstport 8472 nolearning mtu 1450 "
            "address 02:aa:bb:cc:dd:01");
  EXPECT_EQ(
      (Netlink::Op{Netlink::Op::Kind::kDeleteFdb,
                   {},
                   FdbEntry{5, *MacAddr::parse("aa:bb:cc:dd:ee:ff"), *Ipv4::parse("192.168.50.2")},
                   {}})
          .toString(),
      "delete fdb aa:bb:cc:dd:ee:ff dst 192.168.50.2 dev #5");
}

TEST(NetlinkTypes, RouteToStringOmitsWhatIsUnset) {
  EXPECT_EQ((Route{prefix("10.244.1.0/24"), Ipv4{}, 3, false}).toString(), "10.244.1.0/24 dev #3");
  EXPECT_EQ((Route{prefix("0.0.0.0/0"), ip("192.168.50.254"), 2, false}).toString(),
            "0.0.0.0/0 via 192.168.50.254 dev #2");
}

TEST(NetlinkTypes, AddressAndBridgePortToString) {
  EXPECT_EQ((Address{7, prefix("10.244.1.0/32")}).toString(), "10.244.1.0/32 dev #7");
  EXPECT_EQ((BridgePort{9, "veth9", 4, true}).toString(), "veth9 dev #9 master dev #4 hairpin on");
  EXPECT_EQ((BridgePort{9, "veth9", 4, false}).toString(),
            "veth9 dev #9 master dev #4 hairpin off");
}

TEST(NetlinkTypes, VxlanInfoAndLinkToString) {
  const VxlanInfo full{42, ip("192.168.50.1"), 2, 8472, false};
  EXPECT_EQ(full.toString(), "vni 42 local 192.168.50.1 dev #2 dstport 8472 nolearning");
  EXPECT_EQ((VxlanInfo{7, std::nullopt, std::nullopt, 4789, true}).toString(),
            "vni 7 dstport 4789 learning");

  Link link{5, "vtep", "vxlan", mac("02:aa:bb:cc:dd:01"), 1450, true, std::nullopt, full};
  EXPECT_EQ(link.toString(),
            "#5 vtep (vxlan) mtu 1450 up address 02:aa:bb:cc:dd:01 vxlan vni 42 local "
            "192.168.50.1 dev #2 dstport 8472 nolearning");
  const Link plain{3, "veth0", "", mac("02:00:00:00:00:03"), 1500, false, 8, std::nullopt};
  EXPECT_EQ(plain.toString(), "#3 veth0 mtu 1500 down address 02:00:00:00:00:03 master #8");
}

TEST(NetlinkTypes, SpecsToStringOmitWhatIsUnset) {
  EXPECT_EQ((VxlanSpec{"vtep", 42, Ipv4{}, 0, 4789, 0, MacAddr{}}).toString(),
            "vtep vxlan vni 42 dstport 4789 nolearning");
  EXPECT_EQ((VethSpec{"veth0", "eth0", 9, 1450}).toString(),
            "veth0 veth peer eth0 (netns fd 9) mtu 1450");
  EXPECT_EQ((VethSpec{"veth0", "eth0", 9, 0}).toString(), "veth0 veth peer eth0 (netns fd 9)");
}

TEST(NetlinkTypes, RouteAnswerToString) {
  EXPECT_EQ((RouteAnswer{RTN_UNICAST, 3, ip("10.244.2.0"), ip("10.244.1.0")}).toString(),
            "type 1 oif dev #3 via 10.244.2.0 src 10.244.1.0");
  EXPECT_EQ((RouteAnswer{RTN_LOCAL, 0, std::nullopt, std::nullopt}).toString(),
            "type 2 oif dev #0");
}

TEST(NetlinkTypes, EventToStringNamesKindAndObject) {
  Event e;
  e.kind = Event::Kind::kLink;
  e.index = 4;
  EXPECT_EQ(e.toString(), "link new/changed dev #4");
  e.linkName = "vtep";
  EXPECT_EQ(e.toString(), "link new/changed vtep dev #4");

  Event a;
  a.kind = Event::Kind::kAddress;
  a.deleted = true;
  a.index = 4;
  EXPECT_EQ(a.toString(), "address deleted dev #4");

  Event n;
  n.kind = Event::Kind::kNeighbour;
  n.index = 4;
  n.neighbour = Neighbour{4, ip("10.244.2.0"), mac("02:00:00:00:00:02")};
  EXPECT_EQ(n.toString(), "neighbour new/changed 10.244.2.0 lladdr 02:00:00:00:00:02 dev #4");
  n.neighbour.reset();
  n.fdb = FdbEntry{4, mac("02:00:00:00:00:02"), ip("192.168.50.2")};
  EXPECT_EQ(n.toString(), "neighbour new/changed fdb 02:00:00:00:00:02 dst 192.168.50.2 dev #4");

  Event overflow;
  overflow.kind = Event::Kind::kOverflow;
  EXPECT_EQ(overflow.toString(), "overflow (events lost, re-read the kernel state)");
}

TEST(NetlinkTypes, OpToStringNamesTheWriteAndItsObject) {
  using Kind = Netlink::Op::Kind;
  const Neighbour n{5, ip("10.244.2.0"), mac("aa:bb:cc:dd:ee:ff")};
  const FdbEntry f{5, mac("aa:bb:cc:dd:ee:ff"), ip("192.168.50.2")};
  const Route r{prefix("10.244.2.0/24"), ip("10.244.2.0"), 5, true};
  EXPECT_EQ((Netlink::Op{Kind::kReplaceNeighbour, n, {}, {}}).toString(),
            "replace neighbour 10.244.2.0 lladdr aa:bb:cc:dd:ee:ff dev #5");
  EXPECT_EQ((Netlink::Op{Kind::kDeleteNeighbour, n, {}, {}}).toString(),
            "delete neighbour 10.244.2.0 lladdr aa:bb:cc:dd:ee:ff dev #5");
  EXPECT_EQ((Netlink::Op{Kind::kReplaceFdb, {}, f, {}}).toString(),
            "replace fdb aa:bb:cc:dd:ee:ff dst 192.168.50.2 dev #5");
  EXPECT_EQ((Netlink::Op{Kind::kReplaceRoute, {}, {}, r}).toString(),
            "replace route 10.244.2.0/24 via 10.244.2.0 dev #5 onlink");
  EXPECT_EQ((Netlink::Op{Kind::kDeleteRoute, {}, {}, r}).toString(),
            "delete route 10.244.2.0/24 via 10.244.2.0 dev #5 onlink");
}

TEST(NetlinkTypes, ValuesCompareByEveryField) {
  const Route r{prefix("10.244.2.0/24"), ip("10.244.2.0"), 5, true};
  Route other = r;
  EXPECT_EQ(r, other);
  other.onlink = false;
  EXPECT_NE(r, other);
  // Ordered by destination first: a sorted dump compares equal to a sorted expectation.
  EXPECT_LT((Route{prefix("10.244.1.0/24"), ip("10.244.9.0"), 9, true}), r);
  EXPECT_NE((FdbEntry{5, MacAddr{}, ip("192.168.50.5")}),
            (FdbEntry{5, MacAddr{}, ip("192.168.50.6")}));
}

// --- nl_addr and NLE_* conversions (netlink/nl_handles.h) ----------------------------------

TEST(NetlinkTranslate, Ipv4AndMacRoundTripThroughNlAddr) {
  detail::AddrPtr a = detail::toNlAddr(ip("10.244.2.1"));
  ASSERT_TRUE(a);
  EXPECT_EQ(nl_addr_get_family(a.get()), AF_INET);
  EXPECT_EQ(nl_addr_get_len(a.get()), 4u);
  const auto* bytes = static_cast<const uint8_t*>(nl_addr_get_binary_addr(a.get()));
  EXPECT_EQ(bytes[0], 10);  // network byte order
  EXPECT_EQ(bytes[3], 1);
  EXPECT_EQ(detail::ipv4From(a.get()), ip("10.244.2.1"));
  EXPECT_EQ(detail::macFrom(a.get()), std::nullopt);

  detail::AddrPtr p = detail::toNlAddr(prefix("10.244.0.0/16"));
  ASSERT_TRUE(p);
  EXPECT_EQ(nl_addr_get_prefixlen(p.get()), 16u);
  EXPECT_EQ(detail::ipv4From(p.get()), ip("10.244.0.0"));

  detail::AddrPtr m = detail::toNlAddr(mac("02:aa:bb:cc:dd:01"));
  ASSERT_TRUE(m);
  EXPECT_EQ(nl_addr_get_family(m.get()), AF_LLC);
  EXPECT_EQ(detail::macFrom(m.get()), mac("02:aa:bb:cc:dd:01"));
  EXPECT_EQ(detail::ipv4From(m.get()), std::nullopt);

  EXPECT_EQ(detail::ipv4From(nullptr), std::nullopt);
  EXPECT_EQ(detail::macFrom(nullptr), std::nullopt);
}

TEST(NetlinkTranslate, Ipv4FromRejectsOtherFamilies) {
  const uint8_t v6[16] = {0xfe, 0x80};
  detail::AddrPtr a(nl_addr_build(AF_INET6, v6, sizeof(v6)));
  ASSERT_TRUE(a);
  EXPECT_EQ(detail::ipv4From(a.get()), std::nullopt);
  // Four bytes of another family are not an IPv4 address either.
  const uint8_t four[4] = {10, 0, 0, 1};
  detail::AddrPtr llc(nl_addr_build(AF_LLC, four, sizeof(four)));
  ASSERT_TRUE(llc);
  EXPECT_EQ(detail::ipv4From(llc.get()), std::nullopt);
}

TEST(NetlinkTranslate, NlErrorsBecomeErrnoWithContext) {
  EXPECT_EQ(detail::nlErrorToErrno(-NLE_EXIST), EEXIST);
  EXPECT_EQ(detail::nlErrorToErrno(NLE_EXIST), EEXIST);  // either sign
  EXPECT_EQ(detail::nlErrorToErrno(-NLE_OBJ_NOTFOUND), ENOENT);
  EXPECT_EQ(detail::nlErrorToErrno(-NLE_NODEV), ENODEV);
  EXPECT_EQ(detail::nlErrorToErrno(-NLE_NOMEM), ENOMEM);
  EXPECT_EQ(detail::nlErrorToErrno(-NLE_PERM), EPERM);
  EXPECT_EQ(detail::nlErrorToErrno(-NLE_MSGSIZE), EMSGSIZE);
  EXPECT_EQ(detail::nlErrorToErrno(-NLE_DUMP_INTR), EIO);  // no close equivalent

  const Error e = detail::nlError(-NLE_EXIST, "create vxlan vtep");
  EXPECT_EQ(e.code, EEXIST);
  EXPECT_EQ(e.message, std::string("create vxlan vtep: ") + nl_geterror(-NLE_EXIST));
}

// --- links (netlink/link.cpp) --------------------------------------------------------------

TEST(NetlinkTranslate, VxlanObjectCarriesEverySpecAttribute) {
  const VxlanSpec spec{"vtep", 42, ip("192.168.50.1"), 2, 8472, 1450, mac("02:aa:bb:cc:dd:01")};
  auto obj = detail::vxlanObject(spec);
  ASSERT_TRUE(obj) << obj.error().message;
  const Link link = detail::toLink(obj->get(), true);
  EXPECT_EQ(link, (Link{0, "vtep", "vxlan", mac("02:aa:bb:cc:dd:01"), 1450, false, std::nullopt,
                        VxlanInfo{42, ip("192.168.50.1"), 2, 8472, false}}));

  // As a request: RTM_NEWLINK that must create a new device, read back by the link parser.
  nl_msg* raw = nullptr;
  ASSERT_EQ(rtnl_link_build_add_request(obj->get(), NLM_F_CREATE | NLM_F_EXCL, &raw), 0);
  MsgPtr msg(raw);
  const nlmsghdr* h = nlmsg_hdr(msg.get());
  EXPECT_EQ(h->nlmsg_type, RTM_NEWLINK);
  EXPECT_EQ(h->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), NLM_F_CREATE | NLM_F_EXCL);
  std::vector<Link> parsed;
  ASSERT_TRUE(detail::parseLink(h, &parsed));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0], link);
}

TEST(NetlinkTranslate, VxlanObjectLeavesUnsetAttributesOut) {
  auto obj = detail::vxlanObject(VxlanSpec{"vx7", 7, Ipv4{}, 0, 4789, 0, MacAddr{}});
  ASSERT_TRUE(obj) << obj.error().message;
  const Link link = detail::toLink(obj->get(), true);
  EXPECT_EQ(link.name, "vx7");
  EXPECT_EQ(link.mtu, 0u);
  EXPECT_TRUE(link.mac.isZero());
  ASSERT_TRUE(link.vxlan.has_value());
  EXPECT_EQ(*link.vxlan, (VxlanInfo{7, std::nullopt, std::nullopt, 4789, false}));
}

TEST(NetlinkTranslate, VethObjectNamesBothEndsAndPutsThePeerInItsNamespace) {
  auto obj = detail::vethObject(VethSpec{"veth0", "eth0", 9, 1450});
  ASSERT_TRUE(obj) << obj.error().message;
  const Link link = detail::toLink(obj->get(), true);
  EXPECT_EQ(link.name, "veth0");
  EXPECT_EQ(link.kind, "veth");
  EXPECT_EQ(link.mtu, 1450u);
  EXPECT_FALSE(link.vxlan.has_value());
  detail::LinkPtr peer(rtnl_link_veth_get_peer(obj->get()));
  ASSERT_TRUE(peer);
  EXPECT_STREQ(rtnl_link_get_name(peer.get()), "eth0");
  EXPECT_EQ(rtnl_link_get_mtu(peer.get()), 1450u);
  EXPECT_EQ(rtnl_link_get_ns_fd(peer.get()), 9);
}

TEST(NetlinkTranslate, ParseLinkIgnoresOtherMessages) {
  ifinfomsg ifi{};
  MsgPtr m = kernelMessage(RTM_DELLINK, ifi);
  std::vector<Link> parsed;
  ASSERT_TRUE(detail::parseLink(nlmsg_hdr(m.get()), &parsed));
  EXPECT_TRUE(parsed.empty());
}

// --- bridge ports (netlink/bridge_port.cpp) ------------------------------------------------

TEST(NetlinkTranslate, HairpinRequestSetsTheBridgePortMode) {
  for (bool on : {true, false}) {
    auto msg = detail::hairpinRequest(6, on);
    ASSERT_TRUE(msg) << msg.error().message;
    EXPECT_EQ(nlmsg_hdr(msg->get())->nlmsg_type, RTM_SETLINK);
    EXPECT_EQ(headerOf<ifinfomsg>(*msg).ifi_family, AF_BRIDGE);
    EXPECT_EQ(headerOf<ifinfomsg>(*msg).ifi_index, 6);
    nlattr* info = attrOf<ifinfomsg>(*msg, IFLA_PROTINFO);
    ASSERT_NE(info, nullptr);
    EXPECT_NE(info->nla_type & NLA_F_NESTED, 0);
    nlattr* mode = nla_find(static_cast<nlattr*>(nla_data(info)), nla_len(info), IFLA_BRPORT_MODE);
    ASSERT_NE(mode, nullptr);
    EXPECT_EQ(nla_get_u8(mode), on ? 1 : 0);
  }
}

TEST(NetlinkTranslate, ParseBridgePortReadsMasterNameAndHairpin) {
  ifinfomsg ifi{};
  ifi.ifi_family = AF_BRIDGE;
  ifi.ifi_index = 6;
  MsgPtr port = kernelMessage(RTM_NEWLINK, ifi);
  ASSERT_EQ(nla_put_string(port.get(), IFLA_IFNAME, "veth6"), 0);
  ASSERT_EQ(nla_put_u32(port.get(), IFLA_MASTER, 4), 0);
  nlattr* info = nla_nest_start(port.get(), IFLA_PROTINFO | NLA_F_NESTED);
  ASSERT_NE(info, nullptr);
  ASSERT_EQ(nla_put_u8(port.get(), IFLA_BRPORT_MODE, 1), 0);
  nla_nest_end(port.get(), info);
  auto parsed = detail::parseBridgePort(nlmsg_hdr(port.get()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_TRUE(parsed->has_value());
  EXPECT_EQ(**parsed, (BridgePort{6, "veth6", 4, true}));

  // Without IFLA_PROTINFO the port reads as hairpin off.
  MsgPtr bare = kernelMessage(RTM_NEWLINK, ifi);
  ASSERT_EQ(nla_put_u32(bare.get(), IFLA_MASTER, 4), 0);
  parsed = detail::parseBridgePort(nlmsg_hdr(bare.get()));
  ASSERT_TRUE(parsed && parsed->has_value());
  EXPECT_EQ(**parsed, (BridgePort{6, "", 4, false}));

  // The bridge itself has no master: not a port.
  MsgPtr bridge = kernelMessage(RTM_NEWLINK, ifi);
  ASSERT_EQ(nla_put_string(bridge.get(), IFLA_IFNAME, "br0"), 0);
  parsed = detail::parseBridgePort(nlmsg_hdr(bridge.get()));
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(parsed->has_value());
}

// --- addresses (netlink/address.cpp) -------------------------------------------------------

TEST(NetlinkTranslate, AddressRequestAndParseRoundTrip) {
  const Address a{7, prefix("10.244.1.0/24")};
  auto add = detail::addressRequest(a, false);
  ASSERT_TRUE(add) << add.error().message;
  const nlmsghdr* h = nlmsg_hdr(add->get());
  EXPECT_EQ(h->nlmsg_type, RTM_NEWADDR);
  // Adding an address that is there is an error (EEXIST), never a silent success.
  EXPECT_EQ(h->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL), NLM_F_CREATE | NLM_F_EXCL);
  EXPECT_EQ(headerOf<ifaddrmsg>(*add).ifa_family, AF_INET);
  EXPECT_EQ(headerOf<ifaddrmsg>(*add).ifa_prefixlen, 24);
  EXPECT_EQ(headerOf<ifaddrmsg>(*add).ifa_index, 7u);
  EXPECT_EQ(ipv4Attr(attrOf<ifaddrmsg>(*add, IFA_LOCAL)), ip("10.244.1.0"));

  std::vector<Address> all;
  ASSERT_TRUE(detail::parseAddress(h, std::nullopt, &all));
  EXPECT_EQ(all, std::vector<Address>{a});
  std::vector<Address> mine;
  ASSERT_TRUE(detail::parseAddress(h, 7, &mine));
  EXPECT_EQ(mine, std::vector<Address>{a});
  std::vector<Address> other;
  ASSERT_TRUE(detail::parseAddress(h, 8, &other));
  EXPECT_TRUE(other.empty());

  auto del = detail::addressRequest(a, true);
  ASSERT_TRUE(del) << del.error().message;
  EXPECT_EQ(nlmsg_hdr(del->get())->nlmsg_type, RTM_DELADDR);
  std::vector<Address> none;
  ASSERT_TRUE(detail::parseAddress(nlmsg_hdr(del->get()), std::nullopt, &none));
  EXPECT_TRUE(none.empty());  // only RTM_NEWADDR is an address of the dump
}

// --- neighbours and FDB entries (netlink/neighbour.cpp) ------------------------------------

TEST(NetlinkTranslate, NeighbourRequestIsAPermanentIpv4Entry) {
  const Neighbour n{5, ip("10.244.2.0"), mac("02:aa:bb:cc:dd:02")};
  auto msg = detail::neighbourRequest(n, false);
  ASSERT_TRUE(msg) << msg.error().message;
  const nlmsghdr* h = nlmsg_hdr(msg->get());
  EXPECT_EQ(h->nlmsg_type, RTM_NEWNEIGH);
  EXPECT_EQ(h->nlmsg_flags & (NLM_F_CREATE | NLM_F_REPLACE), NLM_F_CREATE | NLM_F_REPLACE);
  EXPECT_EQ(headerOf<ndmsg>(*msg).ndm_family, AF_INET);
  EXPECT_EQ(headerOf<ndmsg>(*msg).ndm_ifindex, 5);
  EXPECT_EQ(headerOf<ndmsg>(*msg).ndm_state, NUD_PERMANENT);

  auto obj = detail::parseNeighbour(h);
  ASSERT_TRUE(obj) << obj.error().message;
  EXPECT_EQ(detail::permanentNeighbourOf(obj->get()), n);
  EXPECT_EQ(detail::fdbEntryOf(obj->get()), std::nullopt);

  auto del = detail::neighbourRequest(n, true);
  ASSERT_TRUE(del) << del.error().message;
  EXPECT_EQ(nlmsg_hdr(del->get())->nlmsg_type, RTM_DELNEIGH);
  EXPECT_EQ(headerOf<ndmsg>(*del).ndm_ifindex, 5);
}

TEST(NetlinkTranslate, FdbRequestIsABridgeSelfEntry) {
  const FdbEntry f{5, mac("02:aa:bb:cc:dd:02"), ip("192.168.50.2")};
  auto msg = detail::fdbRequest(f, NLM_F_CREATE | NLM_F_APPEND, false);
  ASSERT_TRUE(msg) << msg.error().message;
  const nlmsghdr* h = nlmsg_hdr(msg->get());
  EXPECT_EQ(h->nlmsg_type, RTM_NEWNEIGH);
  EXPECT_EQ(h->nlmsg_flags & (NLM_F_CREATE | NLM_F_APPEND | NLM_F_REPLACE),
            NLM_F_CREATE | NLM_F_APPEND);
  EXPECT_EQ(headerOf<ndmsg>(*msg).ndm_family, AF_BRIDGE);
  EXPECT_EQ(headerOf<ndmsg>(*msg).ndm_flags & NTF_SELF, NTF_SELF);
  EXPECT_EQ(headerOf<ndmsg>(*msg).ndm_state, NUD_PERMANENT);
  // NDA_DST is the remote VTEP, NDA_LLADDR the MAC behind it.
  EXPECT_EQ(ipv4Attr(attrOf<ndmsg>(*msg, NDA_DST)), ip("192.168.50.2"));

  auto obj = detail::parseNeighbour(h);
  ASSERT_TRUE(obj) << obj.error().message;
  EXPECT_EQ(detail::fdbEntryOf(obj->get()), f);
  EXPECT_EQ(detail::permanentNeighbourOf(obj->get()), std::nullopt);

  auto del = detail::fdbRequest(f, 0, true);
  ASSERT_TRUE(del) << del.error().message;
  EXPECT_EQ(nlmsg_hdr(del->get())->nlmsg_type, RTM_DELNEIGH);
  EXPECT_EQ(headerOf<ndmsg>(*del).ndm_family, AF_BRIDGE);
}

TEST(NetlinkTranslate, OnlyPermanentNeighboursAreOvls) {
  // A neighbour the kernel learnt (NUD_REACHABLE) is not one ovl programs.
  ndmsg ndm{};
  ndm.ndm_family = AF_INET;
  ndm.ndm_ifindex = 5;
  ndm.ndm_state = NUD_REACHABLE;
  MsgPtr m = kernelMessage(RTM_NEWNEIGH, ndm);
  const uint32_t dst = ip("10.244.11.0").networkOrder();
  ASSERT_EQ(nla_put(m.get(), NDA_DST, sizeof dst, &dst), 0);
  const uint8_t ll[6] = {0x02, 0, 0, 0, 0x0b, 0x0b};
  ASSERT_EQ(nla_put(m.get(), NDA_LLADDR, sizeof ll, ll), 0);
  auto obj = detail::parseNeighbour(nlmsg_hdr(m.get()));
  ASSERT_TRUE(obj) << obj.error().message;
  EXPECT_EQ(detail::permanentNeighbourOf(obj->get()), std::nullopt);
}

// --- routes and route queries (netlink/route.cpp) ------------------------------------------

TEST(NetlinkTranslate, RouteRequestIsOvlsOnlinkRouteAndParsesBack) {
  const Route r{prefix("10.244.2.0/24"), ip("10.244.2.0"), 5, true};
  auto msg = detail::routeRequest(r, false);
  ASSERT_TRUE(msg) << msg.error().message;
  const nlmsghdr* h = nlmsg_hdr(msg->get());
  EXPECT_EQ(h->nlmsg_type, RTM_NEWROUTE);
  EXPECT_NE(h->nlmsg_flags & NLM_F_REPLACE, 0);
  const rtmsg& rtm = headerOf<rtmsg>(*msg);
  EXPECT_EQ(rtm.rtm_family, AF_INET);
  EXPECT_EQ(rtm.rtm_table, RT_TABLE_MAIN);
  EXPECT_EQ(rtm.rtm_type, RTN_UNICAST);
  EXPECT_EQ(rtm.rtm_protocol, 77);  // "proto 77": ovl's
  EXPECT_EQ(rtm.rtm_scope, RT_SCOPE_UNIVERSE);
  EXPECT_EQ(rtm.rtm_dst_len, 24);
  EXPECT_NE(rtm.rtm_flags & RTNH_F_ONLINK, 0u);
  EXPECT_EQ(ipv4Attr(attrOf<rtmsg>(*msg, RTA_GATEWAY)), ip("10.244.2.0"));

  auto parsed = detail::parseRoute(h);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, r);
}

TEST(NetlinkTranslate, DirectRouteHasLinkScope) {
  const Route r{prefix("10.244.1.0/24"), Ipv4{}, 5, false};
  auto msg = detail::routeRequest(r, false);
  ASSERT_TRUE(msg) << msg.error().message;
  EXPECT_EQ(headerOf<rtmsg>(*msg).rtm_scope, RT_SCOPE_LINK);
  EXPECT_EQ(headerOf<rtmsg>(*msg).rtm_flags & RTNH_F_ONLINK, 0u);
  EXPECT_EQ(attrOf<rtmsg>(*msg, RTA_GATEWAY), nullptr);
  auto parsed = detail::parseRoute(nlmsg_hdr(msg->get()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, r);
}

TEST(NetlinkTranslate, RouteDeleteMatchesAnyScopeAndProtocol) {
  auto msg = detail::routeRequest(Route{prefix("10.244.2.0/24"), ip("10.244.2.0"), 5, true}, true);
  ASSERT_TRUE(msg) << msg.error().message;
  EXPECT_EQ(nlmsg_hdr(msg->get())->nlmsg_type, RTM_DELROUTE);
  EXPECT_EQ(headerOf<rtmsg>(*msg).rtm_scope, RT_SCOPE_NOWHERE);
  EXPECT_EQ(headerOf<rtmsg>(*msg).rtm_protocol, RTPROT_UNSPEC);
}

TEST(NetlinkTranslate, RouteOfKeepsOnlyMainTableSinglePathIpv4Unicast) {
  auto make = [](uint8_t table, uint8_t type, int nexthops) {
    detail::RoutePtr r(rtnl_route_alloc());
    rtnl_route_set_family(r.get(), AF_INET);
    rtnl_route_set_table(r.get(), table);
    rtnl_route_set_type(r.get(), type);
    detail::AddrPtr dst = detail::toNlAddr(prefix("10.244.12.0/24"));
    EXPECT_EQ(rtnl_route_set_dst(r.get(), dst.get()), 0);
    for (int i = 0; i < nexthops; ++i) {
      rtnl_nexthop* nh = rtnl_route_nh_alloc();
      rtnl_route_nh_set_ifindex(nh, 5 + i);
      rtnl_route_add_nexthop(r.get(), nh);  // the route owns it
    }
    return r;
  };
  EXPECT_EQ(detail::routeOf(make(RT_TABLE_MAIN, RTN_UNICAST, 1).get()),
            (Route{prefix("10.244.12.0/24"), Ipv4{}, 5, false}));
  EXPECT_EQ(detail::routeOf(make(100, RTN_UNICAST, 1).get()), std::nullopt);
  EXPECT_EQ(detail::routeOf(make(RT_TABLE_MAIN, RTN_BLACKHOLE, 1).get()), std::nullopt);
  EXPECT_EQ(detail::routeOf(make(RT_TABLE_MAIN, RTN_UNICAST, 2).get()), std::nullopt);
  EXPECT_EQ(detail::routeOf(make(RT_TABLE_MAIN, RTN_UNICAST, 0).get()), std::nullopt);
}

TEST(NetlinkTranslate, DefaultRouteParsesAsZeroPrefix) {
  // The kernel sends the default route without RTA_DST.
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  rtm.rtm_table = RT_TABLE_MAIN;
  rtm.rtm_type = RTN_UNICAST;
  MsgPtr m = kernelMessage(RTM_NEWROUTE, rtm);
  ASSERT_EQ(nla_put_u32(m.get(), RTA_OIF, 2), 0);
  const uint32_t gw = ip("192.168.50.254").networkOrder();
  ASSERT_EQ(nla_put(m.get(), RTA_GATEWAY, sizeof gw, &gw), 0);
  auto parsed = detail::parseRoute(nlmsg_hdr(m.get()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(*parsed, (Route{prefix("0.0.0.0/0"), ip("192.168.50.254"), 2, false}));
}

TEST(NetlinkTranslate, RouteGetRequestAsksWhatIpRouteGetAsks) {
  auto out = detail::routeGetRequest(ip("10.244.2.5"), std::nullopt, 0);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(nlmsg_hdr(out->get())->nlmsg_type, RTM_GETROUTE);
  EXPECT_EQ(nlmsg_hdr(out->get())->nlmsg_flags & NLM_F_DUMP, 0);  // one answer, no dump
  EXPECT_EQ(headerOf<rtmsg>(*out).rtm_family, AF_INET);
  EXPECT_EQ(headerOf<rtmsg>(*out).rtm_dst_len, 32);
  EXPECT_EQ(headerOf<rtmsg>(*out).rtm_src_len, 0);
  EXPECT_EQ(ipv4Attr(attrOf<rtmsg>(*out, RTA_DST)), ip("10.244.2.5"));
  EXPECT_EQ(attrOf<rtmsg>(*out, RTA_SRC), nullptr);
  EXPECT_EQ(attrOf<rtmsg>(*out, RTA_IIF), nullptr);  // an output lookup

  auto in = detail::routeGetRequest(ip("10.244.2.5"), ip("192.168.50.2"), 4);
  ASSERT_TRUE(in) << in.error().message;
  EXPECT_EQ(headerOf<rtmsg>(*in).rtm_src_len, 32);
  EXPECT_EQ(ipv4Attr(attrOf<rtmsg>(*in, RTA_SRC)), ip("192.168.50.2"));
  nlattr* iif = attrOf<rtmsg>(*in, RTA_IIF);
  ASSERT_NE(iif, nullptr);
  EXPECT_EQ(nla_get_u32(iif), 4u);
}

TEST(NetlinkTranslate, ParseRouteAnswerReadsTypeOifGatewayAndSource) {
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  rtm.rtm_type = RTN_UNICAST;
  MsgPtr m = kernelMessage(RTM_NEWROUTE, rtm);
  ASSERT_EQ(nla_put_u32(m.get(), RTA_OIF, 3), 0);
  const uint32_t gw = ip("10.244.2.0").networkOrder();
  ASSERT_EQ(nla_put(m.get(), RTA_GATEWAY, sizeof gw, &gw), 0);
  const uint32_t src = ip("10.244.1.0").networkOrder();
  ASSERT_EQ(nla_put(m.get(), RTA_PREFSRC, sizeof src, &src), 0);
  auto a = detail::parseRouteAnswer(nlmsg_hdr(m.get()));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(*a, (RouteAnswer{RTN_UNICAST, 3, ip("10.244.2.0"), ip("10.244.1.0")}));

  rtm.rtm_type = RTN_LOCAL;  // local delivery: no output interface, no gateway
  MsgPtr local = kernelMessage(RTM_NEWROUTE, rtm);
  a = detail::parseRouteAnswer(nlmsg_hdr(local.get()));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(*a, (RouteAnswer{RTN_LOCAL, 0, std::nullopt, std::nullopt}));
}

// --- events (netlink/event_monitor.cpp) ----------------------------------------------------

TEST(NetlinkTranslate, RouteAndNeighbourNotificationsCarryTheirObject) {
  const Route r{prefix("10.244.2.0/24"), ip("10.244.2.0"), 5, true};
  auto delRoute = detail::routeRequest(r, true);
  ASSERT_TRUE(delRoute) << delRoute.error().message;
  auto e = detail::toEvent(nlmsg_hdr(delRoute->get()));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, Event::Kind::kRoute);
  EXPECT_TRUE(e->deleted);
  EXPECT_EQ(e->index, 5);
  EXPECT_EQ(e->route, r);

  const Neighbour n{5, ip("10.244.2.0"), mac("02:00:00:00:00:02")};
  auto newNeigh = detail::neighbourRequest(n, false);
  ASSERT_TRUE(newNeigh) << newNeigh.error().message;
  e = detail::toEvent(nlmsg_hdr(newNeigh->get()));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, Event::Kind::kNeighbour);
  EXPECT_FALSE(e->deleted);
  EXPECT_EQ(e->index, 5);
  EXPECT_EQ(e->neighbour, n);
  EXPECT_EQ(e->fdb, std::nullopt);

  const FdbEntry f{5, mac("02:00:00:00:00:02"), ip("192.168.50.2")};
  auto delFdb = detail::fdbRequest(f, 0, true);
  ASSERT_TRUE(delFdb) << delFdb.error().message;
  e = detail::toEvent(nlmsg_hdr(delFdb->get()));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, Event::Kind::kNeighbour);  // AF_BRIDGE FDB entries are neighbours
  EXPECT_TRUE(e->deleted);
  EXPECT_EQ(e->fdb, f);
  EXPECT_EQ(e->neighbour, std::nullopt);
}

TEST(NetlinkTranslate, LinkAndAddressNotificationsNameTheirInterface) {
  ifinfomsg ifi{};
  ifi.ifi_index = 7;
  MsgPtr link = kernelMessage(RTM_NEWLINK, ifi);
  ASSERT_EQ(nla_put_string(link.get(), IFLA_IFNAME, "vtep"), 0);
  auto e = detail::toEvent(nlmsg_hdr(link.get()));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, Event::Kind::kLink);
  EXPECT_FALSE(e->deleted);
  EXPECT_EQ(e->index, 7);
  EXPECT_EQ(e->linkName, "vtep");

  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_index = 7;
  MsgPtr addr = kernelMessage(RTM_DELADDR, ifa);
  e = detail::toEvent(nlmsg_hdr(addr.get()));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, Event::Kind::kAddress);
  EXPECT_TRUE(e->deleted);
  EXPECT_EQ(e->index, 7);
}

TEST(NetlinkTranslate, MultipathRouteNotificationNamesTheFirstNexthop) {
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  rtm.rtm_table = RT_TABLE_MAIN;
  rtm.rtm_type = RTN_UNICAST;
  rtm.rtm_dst_len = 24;
  MsgPtr m = kernelMessage(RTM_NEWROUTE, rtm);
  const uint32_t dst = ip("10.244.3.0").networkOrder();
  ASSERT_EQ(nla_put(m.get(), RTA_DST, sizeof dst, &dst), 0);
  rtnexthop hops[2] = {};
  hops[0].rtnh_len = sizeof(rtnexthop);
  hops[0].rtnh_ifindex = 8;
  hops[1].rtnh_len = sizeof(rtnexthop);
  hops[1].rtnh_ifindex = 9;
  ASSERT_EQ(nla_put(m.get(), RTA_MULTIPATH, sizeof hops, hops), 0);
  auto e = detail::toEvent(nlmsg_hdr(m.get()));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, Event::Kind::kRoute);
  EXPECT_EQ(e->index, 8);
  EXPECT_EQ(e->route, std::nullopt);  // not a route of the kind ovl programs
}

TEST(NetlinkTranslate, OtherOrShortNotificationsAreNoEvents) {
  rtmsg rule{};
  MsgPtr m = kernelMessage(RTM_NEWRULE, rule);
  EXPECT_EQ(detail::toEvent(nlmsg_hdr(m.get())), std::nullopt);
  // A link notification too short for its ifinfomsg.
  MsgPtr shortLink(nlmsg_alloc_simple(RTM_NEWLINK, 0));
  ASSERT_TRUE(shortLink);
  EXPECT_EQ(detail::toEvent(nlmsg_hdr(shortLink.get())), std::nullopt);
}

// --- the pipelined batch (netlink/netlink.cpp) ---------------------------------------------

TEST(NetlinkTranslate, EveryBatchOpBecomesItsRequest) {
  using Kind = Netlink::Op::Kind;
  const Neighbour n{5, ip("10.244.2.0"), mac("02:00:00:00:00:02")};
  const FdbEntry f{5, mac("02:00:00:00:00:02"), ip("192.168.50.2")};
  const Route r{prefix("10.244.2.0/24"), ip("10.244.2.0"), 5, true};
  struct Case {
    Netlink::Op op;
    int type;
    int family;
  };
  const Case cases[] = {
      {{Kind::kReplaceNeighbour, n, {}, {}}, RTM_NEWNEIGH, AF_INET},
      {{Kind::kDeleteNeighbour, n, {}, {}}, RTM_DELNEIGH, AF_INET},
      {{Kind::kReplaceFdb, {}, f, {}}, RTM_NEWNEIGH, AF_BRIDGE},
      {{Kind::kDeleteFdb, {}, f, {}}, RTM_DELNEIGH, AF_BRIDGE},
      {{Kind::kReplaceRoute, {}, {}, r}, RTM_NEWROUTE, AF_INET},
      {{Kind::kDeleteRoute, {}, {}, r}, RTM_DELROUTE, AF_INET},
  };
  for (const Case& c : cases) {
    auto msg = detail::opRequest(c.op);
    ASSERT_TRUE(msg) << c.op.toString() << ": " << msg.error().message;
    const nlmsghdr* h = nlmsg_hdr(msg->get());
    EXPECT_EQ(h->nlmsg_type, c.type) << c.op.toString();
    // ndmsg and rtmsg both start with their family byte.
    EXPECT_EQ(*static_cast<const uint8_t*>(nlmsg_data(h)), c.family) << c.op.toString();
    if (c.op.kind == Kind::kReplaceFdb) {
      // The batch replaces (moves a MAC to its new remote) where appendFdb appends.
      EXPECT_NE(h->nlmsg_flags & NLM_F_REPLACE, 0);
    }
  }
}

}  // namespace
}  // namespace ovl::nl
