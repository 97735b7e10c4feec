// The VXLAN allow-list: each node accepts the overlay's UDP port only from the underlay addresses
// of the cluster's current nodes, and drops and counts the rest. Its desired state is a pure
// function of the cluster (planVxlanAllow); it lives in table `ip ovl` as the set `vxlan_peers`
// (synced incrementally with the service maps, nft_sets.h) and the base chain `vxlan_input`:
//
//   chain vxlan_input { type filter hook input priority -160; policy accept;
//     meta l4proto udp udp dport <network.port> ip saddr != @vxlan_peers counter drop }
//
// Why the input hook: it sees only packets addressed to this host, after reassembly (so a
// fragmented datagram is matched whole), and never forwarded traffic, so pods that run VXLAN of
// their own through the node are not touched. Why priority -160: before iptables' mangle (-150)
// and every filter table (0), so the counter sees every stranger's packet and nothing else
// spends work on it first. Another table's accept cannot undo this drop (every base chain on
// the hook sees the packet), and the drop cannot break another table's traffic to other ports.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "model/cluster.h"
#include "rules/nft_chains.h"

namespace ovl::nft {
class NftSocket;
}  // namespace ovl::nft

namespace ovl::nat {

inline constexpr const char* kVxlanChain = "vxlan_input";
inline constexpr int32_t kVxlanPriority = -160;

// One allowed source: a node's underlay address, with the node(s) that have it as the element's
// comment.
struct VxlanSource {
  Ipv4 ip;
  std::string comment;  // "node2" (names joined by ", " if nodes share an address)
  auto operator<=>(const VxlanSource&) const = default;
};

struct VxlanAllowPlan {
  uint16_t port = 0;                 // network.port
  std::vector<VxlanSource> sources;  // sorted by address, one per address
  bool operator==(const VxlanAllowPlan&) const = default;
};

// The cluster's nodes (this one included) as allowed sources on network.port.
VxlanAllowPlan planVxlanAllow(const Cluster& cluster);

// The chain `vxlan_input` with its one rule for `port`.
nft::ChainSpec vxlanChainSpec(uint16_t port);

// What the drop rule counted, as the kernel holds it.
struct VxlanDropCounter {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};
// Reads the drop rule's counter from table `ip <table>`: nullopt when the table, the chain or
// the rule is not there.
Result<std::optional<VxlanDropCounter>> readVxlanDropCounter(nft::NftSocket& sock,
                                                             const std::string& table);

}  // namespace ovl::nat
