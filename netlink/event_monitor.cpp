// The EventMonitor: a non-blocking socket subscribed to link, IPv4 address, neighbour and IPv4
// route notifications, and the translation of each notification into an Event that carries the
// object when it is of a kind ovl programs (parsed as the dumps parse it).
#include "netlink/netlink.h"

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "netlink/messages.h"
#include "netlink/nl_handles.h"
#include "netlink/transport.h"

namespace ovl::nl {
namespace {

// The event socket's receive buffer: large enough to absorb the notifications of a cold
// programming of thousands of peers before the agent's loop drains them.
constexpr int kEventReceiveBuffer = 16 << 20;
constexpr std::size_t kEventBuffer = 64 * 1024;

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

}  // namespace

namespace detail {

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

}  // namespace detail

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
      if (auto e = detail::toEvent(h)) {
        out.push_back(*e);
      }
    }
  }
}

}  // namespace ovl::nl
