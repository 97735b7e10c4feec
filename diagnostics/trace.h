// `ovlctl trace SRC DST:PORT/PROTO`: one flow explained from this node. The service part is pure
// (planTrace: which service entry matches, its endpoints with their probabilities, where each
// lives and whether the flow is masqueraded, from the same NatPlan the agent programs); the
// kernel part (explainTrace) adds the route, VTEP neighbour and FDB entry to each endpoint's
// node, the address masquerade would pick, and the kernel's reverse-path verdict on the reply.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "model/cluster.h"
#include "model/service.h"
#include "netlink/netlink.h"
#include "overlay/overlay_plan.h"

namespace ovl::diag {

struct Flow {
  Ipv4 src;
  Ipv4 dst;
  uint16_t port = 0;
  svc::Protocol protocol = svc::Protocol::kTcp;
  std::string toString() const;  // "10.244.1.2 -> 10.96.0.10:80/tcp"
};
// "SRC" and "DST:PORT/PROTO" (PROTO tcp|udp|sctp, default tcp).
Result<Flow> parseFlow(const std::string& src, const std::string& dst);

struct TraceEndpoint {
  Ipv4 ip;
  uint16_t port = 0;
  std::string node;  // the node whose pod subnet holds it ("" = none)
  double probability = 0;
  uint32_t slots = 0;
  bool local = false;  // on this node
};

struct TracePlan {
  std::string match;    // "service default/web:http (cluster IP)" / "" = no service matches
  std::string verdict;  // "balance" | "reject" | "drop" | "" (no match: routed as is)
  std::vector<TraceEndpoint> endpoints;
  bool masquerade = false;  // the source is rewritten to this node's address on the way out
  std::string masqueradeWhy;
};

// dstIsLocal: DST is one of this node's addresses (NodePorts are matched then).
TracePlan planTrace(const Cluster& cluster, const OverlayPlan& plan, const Flow& flow,
                    bool dstIsLocal);

// The full explanation as text, asking the kernel of the current namespace.
std::string explainTrace(nl::Netlink& netlink, const Cluster& cluster, const OverlayPlan& plan,
                         const std::string& underlay, const Flow& flow);

}  // namespace ovl::diag
