// The functional core of service NAT: which (VIP, protocol, port) and NodePort goes where, with
// how many slots for which endpoint, as a pure function of the services and this node.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/cluster.h"
#include "model/service.h"
#include "rules/nat_plan.h"

namespace ovl::nat {

struct PlanInputs {
  std::string selfNode;  // for traffic policy Local and hairpin
  Ipv4Prefix podCidr;
  svc::MasqueradeMode masquerade = svc::MasqueradeMode::kOffCluster;
  // This node's pod subnet: an endpoint with an address in it is on this node, whatever its
  // `node` says (the field is optional, and where the subnet is routed decides where the pod is).
  std::optional<Ipv4Prefix> selfSubnet;
  bool operator==(const PlanInputs&) const = default;
};

// This node as the plan needs it, from the cluster's network settings: its name and, when known,
// its pod subnet (which tells the endpoints on this node from the others when a service lists
// them without `node`).
PlanInputs planInputs(const NetworkConfig& network, const std::string& self,
                      std::optional<Ipv4Prefix> podSubnet);

// The endpoint is on this node: named so, or with an address in this node's pod subnet.
bool onThisNode(const svc::Endpoint& e, const PlanInputs& in);

// An endpoint's share is its weight (unset = 1, 0 = never chosen), reduced by the weights'
// greatest common divisor; the total over a service is capped here, scaled proportionally
// (each endpoint with a weight > 0 keeps at least one slot).
inline constexpr uint32_t kMaxSlots = 1024;

NatPlan planNat(const std::vector<svc::Service>& services, const PlanInputs& in);

// The endpoints chosen for one traffic direction and their slot counts, in slot order (exposed
// for tests and `ovlctl trace`).
struct Share {
  const svc::Endpoint* endpoint;
  uint32_t slots;
};
std::vector<Share> shares(const svc::Service& s, bool external, const PlanInputs& in);

}  // namespace ovl::nat
