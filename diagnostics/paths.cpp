#include "diagnostics/paths.h"

#include <fmt/format.h>

namespace ovl::diag {

std::string Probe::command() const {
  return fmt::format("ip route get {} from {} iif {}", dst.toString(), src.toString(), iif);
}

Ipv4 podAddress(const Ipv4Prefix& subnet) {
  return Ipv4{subnet.network().value + 2};
}

ServiceSummary summarize(const std::vector<svc::Service>& services) {
  ServiceSummary out;
  for (const auto& s : services) {
    if (s.endpoints.empty()) {
      continue;
    }
    out.withEndpoints = true;
    for (const auto& port : s.ports) {
      out.clusterNodePorts =
          out.clusterNodePorts ||
          (port.nodePort.has_value() && s.externalTrafficPolicy == svc::TrafficPolicy::kCluster);
    }
  }
  return out;
}

std::vector<Probe> planProbes(const PathInputs& in) {
  std::vector<Probe> out;
  if (in.plan == nullptr) {
    return out;
  }
  const OverlayPlan& p = *in.plan;
  const bool masqNone = in.network.masquerade == svc::MasqueradeMode::kNone;
  const bool anyService = in.services.withEndpoints;
  const bool anyNodePort = in.services.clusterNodePorts;
  const Ipv4 localPod = podAddress(p.podSubnet);
  size_t n = 0;
  for (const auto& peer : p.peers) {
    if (in.maxPeers != 0 && n++ >= in.maxPeers) {
      break;
    }
    const Ipv4 peerPod = podAddress(peer.podSubnet);
    const std::string here = p.nodeName;
    out.push_back(Probe{fmt::format("pod on {} <-> pod on {}", peer.name, here),
                        fmt::format("packet from {} arriving on {}", peer.name, here), p.vtepName,
                        peerPod, localPod, peer.name});
    out.push_back(Probe{fmt::format("pod on {} -> pod on {}", here, peer.name),
                        fmt::format("packet leaving a pod on {}", here), p.bridgeName, localPod,
                        peerPod, peer.name});
    if (masqNone && anyService) {
      out.push_back(Probe{
          fmt::format("host on {} -> service -> endpoint on {} (masquerade none)", peer.name, here),
          fmt::format("request arriving on {}", here), p.vtepName, peer.underlayIp, localPod,
          peer.name});
      if (!in.underlayInterface.empty()) {
        out.push_back(Probe{fmt::format("host on {} -> service -> endpoint on {} (masquerade none)",
                                        here, peer.name),
                            fmt::format("reply arriving on {}", here), in.underlayInterface,
                            peerPod, p.underlayIp, peer.name});
      }
    }
    if (masqNone && anyNodePort && in.outsideClient && !in.underlayInterface.empty()) {
      out.push_back(
          Probe{fmt::format("outside client -> NodePort on {} -> endpoint on {} (masquerade none)",
                            peer.name, here),
                fmt::format("request arriving on {}", here), p.vtepName, *in.outsideClient,
                localPod, peer.name});
      out.push_back(
          Probe{fmt::format("outside client -> NodePort on {} -> endpoint on {} (masquerade none)",
                            here, peer.name),
                fmt::format("request arriving on {}", here), in.underlayInterface,
                *in.outsideClient, peerPod, peer.name});
    }
  }
  return out;
}

}  // namespace ovl::diag
