#include "cni/pod_network.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <fmt/format.h>

namespace ovl::cni {

namespace {

const Ipv4Prefix kDefaultRoute{Ipv4{0}, 0};

Status withContext(Status st, const std::string& what) {
  if (!st) {
    return st.error().withContext(what);
  }
  return st;
}

}  // namespace

namespace {

// The plugin's own namespace: this thread's (the one that opens netlink sockets).
constexpr const char* kOwnNetns = "/proc/thread-self/ns/net";

Error ownNetnsError(const std::string& path) {
  return Error{EPERM, fmt::format("CNI_NETNS {} is ovl-cni's own network namespace (the node's), "
                                  "not a container's: refused, nothing was changed",
                                  path)};
}

bool sameInode(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

Result<UniqueFd> openNetns(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return Error::sys(errno, "open network namespace " + path);
  }
  int type = ::ioctl(fd.get(), NS_GET_NSTYPE);
  if (type != CLONE_NEWNET) {
    return Error{EINVAL, fmt::format("{} is not a network namespace", path)};
  }
  // Checked again on the open file, which is what is used: the path may have changed since.
  struct stat opened {};
  struct stat own {};
  if (::fstat(fd.get(), &opened) != 0 || ::stat(kOwnNetns, &own) != 0) {
    return Error::sys(errno, "stat network namespace " + path);
  }
  if (sameInode(opened, own)) {
    return ownNetnsError(path);
  }
  return fd;
}

Result<std::string> netnsIdentity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Error::sys(errno, "stat network namespace " + path);
  }
  return fmt::format("{}:{}", static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
}

Status checkNotOwnNetns(const std::string& path) {
  struct stat given {};
  struct stat own {};
  if (::stat(path.c_str(), &given) != 0) {
    return okStatus();
  }
  if (::stat(kOwnNetns, &own) != 0) {
    return Error::sys(errno, std::string("stat ") + kOwnNetns);
  }
  if (sameInode(given, own)) {
    return ownNetnsError(path);
  }
  return okStatus();
}

Result<bool> hostEndExists(const std::string& hostIfname) {
  auto host = nl::Netlink::create();
  if (!host) {
    return host.error();
  }
  auto link = host->linkByName(hostIfname);
  if (!link) {
    return link.error();
  }
  return link->has_value();
}

Result<nl::Netlink> netlinkIn(int netnsFd) {
  UniqueFd self(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!self.valid()) {
    return Error::sys(errno, "open /proc/thread-self/ns/net");
  }
  if (::setns(netnsFd, CLONE_NEWNET) != 0) {
    return Error::sys(errno, "enter the container's network namespace");
  }
  auto nl = nl::Netlink::create();
  if (::setns(self.get(), CLONE_NEWNET) != 0) {
    // The thread would go on working in the container's namespace: never continue.
    std::abort();
  }
  return nl;
}

std::string hostIfname(const std::string& containerId, const std::string& ifname) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a 64
  for (char c : containerId + "/" + ifname) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ULL;
  }
  return fmt::format("ovl{:011x}", h & 0xfffffffffffULL);
}

Result<Attached> attachPod(const PodAttachment& a) {
  auto host = nl::Netlink::create();
  if (!host) {
    return host.error();
  }
  auto bridge = host->linkByName(a.bridge);
  if (!bridge) {
    return bridge.error();
  }
  if (!*bridge) {
    return Error{ENODEV, fmt::format("pod bridge {} does not exist (yet): is ovl-agent running "
                                     "on this node?",
                                     a.bridge)};
  }
  auto ns = openNetns(a.netnsPath);
  if (!ns) {
    return ns.error();
  }
  const nl::VethSpec spec{a.hostIfname, a.containerIfname, ns->get(), a.mtu};
  auto veth = host->createVeth(spec);
  if (!veth && veth.error().code == EEXIST) {
    // A host end left by an earlier ADD that failed before its DEL: same attachment, same name.
    if (auto stale = host->linkByName(a.hostIfname); stale && *stale) {
      (void)host->deleteLink((*stale)->index);
      veth = host->createVeth(spec);
    }
  }
  if (!veth) {
    return veth.error();
  }
  const int hostIndex = veth->index;
  auto fail = [&](const Error& e) -> Result<Attached> {
    (void)host->deleteLink(hostIndex);  // takes the container end with it
    return e;
  };
  for (Status st : {host->setMaster(hostIndex, (*bridge)->index), host->setHairpin(hostIndex, true),
                    host->setUp(hostIndex)}) {
    if (!st) {
      return fail(st.error());
    }
  }
  auto inside = netlinkIn(ns->get());
  if (!inside) {
    return fail(inside.error());
  }
  auto link = inside->linkByName(a.containerIfname);
  if (!link || !*link) {
    return fail(link
                    ? Error{ENODEV, a.containerIfname + ": created but not found in " + a.netnsPath}
                    : link.error());
  }
  const int index = (*link)->index;
  for (Status st :
       {withContext(inside->addAddress(nl::Address{index, a.address}), a.netnsPath),
        withContext(inside->setUp(index), a.netnsPath),
        withContext(inside->replaceRoute(nl::Route{kDefaultRoute, a.gateway, index, false}),
                    a.netnsPath)}) {
    if (!st) {
      return fail(st.error());
    }
  }
  auto hostLink = host->linkByIndex(hostIndex);
  auto containerLink = inside->linkByIndex(index);
  if (!hostLink || !*hostLink || !containerLink || !*containerLink) {
    return fail(Error{EIO, "read back the veth pair " + spec.toString()});
  }
  return Attached{**hostLink, **containerLink};
}

Status detachPod(const std::string& netnsPath, const std::string& containerIfname,
                 const std::string& hostIfname) {
  if (!netnsPath.empty()) {
    auto ns = openNetns(netnsPath);
    if (ns) {
      auto inside = netlinkIn(ns->get());
      if (!inside) {
        return inside.error();
      }
      auto link = inside->linkByName(containerIfname);
      if (!link) {
        return link.error();
      }
      if (*link) {
        if (auto st = inside->deleteLink((*link)->index); !st && st.error().code != ENODEV) {
          return st.error().withContext(netnsPath);
        }
      }
    } else if (ns.error().code != ENOENT) {
      return ns.error();
    }
    // A namespace that is gone took its interfaces with it.
  }
  auto host = nl::Netlink::create();
  if (!host) {
    return host.error();
  }
  auto link = host->linkByName(hostIfname);
  if (!link) {
    return link.error();
  }
  if (*link) {
    if (auto st = host->deleteLink((*link)->index); !st && st.error().code != ENODEV) {
      return st;
    }
  }
  return okStatus();
}

Status checkPod(const PodAttachment& a) {
  auto host = nl::Netlink::create();
  if (!host) {
    return host.error();
  }
  auto bridge = host->linkByName(a.bridge);
  if (!bridge) {
    return bridge.error();
  }
  if (!*bridge) {
    return Error{ENODEV, "pod bridge " + a.bridge + " does not exist"};
  }
  auto hostLink = host->linkByName(a.hostIfname);
  if (!hostLink) {
    return hostLink.error();
  }
  if (!*hostLink) {
    return Error{ENODEV, "host end " + a.hostIfname + " of the veth does not exist"};
  }
  const nl::Link& h = **hostLink;
  if (h.master != (*bridge)->index) {
    return Error{EINVAL, fmt::format("{} is not a port of {}", h.name, a.bridge)};
  }
  if (!h.up) {
    return Error{EINVAL, h.name + " is down"};
  }
  auto hairpin = host->hairpin(h.index);
  if (!hairpin) {
    return hairpin.error();
  }
  if (!*hairpin || !**hairpin) {
    return Error{EINVAL, "hairpin mode is off on bridge port " + h.name};
  }
  auto ns = openNetns(a.netnsPath);
  if (!ns) {
    return ns.error();
  }
  auto inside = netlinkIn(ns->get());
  if (!inside) {
    return inside.error();
  }
  auto link = inside->linkByName(a.containerIfname);
  if (!link) {
    return link.error();
  }
  if (!*link) {
    return Error{ENODEV, fmt::format("no interface {} in {}", a.containerIfname, a.netnsPath)};
  }
  const nl::Link& c = **link;
  if (!c.up) {
    return Error{EINVAL, c.name + " is down in " + a.netnsPath};
  }
  if (a.mtu != 0 && c.mtu != a.mtu) {
    return Error{EINVAL, fmt::format("{} has MTU {}, expected {}", c.name, c.mtu, a.mtu)};
  }
  auto addrs = inside->addresses(c.index);
  if (!addrs) {
    return addrs.error();
  }
  bool found = false;
  for (const auto& ad : *addrs) {
    found = found || ad.local == a.address;
  }
  if (!found) {
    return Error{EINVAL, fmt::format("{} in {} does not hold {}", c.name, a.netnsPath,
                                     a.address.toString())};
  }
  auto routes = inside->routes(c.index);
  if (!routes) {
    return routes.error();
  }
  for (const auto& r : *routes) {
    if (r.dst == kDefaultRoute && r.gateway == a.gateway) {
      return okStatus();
    }
  }
  return Error{EINVAL, fmt::format("no default route via {} on {} in {}", a.gateway.toString(),
                                   c.name, a.netnsPath)};
}

Result<Attached> readAttached(const PodAttachment& a) {
  auto host = nl::Netlink::create();
  if (!host) {
    return host.error();
  }
  auto hostLink = host->linkByName(a.hostIfname);
  if (!hostLink) {
    return hostLink.error();
  }
  auto ns = openNetns(a.netnsPath);
  if (!ns) {
    return ns.error();
  }
  auto inside = netlinkIn(ns->get());
  if (!inside) {
    return inside.error();
  }
  auto link = inside->linkByName(a.containerIfname);
  if (!link) {
    return link.error();
  }
  if (!*hostLink || !*link) {
    return Error{ENODEV, fmt::format("the veth pair {} / {} in {} is not complete", a.hostIfname,
                                     a.containerIfname, a.netnsPath)};
  }
  return Attached{**hostLink, **link};
}

}  // namespace ovl::cni
