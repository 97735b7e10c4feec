#include "netlink/nl_handles.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ovl::nl::detail {

int nlErrorToErrno(int nlerr) {
  switch (std::abs(nlerr)) {
    case NLE_EXIST:
      return EEXIST;
    case NLE_OBJ_NOTFOUND:
    case NLE_NOADDR:
      return ENOENT;
    case NLE_PERM:
      return EPERM;
    case NLE_INVAL:
    case NLE_MISSING_ATTR:
      return EINVAL;
    case NLE_BUSY:
      return EBUSY;
    case NLE_NODEV:
      return ENODEV;
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_AGAIN:
      return EAGAIN;
    case NLE_OPNOTSUPP:
      return EOPNOTSUPP;
    case NLE_RANGE:
      return ERANGE;
    case NLE_MSGSIZE:
      return EMSGSIZE;
    case NLE_INTR:
      return EINTR;
    case NLE_BAD_SOCK:
      return EBADF;
    case NLE_NOACCESS:
      return EACCES;
    case NLE_AF_NOSUPPORT:
      return EAFNOSUPPORT;
    case NLE_PROTO_MISMATCH:
      return EPROTONOSUPPORT;
    default:
      return EIO;
  }
}

Error nlError(int nlerr, const std::string& context) {
  return Error{nlErrorToErrno(nlerr), context + ": " + nl_geterror(nlerr)};
}

AddrPtr toNlAddr(Ipv4 ip) {
  const uint32_t be = ip.networkOrder();
  return AddrPtr(nl_addr_build(AF_INET, &be, sizeof(be)));
}

AddrPtr toNlAddr(const Ipv4Prefix& prefix) {
  AddrPtr a = toNlAddr(prefix.addr);
  if (a) {
    nl_addr_set_prefixlen(a.get(), prefix.len);
  }
  return a;
}

AddrPtr toNlAddr(const MacAddr& mac) {
  return AddrPtr(nl_addr_build(AF_LLC, mac.bytes.data(), mac.bytes.size()));
}

std::optional<Ipv4> ipv4From(const nl_addr* a) {
  if (a == nullptr || nl_addr_get_len(a) != sizeof(uint32_t)) {
    return std::nullopt;
  }
  const int family = nl_addr_get_family(a);
  if (family != AF_INET && family != AF_UNSPEC) {
    return std::nullopt;
  }
  uint32_t be = 0;
  std::memcpy(&be, nl_addr_get_binary_addr(a), sizeof(be));
  return Ipv4::fromNetworkOrder(be);
}

std::optional<MacAddr> macFrom(const nl_addr* a) {
  MacAddr mac;
  if (a == nullptr || nl_addr_get_len(a) != mac.bytes.size()) {
    return std::nullopt;
  }
  std::memcpy(mac.bytes.data(), nl_addr_get_binary_addr(a), mac.bytes.size());
  return mac;
}

}  // namespace ovl::nl::detail
