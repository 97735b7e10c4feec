// IPv4 addresses: the dump (all interfaces or one), add and delete. An address message is parsed
// by libnl's cache operations into an rtnl_addr, then into ovl's Address.
#include "netlink/netlink.h"

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cerrno>

#include "netlink/messages.h"
#include "netlink/request.h"

namespace ovl::nl {

using detail::addressRequest;
using detail::devName;
using detail::parseAddress;
using detail::run;
using detail::runDump;
using detail::simpleRequest;

namespace detail {

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

}  // namespace detail

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

Status Netlink::addAddress(const Address& a) {
  return run(sock_.get(), addressRequest(a, false), "add address " + a.toString());
}

Status Netlink::deleteAddress(const Address& a) {
  return run(sock_.get(), addressRequest(a, true), "delete address " + a.toString());
}

}  // namespace ovl::nl
