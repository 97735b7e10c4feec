// IPv4 routes of the main table (dump, replace, delete) and route queries (RTM_GETROUTE for one
// destination, optionally as a packet arriving on an interface: what the rp_filter checker asks).
#include "netlink/netlink.h"

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <cstring>

#include "netlink/messages.h"
#include "netlink/request.h"

namespace ovl::nl {

using detail::devName;
using detail::MsgPtr;
using detail::parseRoute;
using detail::routeRequest;
using detail::run;
using detail::runDump;
using detail::simpleRequest;

namespace detail {
namespace {

// ovl's route protocol id: routes ovl installs show up as "proto 77" in `ip route`, so they are
// recognisable as ovl's. (Deletes match any protocol, like `ip route del`.)
constexpr uint8_t kRouteProtocol = 77;

// The IPv4 address in attribute `attr` of a parsed message, if present and 4 bytes long.
std::optional<Ipv4> ipv4Attr(nlattr* const* tb, int attr) {
  if (tb[attr] == nullptr || nla_len(tb[attr]) != 4) {
    return std::nullopt;
  }
  uint32_t be = 0;
  std::memcpy(&be, nla_data(tb[attr]), 4);
  return Ipv4::fromNetworkOrder(be);
}

}  // namespace

// What `ip route replace DST via GW dev X onlink proto 77` / `ip route del DST via GW dev X`
// send: main table, unicast, one nexthop.
Result<MsgPtr> routeRequest(const Route& r, bool del) {
  RoutePtr route(rtnl_route_alloc());
  AddrPtr dst = detail::toNlAddr(r.dst);
  NexthopPtr nh(rtnl_route_nh_alloc());
  if (!route || !dst || !nh) {
    return Error::sys(ENOMEM, "allocate route");
  }
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  if (del) {
    // Like `ip route del`: RT_SCOPE_NOWHERE and protocol 0 match a route of any scope and
    // protocol, so a route someone else put on the VTEP can be removed too.
    rtnl_route_set_scope(route.get(), RT_SCOPE_NOWHERE);
    rtnl_route_set_protocol(route.get(), RTPROT_UNSPEC);
  } else {
    rtnl_route_set_scope(route.get(),
                         r.gateway.isUnspecified() ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
    rtnl_route_set_protocol(route.get(), kRouteProtocol);
  }
  if (int err = rtnl_route_set_dst(route.get(), dst.get()); err < 0) {
    return detail::nlError(err, "set route dst");
  }
  rtnl_route_nh_set_ifindex(nh.get(), r.index);
  if (!r.gateway.isUnspecified()) {
    AddrPtr gw = detail::toNlAddr(r.gateway);
    if (!gw) {
      return Error::sys(ENOMEM, "allocate route gateway");
    }
    rtnl_route_nh_set_gateway(nh.get(), gw.get());
  }
  if (r.onlink) {
    // The gateway is not in any subnet of the VTEP (it is the peer's pod subnet address), so
    // the kernel must be told to consider it reachable on the device.
    rtnl_route_nh_set_flags(nh.get(), RTNH_F_ONLINK);
  }
  rtnl_route_add_nexthop(route.get(), nh.release());  // the route owns the nexthop now
  return buildWith([&](nl_msg** m) {
    return del ? rtnl_route_build_del_request(route.get(), 0, m)
               : rtnl_route_build_add_request(route.get(), NLM_F_REPLACE, m);
  });
}

// The value of a route message when it is of the kind ovl programs: IPv4 unicast, main table,
// one nexthop.
std::optional<Route> routeOf(rtnl_route* r) {
  if (rtnl_route_get_family(r) != AF_INET || rtnl_route_get_table(r) != RT_TABLE_MAIN ||
      rtnl_route_get_type(r) != RTN_UNICAST || rtnl_route_get_nnexthops(r) != 1) {
    return std::nullopt;
  }
  rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
  nl_addr* dst = rtnl_route_get_dst(r);
  auto dstIp = detail::ipv4From(dst);
  if (!dstIp) {
    // The default route has a zero-length RTA_DST-less destination.
    if (dst == nullptr || nl_addr_get_prefixlen(dst) != 0) {
      return std::nullopt;
    }
    dstIp = Ipv4{};
  }
  Route route;
  route.dst = Ipv4Prefix{*dstIp, static_cast<uint8_t>(nl_addr_get_prefixlen(dst))};
  route.gateway = detail::ipv4From(rtnl_route_nh_get_gateway(nh)).value_or(Ipv4{});
  route.index = rtnl_route_nh_get_ifindex(nh);
  // Single-path routes report their nexthop flags in rtm_flags; libnl copies them to the
  // nexthop it builds from RTA_OIF/RTA_GATEWAY.
  route.onlink = (rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK) != 0;
  return route;
}

Result<std::optional<Route>> parseRoute(const nlmsghdr* h) {
  // libnl's rtnl_route_parse() trusts the length of RTA_VIA, here and in RTA_MULTIPATH's
  // nexthops: a short one makes it copy a negative size. ovl programs routes of neither kind, so
  // a multipath route is none of ovl's, and a short RTA_VIA is refused before libnl sees it.
  // Found as libnl finds them: the last of repeated attributes.
  nlattr* tb[RTA_MAX + 1] = {};
  if (nlmsg_parse(const_cast<nlmsghdr*>(h), sizeof(rtmsg), tb, RTA_MAX, nullptr) == 0) {
    if (tb[RTA_MULTIPATH] != nullptr) {
      return std::optional<Route>();
    }
    if (tb[RTA_VIA] != nullptr && nla_len(tb[RTA_VIA]) < static_cast<int>(sizeof(rtvia))) {
      return Error::msg("parse route message: RTA_VIA shorter than its address family");
    }
  }
  rtnl_route* raw = nullptr;
  if (int err = rtnl_route_parse(const_cast<nlmsghdr*>(h), &raw); err < 0) {
    return detail::nlError(err, "parse route message");
  }
  RoutePtr r(raw);
  return routeOf(r.get());
}

Result<MsgPtr> routeGetRequest(Ipv4 dst, std::optional<Ipv4> src, int iif) {
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  rtm.rtm_dst_len = 32;
  rtm.rtm_src_len = src ? 32 : 0;
  auto msg = simpleRequest(RTM_GETROUTE, 0, &rtm, sizeof(rtm));
  if (!msg) {
    return msg;
  }
  // Addresses in network byte order, as the kernel reads them (nla_get_in_addr).
  const uint32_t d = dst.networkOrder();
  int err = nla_put(msg->get(), RTA_DST, sizeof d, &d);
  if (err == 0 && src) {
    const uint32_t s = src->networkOrder();
    err = nla_put(msg->get(), RTA_SRC, sizeof s, &s);
  }
  if (err == 0 && iif != 0) {
    err = nla_put_u32(msg->get(), RTA_IIF, static_cast<uint32_t>(iif));
  }
  if (err < 0) {
    return nlError(err, "build netlink message");
  }
  return msg;
}

Result<RouteAnswer> parseRouteAnswer(const nlmsghdr* h) {
  // The header and each attribute are checked for length before they are read.
  if (!nlmsg_valid_hdr(h, sizeof(rtmsg))) {
    return Error::msg("parse route answer: message shorter than its rtmsg header");
  }
  const auto* rtm = static_cast<const rtmsg*>(NLMSG_DATA(h));
  RouteAnswer a;
  a.type = rtm->rtm_type;
  nlattr* tb[RTA_MAX + 1] = {};
  if (int err = nlmsg_parse(const_cast<nlmsghdr*>(h), sizeof(rtmsg), tb, RTA_MAX, nullptr);
      err < 0) {
    return nlError(err, "parse route answer");
  }
  if (tb[RTA_OIF] != nullptr && nla_len(tb[RTA_OIF]) >= 4) {
    a.oif = static_cast<int>(nla_get_u32(tb[RTA_OIF]));
  }
  a.gateway = ipv4Attr(tb, RTA_GATEWAY);
  a.prefSrc = ipv4Attr(tb, RTA_PREFSRC);
  return a;
}

}  // namespace detail

// --- routes ----------------------------------------------------------------------------------

Result<std::vector<Route>> Netlink::routes(int index) {
  std::vector<Route> out;
  auto st = runDump(
      sock_.get(), "dump routes of " + devName(index),
      [] {
        rtmsg rtm{};
        rtm.rtm_family = AF_INET;
        return simpleRequest(RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm));
      },
      [&](const nlmsghdr* h) -> Status {
        if (h->nlmsg_type != RTM_NEWROUTE) {
          return okStatus();
        }
        auto route = parseRoute(h);
        if (!route) {
          return route.error();
        }
        if (*route && (*route)->index == index) {
          out.push_back(**route);
        }
        return okStatus();
      },
      [&] { out.clear(); });
  if (!st) {
    return st.error();
  }
  return out;
}

Status Netlink::replaceRoute(const Route& r) {
  return run(sock_.get(), routeRequest(r, false), "replace route " + r.toString());
}

Status Netlink::deleteRoute(const Route& r) {
  return run(sock_.get(), routeRequest(r, true), "delete route " + r.toString());
}

// --- route queries ---------------------------------------------------------------------------

Result<RouteAnswer> Netlink::routeGet(Ipv4 dst, std::optional<Ipv4> src, int iif) {
  std::string what = "route get " + dst.toString();
  if (src) {
    what += " from " + src->toString();
  }
  if (iif != 0) {
    what += " iif " + devName(iif);
  }
  std::optional<RouteAnswer> answer;
  auto st = runDump(
      sock_.get(), what, [&] { return detail::routeGetRequest(dst, src, iif); },
      [&](const nlmsghdr* h) -> Status {
        if (h->nlmsg_type != RTM_NEWROUTE) {
          return okStatus();
        }
        auto a = detail::parseRouteAnswer(h);
        if (!a) {
          return a.error();
        }
        answer = *a;
        return okStatus();
      },
      [&] { answer.reset(); });
  if (!st) {
    return st.error();
  }
  if (!answer) {
    return Error::sys(ENOENT, what + ": no answer");
  }
  return *answer;
}

}  // namespace ovl::nl
