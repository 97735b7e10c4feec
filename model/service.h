// The service model, shared by every datastore: Kubernetes-style Services and their endpoints.
// Plain values; validation is in the parsers beside it (model/).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "model/source_mark.h"

namespace ovl::svc {

enum class Protocol : uint8_t { kTcp = 6, kUdp = 17, kSctp = 132 };  // IANA numbers
enum class ServiceType { kClusterIP, kNodePort, kLoadBalancer };
enum class TrafficPolicy { kCluster, kLocal };

// "tcp", "udp", "sctp"
inline std::string toString(Protocol p) {
  switch (p) {
    case Protocol::kTcp:
      return "tcp";
    case Protocol::kUdp:
      return "udp";
    case Protocol::kSctp:
      return "sctp";
  }
  return std::to_string(static_cast<unsigned>(p));
}

struct ServicePort {
  std::string name;  // "" allowed when the service has one port
  Protocol protocol = Protocol::kTcp;
  uint16_t port = 0;                 // on the cluster IPs and external IPs
  uint16_t targetPort = 0;           // on the endpoints (0 = same as port)
  std::optional<uint16_t> nodePort;  // NodePort and LoadBalancer services
  bool operator==(const ServicePort&) const = default;
};

struct Endpoint {
  Ipv4 ip;
  std::string node;  // the node that hosts it (for traffic policy Local)
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::optional<uint32_t> weight;         // relative; unset = 1
  std::map<std::string, uint16_t> ports;  // per service-port name: overrides targetPort
  bool operator==(const Endpoint&) const = default;
};

struct Service {
  std::string ns;  // namespace
  std::string name;
  ServiceType type = ServiceType::kClusterIP;
  std::vector<Ipv4> clusterIps;
  std::vector<Ipv4> externalIps;  // also LoadBalancer ingress IPs
  std::vector<ServicePort> ports;
  bool affinityClientIp = false;
  uint32_t affinityTimeoutSeconds = 10800;
  TrafficPolicy internalTrafficPolicy = TrafficPolicy::kCluster;
  TrafficPolicy externalTrafficPolicy = TrafficPolicy::kCluster;
  std::vector<Endpoint> endpoints;
  SourceMark mark;

  std::string id() const { return ns + "/" + name; }
  bool operator==(const Service& o) const {
    return ns == o.ns && name == o.name && type == o.type && clusterIps == o.clusterIps &&
           externalIps == o.externalIps && ports == o.ports &&
           affinityClientIp == o.affinityClientIp &&
           affinityTimeoutSeconds == o.affinityTimeoutSeconds &&
           internalTrafficPolicy == o.internalTrafficPolicy &&
           externalTrafficPolicy == o.externalTrafficPolicy && endpoints == o.endpoints;
  }
};

// Who gets masqueraded when reaching a service (network.masquerade in the cluster file).
enum class MasqueradeMode { kOffCluster, kAll, kNone };

}  // namespace ovl::svc
