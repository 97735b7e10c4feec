// Neighbours and FDB entries: both are neighbour messages (RTM_*NEIGH), permanent IPv4 ARP
// entries in family AF_INET and a VXLAN device's forwarding entries in family AF_BRIDGE with
// NTF_SELF. Dumps, writes and the parsing of either kind into ovl's value.
#include "netlink/netlink.h"

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>

#include "netlink/messages.h"
#include "netlink/request.h"

namespace ovl::nl {

using detail::devName;
using detail::fdbEntryOf;
using detail::fdbRequest;
using detail::neighbourRequest;
using detail::parseNeighbour;
using detail::permanentNeighbourOf;
using detail::putU32;
using detail::run;
using detail::runDump;
using detail::simpleRequest;

namespace detail {
namespace {

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

}  // namespace

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

}  // namespace detail

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

}  // namespace ovl::nl
