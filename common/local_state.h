// The node's local state: the contract between ovl-agent and ovl-cni on one node, as files.
//
//   <stateDir>/node.json             written by the agent (atomically, after its first
//                                    converged pass and whenever it changes), read by ovl-cni:
//                                    the node's pod subnet, gateway, MTU and bridge.
//   <stateDir>/endpoints/<id>.json   written by ovl-cni on ADD (one per container interface
//                                    with a service label), removed on DEL/GC; the agent
//                                    watches the directory and adds each as an endpoint of its
//                                    service.
#pragma once

#include <cstdint>
#include <string>

#include "common/ip.h"
#include "common/result.h"

namespace ovl {

struct NodeState {
  static constexpr const char* kFileName = "node.json";
  static constexpr const char* kEndpointsDir = "endpoints";

  std::string node;          // node name
  Ipv4Prefix subnet;         // the node's pod subnet, e.g. 10.244.1.0/24
  Ipv4 gateway;              // the bridge's address, e.g. 10.244.1.1
  uint32_t mtu = 0;          // the overlay's MTU (the VTEP's)
  std::string bridge;        // the pod bridge, e.g. ovlbr0
  std::string endpointsDir;  // where service endpoint registrations go

  bool operator==(const NodeState&) const = default;
  std::string toJson() const;
  // `source` names the file in messages.
  static Result<NodeState> parse(const std::string& text, const std::string& source);
};

// A container interface registered as an endpoint of a service on this node.
struct LocalEndpoint {
  std::string service;  // "namespace/name"
  Ipv4 ip;
  std::string node;
  std::string containerId;
  std::string ifname;

  bool operator==(const LocalEndpoint&) const = default;
  std::string toJson() const;
  static Result<LocalEndpoint> parse(const std::string& text, const std::string& source);
  // The registration's file name inside endpointsDir: "<containerId>.<ifname>.json" (both are
  // validated by the plugin: no '/', no "..").
  static std::string fileName(const std::string& containerId, const std::string& ifname);
};

// "namespace/name" of DNS labels; an error message naming what is wrong, or "".
std::string checkServiceName(const std::string& service);

// Reads a whole file.
Result<std::string> readFile(const std::string& path);
// Writes path atomically: a temporary file in the same directory, fsync, rename.
Status writeFileAtomic(const std::string& path, const std::string& content);

}  // namespace ovl
