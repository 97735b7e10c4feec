// rtnetlink over libnl-3 (route). Requests are built with libnl's rtnl_*_build_*_request() from
// libnl objects, each owned by one unique_ptr (netlink/nl_handles.h); they are sent and their
// acks collected by netlink/transport.h, which pipelines many requests per sendmsg() and keeps
// the kernel's errno and extended-ack text. Replies are parsed back into libnl objects and then
// into ovl's value types (netlink/types.h).
#include "netlink/netlink.h"

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "netlink/nl_handles.h"
#include "netlink/transport.h"

namespace ovl::nl {

using detail::AddrPtr;
using detail::IfAddrPtr;
using detail::LinkPtr;
using detail::MsgPtr;
using detail::NeighPtr;
using detail::NexthopPtr;
using detail::RoutePtr;

namespace {

// ovl's route protocol id: routes ovl installs show up as "proto 77" in `ip route`, so they are
// recognisable as ovl's. (Deletes match any protocol, like `ip route del`.)
constexpr uint8_t kRouteProtocol = 77;
// A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is retried this many times.
constexpr int kDumpAttempts = 5;
// The event socket's receive buffer: large enough to absorb the notifications of a cold
// programming of thousands of peers before the agent's loop drains them.
constexpr int kEventReceiveBuffer = 16 << 20;
constexpr std::size_t kEventBuffer = 64 * 1024;

std::string devName(int index) {
  return "#" + std::to_string(index);
}

// --- building requests ---------------------------------------------------------------------

Result<MsgPtr> simpleRequest(int type, int flags, const void* hdr, std::size_t hdrLen) {
  MsgPtr msg(nlmsg_alloc_simple(type, flags));
  if (!msg) {
    return Error::sys(ENOMEM, "allocate netlink message");
  }
  if (int err = nlmsg_append(msg.get(), const_cast<void*>(hdr), hdrLen, NLMSG_ALIGNTO); err < 0) {
    return detail::nlError(err, "build netlink message");
  }
  return msg;
}

Result<MsgPtr> putU32(Result<MsgPtr> msg, int attr, uint32_t value) {
  if (!msg) {
    return msg;
  }
  if (int err = nla_put_u32(msg->get(), attr, value); err < 0) {
    return detail::nlError(err, "build netlink message");
  }
  return msg;
}

// Wraps an rtnl_*_build_*_request() call: fn(nl_msg**) -> NLE code.
template <typename F>
Result<MsgPtr> buildWith(F&& fn) {
  nl_msg* raw = nullptr;
  if (int err = fn(&raw); err < 0) {
    return detail::nlError(err, "build netlink message");
  }
  return MsgPtr(raw);
}

Result<NeighPtr> neighbourObject(const Neighbour& n) {
  NeighPtr obj(rtnl_neigh_alloc());
  AddrPtr dst = detail::toNlAddr(n.ip);
  AddrPtr lladdr = detail::toNlAddr(n.mac);
  if (!obj || !dst || !lladdr) {
    return Error::sys(ENOMEM, "allocate neighbour");
  }
  rtnl_neigh_set_ifindex(obj.get(), n.index);
  if (int err = rtnl_neigh_set_dst(obj.get(), dst.get()); err < 0) {
    return detail::nlError(err, "set neighbour address");
  }
  rtnl_neigh_set_lladdr(obj.get(), lladdr.get());
  rtnl_neigh_set_state(obj.get(), NUD_PERMANENT);
  return obj;
}

// What `ip neigh replace IP lladdr MAC dev X nud permanent` / `ip neigh del IP dev X` send.
Result<MsgPtr> neighbourRequest(const Neighbour& n, bool del) {
  auto obj = neighbourObject(n);
  if (!obj) {
    return obj.error();
  }
  return buildWith([&](nl_msg** m) {
    return del ? rtnl_neigh_build_delete_request(obj->get(), 0, m)
               : rtnl_neigh_build_add_request(obj->get(), NLM_F_CREATE | NLM_F_REPLACE, m);
  });
}

// What `bridge fdb append|replace|del MAC dev X dst IP self permanent` sends: the same object
// as a permanent neighbour (dst = the remote VTEP, lladdr = the MAC), in family AF_BRIDGE with
// NTF_SELF. The family is switched after the IPv4 dst went in: rtnl_neigh_set_dst() refuses an
// address whose family differs from the neighbour's.
Result<MsgPtr> fdbRequest(const FdbEntry& f, int nlFlags, bool del) {
  auto obj = neighbourObject(Neighbour{f.index, f.dst, f.mac});
  if (!obj) {
    return obj.error().withContext("fdb entry " + f.toString());
  }
  rtnl_neigh_set_family(obj->get(), AF_BRIDGE);
  rtnl_neigh_set_flags(obj->get(), NTF_SELF);
  return buildWith([&](nl_msg** m) {
    return del ? rtnl_neigh_build_delete_request(obj->get(), 0, m)
               : rtnl_neigh_build_add_request(obj->get(), nlFlags, m);
  });
}

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

Result<MsgPtr> opRequest(const Netlink::Op& op) {
  using Kind = Netlink::Op::Kind;
  switch (op.kind) {
    case Kind::kReplaceNeighbour:
      return neighbourRequest(op.neighbour, false);
    case Kind::kDeleteNeighbour:
      return neighbourRequest(op.neighbour, true);
    case Kind::kReplaceFdb:
      return fdbRequest(op.fdbEntry, NLM_F_CREATE | NLM_F_REPLACE, false);
    case Kind::kDeleteFdb:
      return fdbRequest(op.fdbEntry, 0, true);
    case Kind::kReplaceRoute:
      return routeRequest(op.route, false);
    case Kind::kDeleteRoute:
      return routeRequest(op.route, true);
  }
  return Error::sys(EINVAL, "unknown op kind");
}

// Sends one request and waits for its ack.
Status run(nl_sock* sk, Result<MsgPtr> msg, const std::string& what) {
  if (!msg) {
    return msg.error().withContext(what);
  }
  nl_msg* raw = msg->get();
  auto replies = detail::exchange(sk, std::span<nl_msg* const>(&raw, 1));
  if (replies[0].error != 0) {
    return detail::replyError(replies[0], what);
  }
  return okStatus();
}

// Runs a dump (or get) to its end; reset() is called before every attempt, since a dump the
// kernel flags as interrupted is run again from the start.
Status runDump(nl_sock* sk, const std::string& what, const std::function<Result<MsgPtr>()>& build,
               const std::function<Status(const nlmsghdr*)>& onMsg,
               const std::function<void()>& reset) {
  for (int attempt = 1;; ++attempt) {
    reset();
    auto req = build();
    if (!req) {
      return req.error().withContext(what);
    }
    bool interrupted = false;
    if (Status st = detail::collect(sk, req->get(), onMsg, &interrupted); !st) {
      return st.error().withContext(what);
    }
    if (!interrupted) {
      return okStatus();
    }
    if (attempt == kDumpAttempts) {
      return Error::sys(EAGAIN, what + ": the table kept changing while it was dumped");
    }
  }
}

// --- parsing replies -----------------------------------------------------------------------

// libnl has no public parser for link and address messages; nl_msg_parse() dispatches a copy
// of the message to the registered cache operations, which hand back the parsed object.
template <typename Obj, typename Out, typename Convert>
Status parseWithCacheOps(const nlmsghdr* h, Out* out, Convert convert) {
  MsgPtr m(nlmsg_convert(const_cast<nlmsghdr*>(h)));
  if (!m) {
    return Error::sys(ENOMEM, "copy netlink message");
  }
  nlmsg_set_proto(m.get(), NETLINK_ROUTE);
  struct Ctx {
    Out* out;
    Convert* convert;
  } ctx{out, &convert};
  int err = nl_msg_parse(
      m.get(),
      [](nl_object* obj, void* arg) {
        auto* c = static_cast<Ctx*>(arg);
        (*c->convert)(reinterpret_cast<Obj*>(obj), c->out);
      },
      &ctx);
  if (err < 0) {
    return detail::nlError(err, "parse netlink message");
  }
  return okStatus();
}

Link toLink(rtnl_link* l) {
  Link out;
  out.index = rtnl_link_get_ifindex(l);
  if (const char* name = rtnl_link_get_name(l)) {
    out.name = name;
  }
  if (const char* kind = rtnl_link_get_type(l)) {
    out.kind = kind;
  }
  out.mac = detail::macFrom(rtnl_link_get_addr(l)).value_or(MacAddr{});
  out.mtu = rtnl_link_get_mtu(l);
  out.up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
  if (int master = rtnl_link_get_master(l); master != 0) {
    out.master = master;
  }
  // The rtnl_link_vxlan_* accessors abort on a link of another kind: check first.
  if (rtnl_link_is_vxlan(l)) {
    VxlanInfo v;
    uint32_t u = 0;
    if (rtnl_link_vxlan_get_id(l, &u) == 0) {
      v.vni = u;
    }
    nl_addr* local = nullptr;
    if (rtnl_link_vxlan_get_local(l, &local) == 0) {
      AddrPtr owned(local);  // get_local() returns a new reference
      v.local = detail::ipv4From(owned.get());
    }
    if (rtnl_link_vxlan_get_link(l, &u) == 0 && u != 0) {
      v.underlayIndex = static_cast<int>(u);
    }
    if (rtnl_link_vxlan_get_port(l, &u) == 0) {
      v.port = static_cast<uint16_t>(u);
    }
    if (int learning = rtnl_link_vxlan_get_learning(l); learning >= 0) {
      v.learning = learning != 0;
    }
    out.vxlan = v;
  }
  return out;
}

Status parseLink(const nlmsghdr* h, std::vector<Link>* out) {
  if (h->nlmsg_type != RTM_NEWLINK) {
    return okStatus();
  }
  return parseWithCacheOps<rtnl_link>(
      h, out, [](rtnl_link* l, std::vector<Link>* v) { v->push_back(toLink(l)); });
}

Status parseAddress(const nlmsghdr* h, std::optional<int> index, std::vector<Address>* out) {
  if (h->nlmsg_type != RTM_NEWADDR) {
    return okStatus();
  }
  struct Sink {
    std::optional<int> index;
    std::vector<Address>* out;
  } sink{index, out};
  return parseWithCacheOps<rtnl_addr>(h, &sink, [](rtnl_addr* a, Sink* s) {
    if (rtnl_addr_get_family(a) != AF_INET) {
      return;
    }
    const int ifindex = rtnl_addr_get_ifindex(a);
    if (s->index && *s->index != ifindex) {
      return;
    }
    auto ip = detail::ipv4From(rtnl_addr_get_local(a));
    if (!ip) {
      return;
    }
    const auto len = static_cast<uint8_t>(rtnl_addr_get_prefixlen(a));
    s->out->push_back(Address{ifindex, Ipv4Prefix{*ip, len}});
  });
}

Result<NeighPtr> parseNeighbour(const nlmsghdr* h) {
  rtnl_neigh* raw = nullptr;
  if (int err = rtnl_neigh_parse(const_cast<nlmsghdr*>(h), &raw); err < 0) {
    return detail::nlError(err, "parse neighbour message");
  }
  return NeighPtr(raw);
}

// The value of a neighbour message when it is what ovl programs on a VTEP: a permanent IPv4
// neighbour, or an FDB entry (AF_BRIDGE) with an IPv4 remote (NDA_DST).
std::optional<Neighbour> permanentNeighbourOf(rtnl_neigh* obj) {
  if (rtnl_neigh_get_family(obj) != AF_INET || (rtnl_neigh_get_state(obj) & NUD_PERMANENT) == 0) {
    return std::nullopt;
  }
  auto ip = detail::ipv4From(rtnl_neigh_get_dst(obj));
  if (!ip) {
    return std::nullopt;
  }
  return Neighbour{rtnl_neigh_get_ifindex(obj), *ip,
                   detail::macFrom(rtnl_neigh_get_lladdr(obj)).value_or(MacAddr{})};
}

std::optional<FdbEntry> fdbEntryOf(rtnl_neigh* obj) {
  if (rtnl_neigh_get_family(obj) != AF_BRIDGE) {
    return std::nullopt;
  }
  auto dst = detail::ipv4From(rtnl_neigh_get_dst(obj));  // NDA_DST: the remote VTEP
  auto mac = detail::macFrom(rtnl_neigh_get_lladdr(obj));
  if (!dst || !mac) {
    return std::nullopt;
  }
  return FdbEntry{rtnl_neigh_get_ifindex(obj), *mac, *dst};
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
  rtnl_route* raw = nullptr;
  if (int err = rtnl_route_parse(const_cast<nlmsghdr*>(h), &raw); err < 0) {
    return detail::nlError(err, "parse route message");
  }
  RoutePtr r(raw);
  return routeOf(r.get());
}

}  // namespace

// --- Socket ----------------------------------------------------------------------------------

Result<Socket> Socket::create() {
  nl_sock* s = nl_socket_alloc();
  if (s == nullptr) {
    return Error::sys(ENOMEM, "allocate netlink socket");
  }
  if (int err = nl_connect(s, NETLINK_ROUTE); err < 0) {
    nl_socket_free(s);
    return detail::nlError(err, "connect NETLINK_ROUTE socket");
  }
  return Socket(s);
}

Socket::Socket(Socket&& o) noexcept : sock_(std::exchange(o.sock_, nullptr)) {}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    if (sock_ != nullptr) {
      nl_socket_free(sock_);
    }
    sock_ = std::exchange(o.sock_, nullptr);
  }
  return *this;
}

Socket::~Socket() {
  if (sock_ != nullptr) {
    nl_socket_free(sock_);  // closes the fd
  }
}

// --- Netlink ---------------------------------------------------------------------------------

Result<Netlink> Netlink::create() {
  auto s = Socket::create();
  if (!s) {
    return s.error().withContext("open rtnetlink");
  }
  detail::tuneRequestSocket(s->get());
  return Netlink(std::move(*s));
}

Result<std::vector<Link>> Netlink::links() {
  std::vector<Link> out;
  auto st = runDump(
      sock_.get(), "dump links",
      [] {
        ifinfomsg ifi{};
        ifi.ifi_family = AF_UNSPEC;
        return putU32(simpleRequest(RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi)), IFLA_EXT_MASK,
                      RTEXT_FILTER_SKIP_STATS);
      },
      [&](const nlmsghdr* h) { return parseLink(h, &out); }, [&] { out.clear(); });
  if (!st) {
    return st.error();
  }
  return out;
}

namespace {

// RTM_GETLINK for one device (by index, or by name when index is 0). ENODEV -> nullopt.
Result<std::optional<Link>> getLink(nl_sock* sk, int index, const std::string& name,
                                    const std::string& what) {
  std::vector<Link> found;
  auto st = runDump(
      sk, what,
      [&]() -> Result<MsgPtr> {
        ifinfomsg ifi{};
        ifi.ifi_family = AF_UNSPEC;
        ifi.ifi_index = index;
        auto msg = putU32(simpleRequest(RTM_GETLINK, 0, &ifi, sizeof(ifi)), IFLA_EXT_MASK,
                          RTEXT_FILTER_SKIP_STATS);
        if (msg && index == 0) {
          if (int err = nla_put_string(msg->get(), IFLA_IFNAME, name.c_str()); err < 0) {
            return detail::nlError(err, "build netlink message");
          }
        }
        return msg;
      },
      [&](const nlmsghdr* h) { return parseLink(h, &found); }, [&] { found.clear(); });
  if (!st) {
    if (st.error().code == ENODEV) {
      return std::optional<Link>{};
    }
    return st.error();
  }
  if (found.empty()) {
    return std::optional<Link>{};
  }
  return std::optional<Link>{std::move(found.front())};
}

// Adds the device described by `link` and reads it back as the kernel made it. NLM_F_EXCL: a
// device of that name must not be silently reused (EEXIST).
Result<Link> createLink(nl_sock* sk, rtnl_link* link, const std::string& name,
                        const std::string& what) {
  if (Status st = run(sk, buildWith([&](nl_msg** m) {
                        return rtnl_link_build_add_request(link, NLM_F_CREATE | NLM_F_EXCL, m);
                      }),
                      what);
      !st) {
    return st.error();
  }
  auto created = getLink(sk, 0, name, "get link \"" + name + "\"");
  if (!created) {
    return created.error().withContext(what);
  }
  if (!*created) {
    return Error::sys(ENODEV, what + ": created but not found");
  }
  return std::move(**created);
}

}  // namespace

Result<std::optional<Link>> Netlink::linkByName(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Error::sys(EINVAL, "get link \"" + name + "\": invalid interface name");
  }
  return getLink(sock_.get(), 0, name, "get link \"" + name + "\"");
}

Result<std::optional<Link>> Netlink::linkByIndex(int index) {
  if (index <= 0) {
    return Error::sys(EINVAL, "get link " + devName(index) + ": invalid interface index");
  }
  return getLink(sock_.get(), index, "", "get link " + devName(index));
}

Result<Link> Netlink::createVxlan(const VxlanSpec& spec) {
  const std::string what = "create vxlan " + spec.toString();
  LinkPtr link(rtnl_link_vxlan_alloc());
  if (!link) {
    return Error::sys(ENOMEM, what + ": allocate link");
  }
  rtnl_link_set_name(link.get(), spec.name.c_str());
  if (int err = rtnl_link_vxlan_set_id(link.get(), spec.vni); err < 0) {
    return detail::nlError(err, what + ": vni");
  }
  if (!spec.local.isUnspecified()) {
    AddrPtr local = detail::toNlAddr(spec.local);
    if (!local) {
      return Error::sys(ENOMEM, what + ": allocate address");
    }
    if (int err = rtnl_link_vxlan_set_local(link.get(), local.get()); err < 0) {
      return detail::nlError(err, what + ": local");
    }
  }
  if (spec.underlayIndex != 0) {
    rtnl_link_vxlan_set_link(link.get(), static_cast<uint32_t>(spec.underlayIndex));
  }
  rtnl_link_vxlan_set_port(link.get(), spec.port);
  rtnl_link_vxlan_set_learning(link.get(), 0);  // ovl programs the FDB itself
  if (spec.mtu != 0) {
    rtnl_link_set_mtu(link.get(), spec.mtu);
  }
  if (!spec.mac.isZero()) {
    AddrPtr mac = detail::toNlAddr(spec.mac);
    if (!mac) {
      return Error::sys(ENOMEM, what + ": allocate address");
    }
    rtnl_link_set_addr(link.get(), mac.get());  // takes its own reference
  }
  return createLink(sock_.get(), link.get(), spec.name, what);
}

Result<Link> Netlink::createBridge(const std::string& name, uint32_t mtu) {
  const std::string what = "create bridge " + name + " mtu " + std::to_string(mtu);
  LinkPtr link(rtnl_link_bridge_alloc());
  if (!link) {
    return Error::sys(ENOMEM, what + ": allocate link");
  }
  rtnl_link_set_name(link.get(), name.c_str());
  // Note: the kernel lowers a bridge's MTU to the smallest MTU of its ports as ports join,
  // unless the MTU was later changed explicitly (setMtu).
  if (mtu != 0) {
    rtnl_link_set_mtu(link.get(), mtu);
  }
  return createLink(sock_.get(), link.get(), name, what);
}

Status Netlink::deleteLink(int index) {
  LinkPtr link(rtnl_link_alloc());
  if (!link) {
    return Error::sys(ENOMEM, "delete link " + devName(index) + ": allocate link");
  }
  rtnl_link_set_ifindex(link.get(), index);
  return run(sock_.get(),
             buildWith([&](nl_msg** m) { return rtnl_link_build_delete_request(link.get(), m); }),
             "delete link " + devName(index));
}

namespace {

// RTM_NEWLINK on an existing index with only the changed attributes.
template <typename Fill>
Status changeLink(nl_sock* sk, int index, const std::string& what, Fill fill) {
  LinkPtr orig(rtnl_link_alloc());
  LinkPtr changes(rtnl_link_alloc());
  if (!orig || !changes) {
    return Error::sys(ENOMEM, what + ": allocate link");
  }
  rtnl_link_set_ifindex(orig.get(), index);
  if (Status st = fill(changes.get()); !st) {
    return st.error().withContext(what);
  }
  return run(sk, buildWith([&](nl_msg** m) {
               return rtnl_link_build_change_request(orig.get(), changes.get(), 0, m);
             }),
             what);
}

}  // namespace

Status Netlink::setUp(int index) {
  return changeLink(sock_.get(), index, "set link " + devName(index) + " up", [](rtnl_link* c) {
    rtnl_link_set_flags(c, IFF_UP);
    return okStatus();
  });
}

Status Netlink::setMtu(int index, uint32_t mtu) {
  return changeLink(sock_.get(), index,
                    "set link " + devName(index) + " mtu " + std::to_string(mtu),
                    [mtu](rtnl_link* c) {
                      rtnl_link_set_mtu(c, mtu);
                      return okStatus();
                    });
}

Status Netlink::setMac(int index, const MacAddr& mac) {
  return changeLink(sock_.get(), index, "set link " + devName(index) + " address " + mac.toString(),
                    [&mac](rtnl_link* c) -> Status {
                      AddrPtr a = detail::toNlAddr(mac);
                      if (!a) {
                        return Error::sys(ENOMEM, "allocate address");
                      }
                      rtnl_link_set_addr(c, a.get());
                      return okStatus();
                    });
}

Status Netlink::setMaster(int index, int masterIndex) {
  return changeLink(sock_.get(), index,
                    "set link " + devName(index) + " master " + devName(masterIndex),
                    [masterIndex](rtnl_link* c) {
                      rtnl_link_set_master(c, masterIndex);
                      return okStatus();
                    });
}

Result<Link> Netlink::createVeth(const VethSpec& spec) {
  const std::string what = "create veth " + spec.toString();
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) {
    return Error::sys(ENOMEM, what + ": allocate link");
  }
  // The peer is owned by `link`; get_peer() hands out one more reference.
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
  if (!peer) {
    return Error::sys(ENOMEM, what + ": allocate peer");
  }
  rtnl_link_set_name(link.get(), spec.name.c_str());
  rtnl_link_set_name(peer.get(), spec.peerName.c_str());
  if (spec.mtu != 0) {
    rtnl_link_set_mtu(link.get(), spec.mtu);
    rtnl_link_set_mtu(peer.get(), spec.mtu);
  }
  if (spec.peerNetnsFd >= 0) {
    // IFLA_NET_NS_FD inside the peer's info: the kernel creates the peer in that namespace.
    rtnl_link_set_ns_fd(peer.get(), spec.peerNetnsFd);
  }
  return createLink(sock_.get(), link.get(), spec.name, what);
}

Status Netlink::setHairpin(int index, bool on) {
  const std::string what =
      "set bridge port " + devName(index) + " hairpin " + std::string(on ? "on" : "off");
  ifinfomsg ifi{};
  ifi.ifi_family = AF_BRIDGE;
  ifi.ifi_index = index;
  auto msg = simpleRequest(RTM_SETLINK, 0, &ifi, sizeof(ifi));
  if (!msg) {
    return msg.error().withContext(what);
  }
  nlattr* info = nla_nest_start(msg->get(), IFLA_PROTINFO | NLA_F_NESTED);
  if (info == nullptr || nla_put_u8(msg->get(), IFLA_BRPORT_MODE, on ? 1 : 0) < 0) {
    return Error::sys(ENOMEM, what + ": build netlink message");
  }
  nla_nest_end(msg->get(), info);
  return run(sock_.get(), std::move(msg), what);
}

Result<std::optional<bool>> Netlink::hairpin(int index) {
  // The kernel has no single get for a port's settings: they come with the AF_BRIDGE dump.
  auto ports = bridgePorts();
  if (!ports) {
    return ports.error().withContext("get bridge port " + devName(index));
  }
  for (const BridgePort& p : *ports) {
    if (p.index == index) {
      return std::optional<bool>(p.hairpin);
    }
  }
  return std::optional<bool>();
}

// --- addresses -------------------------------------------------------------------------------

Result<std::vector<Address>> Netlink::addresses(std::optional<int> index) {
  std::vector<Address> out;
  auto st = runDump(
      sock_.get(), index ? "dump addresses of " + devName(*index) : "dump addresses",
      [] {
        ifaddrmsg ifa{};
        ifa.ifa_family = AF_INET;
        return simpleRequest(RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa));
      },
      [&](const nlmsghdr* h) { return parseAddress(h, index, &out); }, [&] { out.clear(); });
  if (!st) {
    return st.error();
  }
  return out;
}

namespace {

Result<MsgPtr> addressRequest(const Address& a, bool del) {
  IfAddrPtr obj(rtnl_addr_alloc());
  AddrPtr local = detail::toNlAddr(a.local);
  if (!obj || !local) {
    return Error::sys(ENOMEM, "allocate address");
  }
  rtnl_addr_set_ifindex(obj.get(), a.index);
  if (int err = rtnl_addr_set_local(obj.get(), local.get()); err < 0) {
    return detail::nlError(err, "set address");
  }
  return buildWith([&](nl_msg** m) {
    return del ? rtnl_addr_build_delete_request(obj.get(), 0, m)
               : rtnl_addr_build_add_request(obj.get(), NLM_F_CREATE | NLM_F_EXCL, m);
  });
}

}  // namespace

Status Netlink::addAddress(const Address& a) {
  return run(sock_.get(), addressRequest(a, false), "add address " + a.toString());
}

Status Netlink::deleteAddress(const Address& a) {
  return run(sock_.get(), addressRequest(a, true), "delete address " + a.toString());
}

// --- neighbours ------------------------------------------------------------------------------

namespace {

// A dump of RTM_NEWNEIGH messages (neighbours or FDB entries), keeping the values `extract`
// recognises on device `index`.
template <typename T, typename MakeRequest, typename Extract>
Result<std::vector<T>> dumpNeighbourTable(nl_sock* sk, const std::string& what, int index,
                                          MakeRequest request, Extract extract) {
  std::vector<T> out;
  auto st = runDump(
      sk, what, request,
      [&](const nlmsghdr* h) -> Status {
        if (h->nlmsg_type != RTM_NEWNEIGH) {
          return okStatus();
        }
        auto n = parseNeighbour(h);
        if (!n) {
          return n.error();
        }
        auto value = extract(n->get());
        if (value && value->index == index) {
          out.push_back(*value);
        }
        return okStatus();
      },
      [&] { out.clear(); });
  if (!st) {
    return st.error();
  }
  return out;
}

}  // namespace

Result<std::vector<Neighbour>> Netlink::neighbours(int index) {
  return dumpNeighbourTable<Neighbour>(
      sock_.get(), "dump neighbours of " + devName(index), index,
      [index] {
        ndmsg ndm{};
        ndm.ndm_family = AF_INET;
        // NDA_IFINDEX makes the kernel dump only this device's entries.
        return putU32(simpleRequest(RTM_GETNEIGH, NLM_F_DUMP, &ndm, sizeof(ndm)), NDA_IFINDEX,
                      static_cast<uint32_t>(index));
      },
      permanentNeighbourOf);
}

Status Netlink::replaceNeighbour(const Neighbour& n) {
  return run(sock_.get(), neighbourRequest(n, false), "replace neighbour " + n.toString());
}

Status Netlink::deleteNeighbour(const Neighbour& n) {
  return run(sock_.get(), neighbourRequest(n, true), "delete neighbour " + n.toString());
}

// --- FDB -------------------------------------------------------------------------------------

Result<std::vector<FdbEntry>> Netlink::fdb(int index) {
  return dumpNeighbourTable<FdbEntry>(
      sock_.get(), "dump fdb of " + devName(index), index,
      [index] {
        // The AF_BRIDGE dump takes an ifinfomsg header (iproute2's `bridge fdb show dev X`):
        // ifi_index limits the dump to that device's entries.
        ifinfomsg ifi{};
        ifi.ifi_family = AF_BRIDGE;
        ifi.ifi_index = index;
        return simpleRequest(RTM_GETNEIGH, NLM_F_DUMP, &ifi, sizeof(ifi));
      },
      fdbEntryOf);
}

Status Netlink::appendFdb(const FdbEntry& f) {
  return run(sock_.get(), fdbRequest(f, NLM_F_CREATE | NLM_F_APPEND, false),
             "append fdb " + f.toString());
}

Status Netlink::replaceFdb(const FdbEntry& f) {
  return run(sock_.get(), fdbRequest(f, NLM_F_CREATE | NLM_F_REPLACE, false),
             "replace fdb " + f.toString());
}

Status Netlink::deleteFdb(const FdbEntry& f) {
  return run(sock_.get(), fdbRequest(f, 0, true), "delete fdb " + f.toString());
}

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
      sock_.get(), what,
      [&]() -> Result<MsgPtr> {
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
          return detail::nlError(err, "build netlink message");
        }
        return msg;
      },
      [&](const nlmsghdr* h) -> Status {
        if (h->nlmsg_type != RTM_NEWROUTE) {
          return okStatus();
        }
        const auto* rtm = static_cast<const rtmsg*>(NLMSG_DATA(h));
        RouteAnswer a;
        a.type = rtm->rtm_type;
        nlattr* tb[RTA_MAX + 1] = {};
        if (int err = nlmsg_parse(const_cast<nlmsghdr*>(h), sizeof(rtmsg), tb, RTA_MAX, nullptr);
            err < 0) {
          return detail::nlError(err, "parse route answer");
        }
        auto ipAttr = [&](int attr) -> std::optional<Ipv4> {
          if (tb[attr] == nullptr || nla_len(tb[attr]) != 4) {
            return std::nullopt;
          }
          uint32_t be = 0;
          std::memcpy(&be, nla_data(tb[attr]), 4);
          return Ipv4::fromNetworkOrder(be);
        };
        if (tb[RTA_OIF] != nullptr) {
          a.oif = static_cast<int>(nla_get_u32(tb[RTA_OIF]));
        }
        a.gateway = ipAttr(RTA_GATEWAY);
        a.prefSrc = ipAttr(RTA_PREFSRC);
        answer = a;
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

// --- bridge ports ----------------------------------------------------------------------------

Result<std::vector<BridgePort>> Netlink::bridgePorts() {
  std::vector<BridgePort> out;
  auto st = runDump(
      sock_.get(), "dump bridge ports",
      [] {
        ifinfomsg ifi{};
        ifi.ifi_family = AF_BRIDGE;
        return simpleRequest(RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi));
      },
      [&](const nlmsghdr* h) -> Status {
        if (h->nlmsg_type != RTM_NEWLINK) {
          return okStatus();
        }
        const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
        nlattr* tb[IFLA_MAX + 1] = {};
        if (int err =
                nlmsg_parse(const_cast<nlmsghdr*>(h), sizeof(ifinfomsg), tb, IFLA_MAX, nullptr);
            err < 0) {
          return detail::nlError(err, "parse bridge port");
        }
        if (tb[IFLA_MASTER] == nullptr) {
          return okStatus();  // the bridge itself
        }
        BridgePort p;
        p.index = ifi->ifi_index;
        p.master = static_cast<int>(nla_get_u32(tb[IFLA_MASTER]));
        if (tb[IFLA_IFNAME] != nullptr) {
          p.name = nla_get_string(tb[IFLA_IFNAME]);
        }
        if (tb[IFLA_PROTINFO] != nullptr) {
          nlattr* pt[IFLA_BRPORT_MAX + 1] = {};
          if (nla_parse_nested(pt, IFLA_BRPORT_MAX, tb[IFLA_PROTINFO], nullptr) == 0 &&
              pt[IFLA_BRPORT_MODE] != nullptr) {
            p.hairpin = nla_get_u8(pt[IFLA_BRPORT_MODE]) != 0;
          }
        }
        out.push_back(std::move(p));
        return okStatus();
      },
      [&] { out.clear(); });
  if (!st) {
    return st.error();
  }
  return out;
}

// --- pipelined batch -------------------------------------------------------------------------

std::vector<Status> Netlink::applyBatch(std::span<const Op> ops) {
  std::vector<Status> out(ops.size());
  const std::size_t window = detail::windowSize(sock_.get());
  std::vector<MsgPtr> owned;
  std::vector<nl_msg*> msgs;
  std::vector<std::size_t> opIndex;
  owned.reserve(window);
  msgs.reserve(window);
  opIndex.reserve(window);
  for (std::size_t start = 0; start < ops.size(); start += window) {
    const std::size_t end = std::min(ops.size(), start + window);
    owned.clear();
    msgs.clear();
    opIndex.clear();
    for (std::size_t i = start; i < end; ++i) {
      auto msg = opRequest(ops[i]);
      if (!msg) {
        out[i] = msg.error().withContext(ops[i].toString());
        continue;
      }
      msgs.push_back(msg->get());
      owned.push_back(std::move(*msg));
      opIndex.push_back(i);
    }
    if (msgs.empty()) {
      continue;
    }
    auto replies = detail::exchange(sock_.get(), msgs);
    for (std::size_t k = 0; k < replies.size(); ++k) {
      const std::size_t i = opIndex[k];
      if (replies[k].error != 0) {
        out[i] = detail::replyError(replies[k], ops[i].toString());
      }
    }
  }
  return out;
}

// --- EventMonitor ----------------------------------------------------------------------------

Result<EventMonitor> EventMonitor::create() {
  auto s = Socket::create();
  if (!s) {
    return s.error().withContext("open rtnetlink event socket");
  }
  nl_sock* sk = s->get();
  nl_socket_disable_seq_check(sk);  // notifications carry sequence number 0
  if (int err = nl_socket_add_memberships(sk, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_NEIGH,
                                          RTNLGRP_IPV4_ROUTE, 0);
      err < 0) {
    return detail::nlError(err, "join rtnetlink groups");
  }
  if (int err = nl_socket_set_nonblocking(sk); err < 0) {
    return detail::nlError(err, "make rtnetlink event socket non-blocking");
  }
  detail::setReceiveBuffer(sk, kEventReceiveBuffer);
  return EventMonitor(std::move(*s));
}

int EventMonitor::fd() const {
  return nl_socket_get_fd(sock_.get());
}

namespace {

// The interface a route notification is about: RTA_OIF, else the first multipath nexthop.
int routeIndex(const nlmsghdr* h) {
  auto* hdr = const_cast<nlmsghdr*>(h);
  if (nlattr* oif = nlmsg_find_attr(hdr, sizeof(rtmsg), RTA_OIF);
      oif != nullptr && nla_len(oif) >= static_cast<int>(sizeof(uint32_t))) {
    return static_cast<int>(nla_get_u32(oif));
  }
  if (nlattr* mp = nlmsg_find_attr(hdr, sizeof(rtmsg), RTA_MULTIPATH);
      mp != nullptr && nla_len(mp) >= static_cast<int>(sizeof(rtnexthop))) {
    return static_cast<const rtnexthop*>(nla_data(mp))->rtnh_ifindex;
  }
  return 0;
}

std::optional<Event> toEvent(const nlmsghdr* h) {
  Event e;
  const std::size_t payload = h->nlmsg_len - NLMSG_HDRLEN;
  switch (h->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      if (payload < sizeof(ifinfomsg)) {
        return std::nullopt;
      }
      e.kind = Event::Kind::kLink;
      e.deleted = h->nlmsg_type == RTM_DELLINK;
      e.index = static_cast<const ifinfomsg*>(NLMSG_DATA(h))->ifi_index;
      if (nlattr* name = nlmsg_find_attr(const_cast<nlmsghdr*>(h), sizeof(ifinfomsg), IFLA_IFNAME);
          name != nullptr) {
        e.linkName.assign(
            static_cast<const char*>(nla_data(name)),
            strnlen(static_cast<const char*>(nla_data(name)), static_cast<size_t>(nla_len(name))));
      }
      return e;
    case RTM_NEWADDR:
    case RTM_DELADDR:
      if (payload < sizeof(ifaddrmsg)) {
        return std::nullopt;
      }
      e.kind = Event::Kind::kAddress;
      e.deleted = h->nlmsg_type == RTM_DELADDR;
      e.index = static_cast<int>(static_cast<const ifaddrmsg*>(NLMSG_DATA(h))->ifa_index);
      return e;
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH:  // AF_INET neighbours and AF_BRIDGE FDB entries alike
      if (payload < sizeof(ndmsg)) {
        return std::nullopt;
      }
      e.kind = Event::Kind::kNeighbour;
      e.deleted = h->nlmsg_type == RTM_DELNEIGH;
      e.index = static_cast<const ndmsg*>(NLMSG_DATA(h))->ndm_ifindex;
      if (auto n = parseNeighbour(h)) {
        e.neighbour = permanentNeighbourOf(n->get());
        e.fdb = fdbEntryOf(n->get());
      }
      return e;
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      if (payload < sizeof(rtmsg)) {
        return std::nullopt;
      }
      e.kind = Event::Kind::kRoute;
      e.deleted = h->nlmsg_type == RTM_DELROUTE;
      e.index = routeIndex(h);
      if (auto r = parseRoute(h); r && *r) {
        e.route = **r;
      }
      return e;
    default:
      return std::nullopt;
  }
}

}  // namespace

Result<std::vector<Event>> EventMonitor::drain() {
  std::vector<Event> out;
  std::vector<char> buf(kEventBuffer);
  const int fd = nl_socket_get_fd(sock_.get());
  for (;;) {
    const ssize_t len = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (len < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return out;
      }
      if (errno == ENOBUFS) {
        // The kernel dropped notifications that did not fit the receive buffer. The socket
        // stays usable; the caller must re-read the full state.
        Event overflow;
        overflow.kind = Event::Kind::kOverflow;
        out.push_back(overflow);
        continue;
      }
      return Error::sys(errno, "receive rtnetlink events");
    }
    auto remaining = static_cast<std::size_t>(len);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, remaining);
         h = NLMSG_NEXT(h, remaining)) {
      if (auto e = toEvent(h)) {
        out.push_back(*e);
      }
    }
  }
}

}  // namespace ovl::nl
