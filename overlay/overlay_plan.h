// overlay/: the VXLAN overlay of one node: this plan (pure), the kernel interface
// (overlay_kernel.h) with its netlink adapter, and the reconciler that converges the kernel to the
// plan. Includes common/, model/ and netlink/ only.
//
// The functional core of the overlay: what the kernel of one node should hold, as a pure
// function of the cluster, and the difference between that and what the kernel holds.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/cluster.h"
#include "netlink/netlink.h"

namespace ovl {

// One remote node, as this node's VTEP sees it.
struct PeerPlan {
  std::string name;
  Ipv4 vtepIp;      // the peer's VTEP address: the network address of its pod subnet
  MacAddr vtepMac;  // the peer's VTEP MAC
  Ipv4 underlayIp;  // where its VXLAN packets go
  Ipv4Prefix podSubnet;

  bool operator==(const PeerPlan&) const = default;
};

struct OverlayPlan {
  // This node.
  std::string nodeName;
  Ipv4 underlayIp;
  Ipv4Prefix podSubnet;
  // The VTEP: address <subnet>.0/32 (flannel's convention), MAC derived from the node name.
  std::string vtepName;
  uint32_t vni = 0;
  uint16_t port = 0;
  MacAddr vtepMac;
  Ipv4Prefix vtepAddress;
  std::optional<uint32_t> mtu;  // configured; unset = underlay MTU - kVxlanOverhead
  // The pod bridge: address <subnet>.1/<len>, the pods' gateway.
  std::string bridgeName;
  Ipv4Prefix bridgeAddress;
  // Every other node, sorted by pod subnet (so desiredPeerState() lists routes by destination).
  std::vector<PeerPlan> peers;
};

// VXLAN over IPv4 adds 50 bytes: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14).
inline constexpr uint32_t kVxlanOverhead = 50;

struct PlanNames {
  std::string vtepName;    // "" = "ovl.<vni>"
  std::string bridgeName;  // required
};

// Fails only when this node is not in the cluster (its entry is missing or was rejected).
Result<OverlayPlan> planOverlay(const Cluster& cluster, const std::string& self,
                                const PlanNames& names);

// What the kernel holds on the VTEP (ovl's own entries: permanent neighbours, FDB entries
// with a remote, routes through the VTEP).
struct PeerState {
  std::vector<nl::Neighbour> neighbours;
  std::vector<nl::FdbEntry> fdb;
  std::vector<nl::Route> routes;
  bool operator==(const PeerState&) const = default;
};

// The desired peer entries on the VTEP with index vtepIndex.
PeerState desiredPeerState(const OverlayPlan& plan, int vtepIndex);

// The operations that turn `actual` into `desired`, in a safe order: first the deletions of
// what is not wanted (route, FDB, neighbour), then what is added or changed (neighbour, FDB,
// route), by replace, so a changed peer is rewritten in place.
std::vector<nl::Netlink::Op> diffPeerState(const PeerState& desired, const PeerState& actual);

// What the kernel holds after `op` was acknowledged: the same effect on the model.
void applyToState(PeerState& state, const nl::Netlink::Op& op);

}  // namespace ovl
