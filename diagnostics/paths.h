// The packet paths the overlay and the services create, as seen by one node: for each path, the
// legs that ARRIVE at this node (the interface, the source and destination addresses), which
// are exactly what the kernel's input route lookup (and its reverse-path check) decides on.
// Pure: computed from the overlay plan and the services, no kernel access.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "model/cluster.h"
#include "overlay/overlay_plan.h"

namespace ovl::diag {

// What the paths depend on in the services (a summary, so the agent need not keep them all).
struct ServiceSummary {
  bool withEndpoints = false;     // some service has endpoints
  bool clusterNodePorts = false;  // some NodePort with externalTrafficPolicy Cluster has them
  bool operator==(const ServiceSummary&) const = default;
};
ServiceSummary summarize(const std::vector<svc::Service>& services);

struct PathInputs {
  const OverlayPlan* plan = nullptr;  // this node and its peers
  NetworkConfig network;              // masquerade, pod CIDR
  ServiceSummary services;
  std::string underlayInterface;  // this node's underlay interface
  // A representative off-cluster client (for NodePort paths), e.g. the underlay gateway;
  // unset = NodePort paths are not modelled.
  std::optional<Ipv4> outsideClient;
  size_t maxPeers = 0;  // 0 = every peer; else the first N (the agent's periodic check)
};

// One leg of a path that arrives here.
struct Probe {
  std::string path;  // "host on node1 -> service -> endpoint on node2 (masquerade none)"
  std::string leg;   // "request arriving on node2" / "reply arriving on node1"
  std::string iif;   // the interface it arrives on
  Ipv4 src;
  Ipv4 dst;
  std::string peer;  // the other node involved
  bool operator==(const Probe&) const = default;
  // "ip route get DST from SRC iif IIF"
  std::string command() const;
};

// A representative address in a node's pod subnet: the first one after the VTEP (.0) and the
// bridge (.1), i.e. <subnet>.2 (a pod address: the route decides, no pod needs to exist).
Ipv4 podAddress(const Ipv4Prefix& subnet);

// The legs arriving at this node:
//  - pods of each peer <-> pods here (both directions arrive on the VTEP, from a peer pod);
//  - pods here -> a peer's pods (arrives on the bridge, from a local pod);
//  - with masquerade none and services: host of a peer -> service -> endpoint here, which
//    arrives on the VTEP with the peer's UNDERLAY address as its source; and its reply to a host
//    process here, which arrives on the underlay interface from a peer's pod;
//  - with masquerade none, NodePorts and an outside client: a NodePort of a peer -> endpoint
//    here arrives on the VTEP from the client; a NodePort here -> endpoint on a peer arrives on
//    the underlay from the client.
std::vector<Probe> planProbes(const PathInputs& in);

}  // namespace ovl::diag
