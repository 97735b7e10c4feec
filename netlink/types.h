// Plain value types for the kernel objects ovl programs over rtnetlink. Each has operator== and
// a readable toString() (used in logs, errors and test failures).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/ip.h"

namespace ovl::nl {

struct VxlanInfo {
  uint32_t vni = 0;
  std::optional<Ipv4> local;         // IFLA_VXLAN_LOCAL
  std::optional<int> underlayIndex;  // IFLA_VXLAN_LINK
  uint16_t port = 0;                 // IFLA_VXLAN_PORT, host order
  bool learning = true;              // IFLA_VXLAN_LEARNING

  bool operator==(const VxlanInfo&) const = default;
  std::string toString() const;
};

struct Link {
  int index = 0;
  std::string name;
  std::string kind;  // "vxlan", "bridge", "veth", "" for plain devices
  MacAddr mac;
  uint32_t mtu = 0;
  bool up = false;            // IFF_UP (administratively up)
  std::optional<int> master;  // IFLA_MASTER
  std::optional<VxlanInfo> vxlan;

  bool operator==(const Link&) const = default;
  std::string toString() const;
};

// What ovl wants its VTEP to be. Learning is always off: ovl programs FDB entries itself.
struct VxlanSpec {
  std::string name;
  uint32_t vni = 0;
  Ipv4 local;
  int underlayIndex = 0;
  uint16_t port = 4789;
  uint32_t mtu = 0;
  MacAddr mac;

  bool operator==(const VxlanSpec&) const = default;
  std::string toString() const;
};

// A veth pair whose peer is created in another network namespace (a container's).
struct VethSpec {
  std::string name;      // this end, in the socket's namespace
  std::string peerName;  // the other end, in the namespace of peerNetnsFd
  int peerNetnsFd = -1;  // an open /proc/<pid>/ns/net or bind-mounted netns file
  uint32_t mtu = 0;      // both ends; 0 = the kernel's default

  bool operator==(const VethSpec&) const = default;
  std::string toString() const;
};

struct Address {
  int index = 0;     // interface
  Ipv4Prefix local;  // e.g. 10.244.1.0/32

  auto operator<=>(const Address&) const = default;
  std::string toString() const;
};

// A permanent ARP entry on the VTEP: peer VTEP address -> peer VTEP MAC.
struct Neighbour {
  int index = 0;
  Ipv4 ip;
  MacAddr mac;

  auto operator<=>(const Neighbour&) const = default;
  std::string toString() const;
};

// A permanent FDB entry on the VTEP (AF_BRIDGE, NTF_SELF): peer VTEP MAC -> peer underlay IP.
struct FdbEntry {
  int index = 0;
  MacAddr mac;
  Ipv4 dst;

  auto operator<=>(const FdbEntry&) const = default;
  std::string toString() const;
};

// An IPv4 unicast route in the main table with one gateway, optionally onlink.
struct Route {
  Ipv4Prefix dst;
  Ipv4 gateway;   // 0.0.0.0 = none (directly connected)
  int index = 0;  // output interface
  bool onlink = false;

  auto operator<=>(const Route&) const = default;
  std::string toString() const;
};

// The kernel's answer to a route query (RTM_GETROUTE for one destination).
struct RouteAnswer {
  uint8_t type = 0;  // RTN_UNICAST, RTN_LOCAL, ...
  int oif = 0;       // output interface (0 for local delivery)
  std::optional<Ipv4> gateway;
  std::optional<Ipv4> prefSrc;  // the source address the kernel would pick

  bool operator==(const RouteAnswer&) const = default;
  std::string toString() const;
};

// A port of a bridge, as the bridge sees it (AF_BRIDGE link dump).
struct BridgePort {
  int index = 0;
  std::string name;
  int master = 0;
  bool hairpin = false;  // IFLA_BRPORT_MODE

  bool operator==(const BridgePort&) const = default;
  std::string toString() const;
};

}  // namespace ovl::nl
