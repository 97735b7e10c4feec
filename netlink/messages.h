// Private to netlink/: the translators between ovl's value types (netlink/types.h) and rtnetlink
// messages or libnl objects, one group per kernel object kind, each defined in the file of its
// kind. They neither send nor receive: the unit tests check them against known messages, without
// a kernel.
#pragma once

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <optional>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "netlink/netlink.h"
#include "netlink/nl_handles.h"
#include "netlink/types.h"

namespace ovl::nl::detail {

// --- links (link.cpp) ----------------------------------------------------------------------

// A libnl link as ovl's value; the VXLAN attributes only for a vxlan device whose message
// carried them (kindData: IFLA_INFO_DATA was present).
Link toLink(rtnl_link* l, bool kindData);

// Appends the link of an RTM_NEWLINK message to out; other messages are ignored.
Status parseLink(const nlmsghdr* h, std::vector<Link>* out);

// The device `ip link add NAME type vxlan id VNI local IP dev UL dstport PORT nolearning` adds.
Result<LinkPtr> vxlanObject(const VxlanSpec& spec);

// The veth pair `ip link add NAME type veth peer name PEER netns FD` adds.
Result<LinkPtr> vethObject(const VethSpec& spec);

// --- bridge ports (bridge_port.cpp) --------------------------------------------------------

// What `bridge link set dev X hairpin on|off` sends.
Result<MsgPtr> hairpinRequest(int index, bool on);

// The port an AF_BRIDGE RTM_NEWLINK message describes; nullopt for a device that is no port
// (the bridge itself) and for other messages.
Result<std::optional<BridgePort>> parseBridgePort(const nlmsghdr* h);

// --- addresses (address.cpp) ---------------------------------------------------------------

// What `ip addr add|del PREFIX dev X` sends; add fails with EEXIST if the address is there.
Result<MsgPtr> addressRequest(const Address& a, bool del);

// Appends the IPv4 address of an RTM_NEWADDR message to out when it is on interface `index`
// (any interface: nullopt); other messages are ignored.
Status parseAddress(const nlmsghdr* h, std::optional<int> index, std::vector<Address>* out);

// --- neighbours and FDB entries (neighbour.cpp) --------------------------------------------

Result<MsgPtr> neighbourRequest(const Neighbour& n, bool del);
Result<MsgPtr> fdbRequest(const FdbEntry& f, int nlFlags, bool del);

// A neighbour message (RTM_NEWNEIGH/RTM_DELNEIGH) as a libnl object.
Result<NeighPtr> parseNeighbour(const nlmsghdr* h);

// The value of a neighbour message when it is what ovl programs on a VTEP: a permanent IPv4
// neighbour, or an FDB entry (AF_BRIDGE) with an IPv4 remote (NDA_DST).
std::optional<Neighbour> permanentNeighbourOf(rtnl_neigh* obj);
std::optional<FdbEntry> fdbEntryOf(rtnl_neigh* obj);

// --- routes and route queries (route.cpp) --------------------------------------------------

Result<MsgPtr> routeRequest(const Route& r, bool del);

// The value of a route when it is of the kind ovl programs: IPv4 unicast, main table, one
// nexthop.
std::optional<Route> routeOf(rtnl_route* r);

// routeOf() of a route message (RTM_NEWROUTE/RTM_DELROUTE).
Result<std::optional<Route>> parseRoute(const nlmsghdr* h);

// What `ip route get DST [from SRC] [iif DEV]` sends (iif 0: none).
Result<MsgPtr> routeGetRequest(Ipv4 dst, std::optional<Ipv4> src, int iif);

// The kernel's answer (RTM_NEWROUTE) to a route query.
Result<RouteAnswer> parseRouteAnswer(const nlmsghdr* h);

// --- events (event_monitor.cpp) ------------------------------------------------------------

// The event a notification is; nullopt for a message of another type or too short.
std::optional<Event> toEvent(const nlmsghdr* h);

// --- the pipelined batch (netlink.cpp) -----------------------------------------------------

Result<MsgPtr> opRequest(const Netlink::Op& op);

}  // namespace ovl::nl::detail
