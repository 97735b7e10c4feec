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

// The key order of peer entries (a neighbour's IP, a route's destination, an FDB entry's MAC
// and remote, each after its device; equal keys by value): the order the diff merges in.
bool peerEntryLess(const nl::Neighbour& a, const nl::Neighbour& b);
bool peerEntryLess(const nl::FdbEntry& a, const nl::FdbEntry& b);
bool peerEntryLess(const nl::Route& a, const nl::Route& b);

// Puts each list in peerEntryLess order; a list already in it costs one linear check.
void sortPeerState(PeerState& state);

// The operations that turn `actual` into `desired`, in a safe order: first the deletions of
// what is not wanted (route, FDB, neighbour), then what is added or changed (neighbour, FDB,
// route), by replace, so a changed peer is rewritten in place. Lists in sortPeerState order
// are merged as they are (linear, no copy); others are sorted into copies first.
std::vector<nl::Netlink::Op> diffPeerState(const PeerState& desired, const PeerState& actual);

// What the kernel holds after `op` was acknowledged: the same effect on the model. `state`
// must be in sortPeerState order and stays in it; each op costs a binary search and one
// insertion or erasure. A replaced neighbour or route takes the place of the entry with its
// key on the same device; a replaced FDB entry, of every remote of its MAC.
void applyToState(PeerState& state, const nl::Netlink::Op& op);

// Turns `desired`, which is sortPeerState(desiredPeerState()) of a plan whose peers were
// `before`, into that of a plan whose peers are `after`, touching only the entries of the
// peers that were added, removed or changed: one linear walk of the two peer lists, then per
// changed peer a binary search and an insertion or erasure per entry. Peer lists not sorted
// by unique pod subnet (as planOverlay() makes them) are rebuilt in full. Returns whether
// anything changed.
bool updateDesiredPeerState(PeerState& desired, const std::vector<PeerPlan>& before,
                            const std::vector<PeerPlan>& after, int vtepIndex);

}  // namespace ovl
