// The node's local state: the contract between ovl-agent and ovl-cni on one node, as files.
//
//   <stateDir>/node.json             written by the agent (atomically, after its first
//                                    converged pass and whenever it changes), read by ovl-cni:
//                                    the node's pod subnet, gateway, MTU and bridge.
//   <stateDir>/endpoints/<id>@<ifname>.json   written by ovl-cni on ADD (one per container
//   interface
//                                    with a service label), removed on DEL/GC; the agent
//                                    watches the directory and adds each as an endpoint of its
//                                    service.
#pragma once

#include <cstddef>
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
  // The registration's file name inside endpointsDir: "<containerId>@<ifname>.json" with '%'
  // and '@' in the ID escaped as %25 and %40 (container IDs never hold them: the plugin allows
  // letters, digits, '_', '.', '-'; interface names hold no '/'). Unambiguous: "x.y"+"z" and
  // "x"+"y.z" are "x.y@z.json" and "x@y.z.json".
  static std::string fileName(const std::string& containerId, const std::string& ifname);
  // The name ovl-cni used before: "<containerId>.<ifname>.json", ambiguous ("x.y"+"z" and
  // "x"+"y.z" are both "x.y.z.json"). Files of that name left in /run by an upgrade are still
  // read by the agent, and removed by ovl-cni only when their content names the same interface.
  static std::string legacyFileName(const std::string& containerId, const std::string& ifname);
  // Whether `name` is this registration's file name, new or legacy: a file whose name does not
  // match its content is not trusted by the agent.
  bool namedBy(const std::string& name) const;
};

// "namespace/name" of DNS labels; an error message naming what is wrong, or "".
std::string checkServiceName(const std::string& service);

// The size a local state file may have: allocations.json of a /16 is a few MiB.
inline constexpr size_t kMaxLocalFileBytes = 16u << 20;
// A registration is a few hundred bytes.
inline constexpr size_t kMaxRegistrationBytes = 64u << 10;

// Reads a whole regular file of at most maxBytes (EFBIG beyond, EINVAL for a FIFO, a device or
// a directory: a state file replaced by /dev/zero must not be read forever).
Result<std::string> readFile(const std::string& path, size_t maxBytes = kMaxLocalFileBytes);
// Writes path atomically: a temporary file in the same directory, fsync, rename.
Status writeFileAtomic(const std::string& path, const std::string& content);

}  // namespace ovl
