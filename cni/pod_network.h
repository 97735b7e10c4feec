// The kernel side of ovl-cni: a veth pair between the node's pod bridge and a container's
// network namespace, configured over netlink (never by running ip). The plugin's thread enters
// the container's namespace only to open a netlink socket there (setns(2) on the path in
// CNI_NETNS); a netlink socket stays bound to the namespace it was opened in.
#pragma once

#include <cstdint>
#include <string>

#include "common/fd.h"
#include "common/ip.h"
#include "common/result.h"
#include "netlink/netlink.h"

namespace ovl::cni {

// An open network namespace file (CNI_NETNS). ENOENT when it does not exist, EINVAL when it
// is not a network namespace, EPERM when it is the plugin's own (see checkNotOwnNetns).
Result<UniqueFd> openNetns(const std::string& path);

// The identity of the network namespace a path names ("<st_dev>:<st_ino>" of the nsfs inode
// behind it): equal for /proc/<pid>/ns/net of every process in it and every bind mount of it,
// and unique among the namespaces alive. ENOENT when the path does not exist.
Result<std::string> netnsIdentity(const std::string& path);

// EPERM with a message naming the path when it is the plugin's own network namespace (the
// node's): /proc/self/ns/net, /proc/<pid>/ns/net of a host process, a bind mount of either.
// Configuring it as a container would give the node's own eth0 an address, routes, or
// delete it. A path that does not exist is not refused here (the caller reports it).
Status checkNotOwnNetns(const std::string& path);

// Whether the host end of an attachment exists in the plugin's namespace: its veth pair is then
// alive, and so is the namespace holding the other end.
Result<bool> hostEndExists(const std::string& hostIfname);

// A netlink socket bound to the network namespace open at netnsFd.
Result<nl::Netlink> netlinkIn(int netnsFd);

// The host end of the veth of (containerId, ifname): "ovl" + 11 hex digits of a hash of both, so
// it is the same on every invocation for the same attachment and fits IFNAMSIZ.
std::string hostIfname(const std::string& containerId, const std::string& ifname);

struct PodAttachment {
  std::string netnsPath;
  std::string containerIfname;  // CNI_IFNAME
  std::string hostIfname;       // hostIfname(containerId, ifname)
  std::string bridge;           // the agent's pod bridge
  Ipv4Prefix address;           // the container's address with the subnet's length
  Ipv4 gateway;                 // the bridge's address
  uint32_t mtu = 0;             // the overlay's MTU
};

struct Attached {
  nl::Link host;
  nl::Link container;
};

// ENODEV (with a message naming the bridge) when the bridge does not exist yet. On any failure
// the veth pair is removed again: nothing is left half-made.
Result<Attached> attachPod(const PodAttachment& a);

// Removes the veth pair, whether or not the namespace or the interfaces still exist.
Status detachPod(const std::string& netnsPath, const std::string& containerIfname,
                 const std::string& hostIfname);

// Checks everything attachPod set up; the error names what differs.
Status checkPod(const PodAttachment& a);

// The veth pair of an attachment as the kernel holds it (ENODEV when either end is missing).
Result<Attached> readAttached(const PodAttachment& a);

}  // namespace ovl::cni
