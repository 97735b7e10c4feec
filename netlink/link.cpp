// Links: the dump and single gets of devices, the creation of VXLAN, bridge and veth devices,
// their deletion, and changes of one attribute (up, MTU, MAC, master). A link message is parsed
// by libnl's cache operations into an rtnl_link, then into ovl's Link.
#include "netlink/netlink.h"

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <cerrno>
#include <utility>

#include "netlink/messages.h"
#include "netlink/nl_handles.h"
#include "netlink/request.h"

namespace ovl::nl {

using detail::AddrPtr;
using detail::buildWith;
using detail::devName;
using detail::LinkPtr;
using detail::MsgPtr;
using detail::parseLink;
using detail::putU32;
using detail::run;
using detail::runDump;
using detail::simpleRequest;

// --- translation -----------------------------------------------------------------------------

namespace detail {

Link toLink(rtnl_link* l, bool kindData) {
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
  // The rtnl_link_vxlan_* accessors abort on a link of another kind, and dereference the kind's
  // data unchecked, which libnl allocates only when the message carried it: check both first.
  if (kindData && rtnl_link_is_vxlan(l)) {
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

// Which parts of IFLA_LINKINFO a link message carries: the kind's own attributes
// (IFLA_INFO_DATA) and its extended statistics (IFLA_INFO_XSTATS).
struct KindParts {
  bool data = false;
  bool xstats = false;
};
// Found as libnl finds them (the last of repeated attributes), so that the answer is about the
// attributes libnl's parser uses.
KindParts kindParts(const nlmsghdr* h) {
  nlattr* tb[IFLA_MAX + 1] = {};
  if (nlmsg_parse(const_cast<nlmsghdr*>(h), sizeof(ifinfomsg), tb, IFLA_MAX, nullptr) < 0 ||
      tb[IFLA_LINKINFO] == nullptr) {
    return {};
  }
  nlattr* li[IFLA_INFO_MAX + 1] = {};
  if (nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], nullptr) < 0) {
    return {};
  }
  return {li[IFLA_INFO_DATA] != nullptr, li[IFLA_INFO_XSTATS] != nullptr};
}

Status parseLink(const nlmsghdr* h, std::vector<Link>* out) {
  if (h->nlmsg_type != RTM_NEWLINK) {
    return okStatus();
  }
  const KindParts kind = kindParts(h);
  if (kind.xstats && !kind.data) {
    // libnl hands the kind's parser a missing IFLA_INFO_DATA (a null pointer) in this case.
    return Error::msg("parse link message: IFLA_INFO_XSTATS without IFLA_INFO_DATA");
  }
  if (kind.data) {
    return parseWithCacheOps<rtnl_link>(
        h, out, [](rtnl_link* l, std::vector<Link>* v) { v->push_back(toLink(l, true)); });
  }
  return parseWithCacheOps<rtnl_link>(
      h, out, [](rtnl_link* l, std::vector<Link>* v) { v->push_back(toLink(l, false)); });
}

Result<LinkPtr> vxlanObject(const VxlanSpec& spec) {
  LinkPtr link(rtnl_link_vxlan_alloc());
  if (!link) {
    return Error::sys(ENOMEM, "allocate link");
  }
  rtnl_link_set_name(link.get(), spec.name.c_str());
  if (int err = rtnl_link_vxlan_set_id(link.get(), spec.vni); err < 0) {
    return nlError(err, "vni");
  }
  if (!spec.local.isUnspecified()) {
    AddrPtr local = toNlAddr(spec.local);
    if (!local) {
      return Error::sys(ENOMEM, "allocate address");
    }
    if (int err = rtnl_link_vxlan_set_local(link.get(), local.get()); err < 0) {
      return nlError(err, "local");
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
    AddrPtr mac = toNlAddr(spec.mac);
    if (!mac) {
      return Error::sys(ENOMEM, "allocate address");
    }
    rtnl_link_set_addr(link.get(), mac.get());  // takes its own reference
  }
  return link;
}

Result<LinkPtr> vethObject(const VethSpec& spec) {
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) {
    return Error::sys(ENOMEM, "allocate link");
  }
  // The peer is owned by `link`; get_peer() hands out one more reference.
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
  if (!peer) {
    return Error::sys(ENOMEM, "allocate peer");
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
  return link;
}

}  // namespace detail

// --- reading ---------------------------------------------------------------------------------

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

// --- creating and deleting ------------------------------------------------------------------

Result<Link> Netlink::createVxlan(const VxlanSpec& spec) {
  const std::string what = "create vxlan " + spec.toString();
  auto link = detail::vxlanObject(spec);
  if (!link) {
    return link.error().withContext(what);
  }
  return createLink(sock_.get(), link->get(), spec.name, what);
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

Result<Link> Netlink::createVeth(const VethSpec& spec) {
  const std::string what = "create veth " + spec.toString();
  auto link = detail::vethObject(spec);
  if (!link) {
    return link.error().withContext(what);
  }
  return createLink(sock_.get(), link->get(), spec.name, what);
}

// --- changing one attribute ------------------------------------------------------------------

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

}  // namespace ovl::nl
