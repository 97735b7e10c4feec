#include "diagnostics/ethtool.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>

#include "common/fd.h"

namespace ovl::diag {

namespace {

Status ethtoolCall(const std::string& iface, ethtool_value* v, const std::string& what) {
  if (iface.empty() || iface.size() >= IFNAMSIZ) {
    return Error::sys(EINVAL, what + ": invalid interface name '" + iface + "'");
  }
  // Any socket of the namespace will do; the ioctl names the device.
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    return Error::sys(errno, what + ": socket");
  }
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, iface.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(v);
  if (::ioctl(fd.get(), SIOCETHTOOL, &ifr) != 0) {
    return Error::sys(errno, what);
  }
  return okStatus();
}

}  // namespace

Result<bool> txChecksum(const std::string& iface) {
  ethtool_value v{};
  v.cmd = ETHTOOL_GTXCSUM;
  if (Status s = ethtoolCall(iface, &v, "read tx checksum offload of " + iface); !s) {
    return s.error();
  }
  return v.data != 0;
}

Status setTxChecksum(const std::string& iface, bool on) {
  ethtool_value v{};
  v.cmd = ETHTOOL_STXCSUM;
  v.data = on ? 1 : 0;
  return ethtoolCall(
      iface, &v, std::string("turn tx checksum offload ") + (on ? "on" : "off") + " on " + iface);
}

bool kernelHasVxlanChecksumBug(const std::string& release) {
  int major = 0, minor = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) != 2) {
    return false;
  }
  return major < 5 || (major == 5 && minor < 7);
}

}  // namespace ovl::diag
