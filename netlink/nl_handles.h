// Private to netlink/: one move-only RAII owner per libnl handle, conversions between ovl's value
// types and libnl's nl_addr, and the translation of libnl's NLE_* codes into errno.
#pragma once

#include "netlink/libnl.h"

#include <memory>
#include <optional>
#include <string>

#include "common/ip.h"
#include "common/result.h"

namespace ovl::nl::detail {

// unique_ptr deleter calling the libnl release function Fn (put/free).
template <auto Fn>
struct Release {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) {
      Fn(p);
    }
  }
};

using LinkPtr = std::unique_ptr<rtnl_link, Release<rtnl_link_put>>;
using AddrPtr = std::unique_ptr<nl_addr, Release<nl_addr_put>>;
using CachePtr = std::unique_ptr<nl_cache, Release<nl_cache_free>>;
using MsgPtr = std::unique_ptr<nl_msg, Release<nlmsg_free>>;
using NeighPtr = std::unique_ptr<rtnl_neigh, Release<rtnl_neigh_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, Release<rtnl_route_put>>;
using NexthopPtr = std::unique_ptr<rtnl_nexthop, Release<rtnl_route_nh_free>>;
using IfAddrPtr = std::unique_ptr<rtnl_addr, Release<rtnl_addr_put>>;
using ObjectPtr = std::unique_ptr<nl_object, Release<nl_object_put>>;

// libnl's negative NLE_* code -> errno (EIO when there is no close equivalent).
int nlErrorToErrno(int nlerr);

// "context: <nl_geterror text>" with the errno equivalent of nlerr.
Error nlError(int nlerr, const std::string& context);

// Builders; nullptr only when libnl is out of memory.
AddrPtr toNlAddr(Ipv4 ip);
AddrPtr toNlAddr(const Ipv4Prefix& prefix);
AddrPtr toNlAddr(const MacAddr& mac);

// Readers; nullopt when the nl_addr is null or of another family/length.
std::optional<Ipv4> ipv4From(const nl_addr* a);
std::optional<MacAddr> macFrom(const nl_addr* a);

}  // namespace ovl::nl::detail
