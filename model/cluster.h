// model/ owns the cluster model, below every other library of ovl: the network, the nodes and the
// services (model/service.h) as plain values, where each value came from (model/source_mark.h),
// and reading them: agent.yaml, the cluster file and the documents stored in etcd, every problem
// a ConfigIssue (model/config.h gathers those parsers). Its headers include only common/ and the
// standard library; libyaml and fmt are used privately, inside its sources and internal headers.
//
// This header: the cluster model shared by every datastore, the network, the nodes and the
// services. Plain values; validation lives in the parsers (model/config.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "model/service.h"
#include "model/source_mark.h"

namespace ovl {

struct NetworkConfig {
  Ipv4Prefix podCidr;                     // network.podCIDR, e.g. 10.244.0.0/16
  uint8_t subnetLength = 24;              // network.subnetLength
  std::optional<Ipv4Prefix> serviceCidr;  // network.serviceCIDR
  uint32_t vni = 1;                       // network.vni, 1..16777215
  uint16_t port = 4789;                   // network.port (VXLAN UDP destination port)
  std::optional<uint32_t> mtu;            // network.mtu: unset or "auto" = underlay MTU - 50
  // network.masquerade: off-cluster (default) | all | none
  svc::MasqueradeMode masquerade = svc::MasqueradeMode::kOffCluster;

  bool operator==(const NetworkConfig&) const = default;
};

struct Node {
  std::string name;
  Ipv4 underlayIp;
  Ipv4Prefix podSubnet;
  std::optional<MacAddr> vtepMac;  // optional override; default MacAddr::fromIdentity(name)
  SourceMark mark;                 // where the entry starts, for messages

  MacAddr effectiveVtepMac() const { return vtepMac ? *vtepMac : MacAddr::fromIdentity(name); }
  bool operator==(const Node& o) const {
    return name == o.name && underlayIp == o.underlayIp && podSubnet == o.podSubnet &&
           vtepMac == o.vtepMac;
  }
};

struct Cluster {
  NetworkConfig network;
  std::vector<Node> nodes;             // valid nodes only, in file order
  std::vector<svc::Service> services;  // valid services only, in file order
};

}  // namespace ovl
