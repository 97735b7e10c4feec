// The layout-level description of ovl's nftables table: what the kernel should hold, as plain
// data, computed by planNat() (nat_planner.h) from the services. NatTable (nat_table.h) turns
// it into nftables objects and keeps the kernel in step, writing only the difference.
//
// Layout (table `ip ovl`), chosen for O(1) lookups and updates proportional to the change
// (see shared DESIGN.md for the measurements behind it):
//  - map `services`: ip daddr . l4proto . th dport -> verdict (goto a shared chain). One
//    element per (VIP, protocol, port): cluster IPs and external IPs.
//  - map `nodeports`: l4proto . th dport -> verdict, consulted for packets to the node's own
//    addresses (fib daddr type local), never for 127.0.0.0/8.
//  - shared chains `lb_<N>` (N = slot count): numgen random mod N -> slot; then map
//    `endpoints`: (service key) . slot -> endpoint addr . port, DNAT to it. Every service with
//    N slots jumps to the same chain, so adding a service adds map elements, not chains.
//    `lbaff_<N>` does the same with ClientIP affinity (a dynamic map of client -> endpoint
//    with the service's timeout).
//  - verdict `reject` for services with no usable endpoint (TCP reset / ICMP port
//    unreachable, answered at once), `drop` where traffic policy Local leaves none here.
//  - NodePorts use the same scheme with chains `nplb_<N>`, whose `endpoints` key has 0.0.0.0
//    in place of the destination address (the node's address varies).
//  - postrouting masquerade by conntrack mark bits the service chains set, and hairpin (set
//    `hairpin` of endpoint . endpoint: source == destination after DNAT).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/ip.h"
#include "model/service.h"

namespace ovl::nat {

// nftables keeps element comments below 128 bytes; longer ones are clipped by the planner, so
// that what is planned is what the kernel reads back (else every read-back would "differ").
inline constexpr size_t kMaxComment = 127;

// Where a (VIP, protocol, port) or NodePort goes.
struct Target {
  enum class Kind : uint8_t { kBalance, kReject, kDrop };
  Kind kind = Kind::kReject;
  uint32_t slots = 0;            // kBalance: endpoint slots (chain lb_<slots>)
  uint32_t affinityTimeout = 0;  // kBalance: > 0 = ClientIP affinity, seconds
  bool masquerade = false;       // masquerade whatever the source (mode all, or ETP Cluster
                                 //   for NodePort/external traffic)
  bool keepSource = false;       // never masquerade: external traffic with policy Local keeps
                                 //   the client's address, whatever network.masquerade says
  auto operator<=>(const Target&) const = default;
};

// One element of `services`: a cluster IP or external IP, protocol and port.
struct VipEntry {
  Ipv4 ip;
  svc::Protocol protocol = svc::Protocol::kTcp;
  uint16_t port = 0;
  Target target;
  std::string comment;  // "ns/name:port"
  auto operator<=>(const VipEntry&) const = default;
};

// One element of `nodeports`.
struct NodePortEntry {
  svc::Protocol protocol = svc::Protocol::kTcp;
  uint16_t port = 0;
  Target target;
  std::string comment;
  auto operator<=>(const NodePortEntry&) const = default;
};

// One element of `endpoints`: slot `slot` of the service reached as (ip, protocol, port),
// where ip/port are the VIP's, or 0.0.0.0/nodePort for a NodePort.
struct SlotEntry {
  Ipv4 vip;  // 0.0.0.0 for NodePorts
  svc::Protocol protocol = svc::Protocol::kTcp;
  uint16_t port = 0;
  uint32_t slot = 0;
  Ipv4 endpoint;
  uint16_t endpointPort = 0;
  std::string comment;  // "ns/name:port -> ip:port"
  auto operator<=>(const SlotEntry&) const = default;
};

struct NatPlan {
  std::vector<VipEntry> vips;            // sorted
  std::vector<NodePortEntry> nodePorts;  // sorted
  std::vector<SlotEntry> slots;          // sorted
  std::set<uint32_t> slotCounts;         // the lb_<N> / nplb_<N> chains needed
  std::vector<Ipv4> hairpin;             // endpoints on this node (sorted, unique): a pod that
                                         //   reaches itself through a service is masqueraded
  Ipv4Prefix podCidr;                    // masquerade off-cluster: sources outside it
  svc::MasqueradeMode masquerade = svc::MasqueradeMode::kOffCluster;
  bool operator==(const NatPlan&) const = default;
};

}  // namespace ovl::nat
