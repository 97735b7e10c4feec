#include "rules/nat_planner.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace ovl::nat {

PlanInputs planInputs(const NetworkConfig& network, const std::string& self,
                      std::optional<Ipv4Prefix> podSubnet) {
  return PlanInputs{self, network.podCidr, network.masquerade, podSubnet};
}

namespace {

uint32_t weightOf(const svc::Endpoint& e) {
  return e.weight.value_or(1);
}

// Slots per endpoint: weights divided by their gcd; when the total is over kMaxSlots, scaled
// down proportionally, keeping one slot for every endpoint with a weight.
std::vector<uint32_t> slotCounts(const std::vector<const svc::Endpoint*>& eps) {
  std::vector<uint32_t> w;
  w.reserve(eps.size());
  uint32_t g = 0;
  for (const auto* e : eps) {
    w.push_back(weightOf(*e));
    g = std::gcd(g, w.back());
  }
  uint64_t total = 0;
  for (auto& x : w) {
    x /= std::max(g, 1u);
    total += x;
  }
  if (total > kMaxSlots) {
    for (auto& x : w) {
      x = std::max<uint32_t>(1, static_cast<uint32_t>(uint64_t{x} * kMaxSlots / total));
    }
  }
  return w;
}

uint16_t targetPortOf(const svc::ServicePort& p, const svc::Endpoint& e) {
  if (auto it = e.ports.find(p.name); it != e.ports.end()) {
    return it->second;
  }
  return p.targetPort != 0 ? p.targetPort : p.port;
}

std::string clip(std::string text) {
  if (text.size() > kMaxComment) {
    text.resize(kMaxComment);
  }
  return text;
}

std::string portLabel(const svc::Service& s, const svc::ServicePort& p) {
  return clip(fmt::format("{}:{}", s.id(), p.name.empty() ? std::to_string(p.port) : p.name));
}

}  // namespace

bool onThisNode(const svc::Endpoint& e, const PlanInputs& in) {
  return e.node == in.selfNode || (in.selfSubnet && in.selfSubnet->contains(e.ip));
}

std::vector<Share> shares(const svc::Service& s, bool external, const PlanInputs& in) {
  const bool local =
      (external ? s.externalTrafficPolicy : s.internalTrafficPolicy) == svc::TrafficPolicy::kLocal;
  auto eligible = [&](const svc::Endpoint& e) {
    return weightOf(e) > 0 && (!local || onThisNode(e, in));
  };
  // Ready endpoints; terminating ones that still serve only when none is ready.
  std::vector<const svc::Endpoint*> eps;
  for (const auto& e : s.endpoints) {
    if (e.ready && !e.terminating && eligible(e)) {
      eps.push_back(&e);
    }
  }
  if (eps.empty()) {
    for (const auto& e : s.endpoints) {
      if (e.serving && e.terminating && eligible(e)) {
        eps.push_back(&e);
      }
    }
  }
  // A stable order, so that the same services always give the same slots.
  std::sort(eps.begin(), eps.end(),
            [](const svc::Endpoint* a, const svc::Endpoint* b) { return a->ip < b->ip; });
  eps.erase(
      std::unique(eps.begin(), eps.end(),
                  [](const svc::Endpoint* a, const svc::Endpoint* b) { return a->ip == b->ip; }),
      eps.end());
  auto counts = slotCounts(eps);
  std::vector<Share> out;
  for (size_t i = 0; i < eps.size(); ++i) {
    out.push_back(Share{eps[i], counts[i]});
  }
  return out;
}

NatPlan planNat(const std::vector<svc::Service>& services, const PlanInputs& in) {
  NatPlan plan;
  plan.podCidr = in.podCidr;
  plan.masquerade = in.masquerade;
  const bool masqAllowed = in.masquerade != svc::MasqueradeMode::kNone;

  for (const svc::Service& s : services) {
    const bool hasNodePorts = s.type != svc::ServiceType::kClusterIP;
    for (const svc::ServicePort& p : s.ports) {
      const std::string label = portLabel(s, p);
      // One target per traffic direction: internal (cluster IPs), external (external IPs and
      // NodePorts).
      for (const bool external : {false, true}) {
        const bool local = (external ? s.externalTrafficPolicy : s.internalTrafficPolicy) ==
                           svc::TrafficPolicy::kLocal;
        const auto sh = shares(s, external, in);
        uint32_t total = 0;
        for (const auto& x : sh) {
          total += x.slots;
        }
        Target t;
        if (total > 0) {
          t.kind = Target::Kind::kBalance;
          t.slots = total;
          t.affinityTimeout = s.affinityClientIp ? s.affinityTimeoutSeconds : 0;
          // External traffic balanced to any node must come back through this one.
          t.masquerade = external && !local && masqAllowed;
          t.keepSource = external && local;
          plan.slotCounts.insert(total);
        } else {
          // No endpoint at all: refuse at once. Endpoints, but none here under policy
          // Local: drop, as kube-proxy does (the client's load balancer should not send here).
          t.kind = local && !s.endpoints.empty() ? Target::Kind::kDrop : Target::Kind::kReject;
        }
        auto addSlots = [&](Ipv4 vip, uint16_t port) {
          uint32_t slot = 0;
          for (const auto& x : sh) {
            const uint16_t ep = targetPortOf(p, *x.endpoint);
            for (uint32_t k = 0; k < x.slots; ++k) {
              plan.slots.push_back(SlotEntry{
                  vip, p.protocol, port, slot++, x.endpoint->ip, ep,
                  clip(fmt::format("{} -> {}:{}", label, x.endpoint->ip.toString(), ep))});
            }
          }
        };
        for (const Ipv4& ip : external ? s.externalIps : s.clusterIps) {
          plan.vips.push_back(VipEntry{ip, p.protocol, p.port, t, label});
          if (t.kind == Target::Kind::kBalance) {
            addSlots(ip, p.port);
          }
        }
        if (external && hasNodePorts && p.nodePort) {
          plan.nodePorts.push_back(NodePortEntry{p.protocol, *p.nodePort, t, label});
          if (t.kind == Target::Kind::kBalance) {
            addSlots(Ipv4{}, *p.nodePort);
          }
        }
      }
    }
    // A pod that reaches itself through a service must be masqueraded, or it receives its own
    // address as the source and drops the packet as a martian. An endpoint listed without its
    // node is found by its address (else every hairpin connection to it would fail).
    for (const auto& e : s.endpoints) {
      if (onThisNode(e, in)) {
        plan.hairpin.push_back(e.ip);
      }
    }
  }
  std::sort(plan.vips.begin(), plan.vips.end());
  std::sort(plan.nodePorts.begin(), plan.nodePorts.end());
  std::sort(plan.slots.begin(), plan.slots.end());
  std::sort(plan.hairpin.begin(), plan.hairpin.end());
  plan.hairpin.erase(std::unique(plan.hairpin.begin(), plan.hairpin.end()), plan.hairpin.end());
  return plan;
}

}  // namespace ovl::nat
