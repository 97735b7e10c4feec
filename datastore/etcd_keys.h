// The etcd datastore's key layout and the pure decisions made on it (unit-tested without etcd).
//
// Keys, under a prefix (/ovl by default):
//   <prefix>/config                  the network section of the cluster file (YAML or JSON)
//   <prefix>/nodes/<name>            a node: {"name","underlayIP","podSubnet","ready"} (JSON),
//                                    written by the node's agent, bound to the node's lease
//   <prefix>/subnets/<a.b.c.d>-<len> a claimed pod subnet ("/" written "-", as flannel does, so
//                                    the CIDR is one key segment); value: the node's name; bound
//                                    to the node's lease. A node record is accepted only under
//                                    its own name with its subnet claimed on its own lease
//                                    (model/node_identity.h)
//   <prefix>/services/<ns>/<name>    a service: one entry of the cluster file's `services` list
//                                    (YAML or JSON), written by `ovlctl service apply`
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "common/ip.h"
#include "model/cluster.h"

namespace ovl {

struct EtcdKeys {
  std::string prefix;  // "/ovl"

  std::string all() const { return prefix + "/"; }
  std::string config() const { return prefix + "/config"; }
  std::string nodes() const { return prefix + "/nodes/"; }
  std::string node(const std::string& name) const { return nodes() + name; }
  std::string subnets() const { return prefix + "/subnets/"; }
  std::string subnet(const Ipv4Prefix& p) const;
  std::string services() const { return prefix + "/services/"; }
  std::string service(const std::string& ns, const std::string& name) const {
    return services() + ns + "/" + name;
  }

  enum class Kind { kConfig, kNode, kSubnet, kService, kOther };
  Kind kindOf(const std::string& key) const;
  std::optional<Ipv4Prefix> subnetOf(const std::string& key) const;
};

// A node's record, as its agent writes it.
std::string encodeNodeRecord(const std::string& name, Ipv4 underlayIp, const Ipv4Prefix& subnet,
                             bool ready);
// The `ready` flag of a node record (false when absent or unreadable).
bool nodeRecordReady(const std::string& value);
// How a node record found in etcd (`value`, bound to `lease`) differs from the one this node
// writes (its name, underlay IP, subnet and lease; readiness aside): "" when it does not, else
// each difference, as "underlayIP 10.0.0.9 (this node's: 192.168.50.1)".
std::string nodeRecordDrift(const std::string& value, int64_t lease, const std::string& name,
                            Ipv4 underlayIp, const Ipv4Prefix& subnet, int64_t ownLease);
// The same for this node's subnet claim (value: the node's name, bound to its lease).
std::string subnetClaimDrift(const std::string& value, int64_t lease, const std::string& name,
                             int64_t ownLease);

// The pod subnet a node should claim: `preferred` (the one it had before) when it is a free
// subnet of the pod CIDR with the configured length; otherwise the first free one, scanning from
// a position picked by `seed` (the node's name hashed), so nodes claiming at once mostly try
// different subnets. nullopt when every subnet is taken.
std::optional<Ipv4Prefix> chooseSubnet(const NetworkConfig& network,
                                       const std::set<Ipv4Prefix>& taken,
                                       const std::optional<Ipv4Prefix>& preferred, uint64_t seed);
// How many node subnets the pod CIDR holds.
uint64_t subnetCount(const NetworkConfig& network);

}  // namespace ovl
