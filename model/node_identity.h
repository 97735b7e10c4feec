// Who a stored node record may speak for (the etcd datastore): where each record came from (its
// key, lease and creation), the pod subnet claims, and the vetting that accepts a record only
// under its own name, with the subnet claimed on its own lease, and settles contested values in
// favour of the record created first. Used by ClusterDocuments (model/cluster_documents.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/ip.h"
#include "model/cluster.h"
#include "model/config_issue.h"

namespace ovl {

// Where a node record came from.
struct NodeOrigin {
  std::string keyName;         // the name its key gives it: <prefix>/nodes/<keyName>
  int64_t lease = 0;           // the lease it is bound to (0: none)
  int64_t createRevision = 0;  // when its key was created; the older keeps a contested value
  // This node's own record as its agent knows it (its underlay IP from agent.yaml, its subnet
  // from its own claim), not as etcd holds it: trusted, and first in every contest.
  bool self = false;
};

// A pod subnet claim: <prefix>/subnets/<cidr>, whose value names the node, bound to its lease.
struct SubnetClaim {
  std::string source;  // the claim's key, for messages
  std::string node;
  int64_t lease = 0;
};
using SubnetClaims = std::map<Ipv4Prefix, SubnetClaim>;

// Why `node` may not speak for itself: its name is not its
// key's, it is bound to no lease, or its pod subnet is not claimed on its lease. "" when it
// passes. `field` is set to the field the problem is in.
std::string identityProblem(const Node& node, const NodeOrigin& origin, const SubnetClaims& claims,
                            std::string& field);

// The order in which vetted records take the values only one node may hold (underlay IP, VTEP
// MAC, subnet): this node's own record first, then by creation (older first), then by key.
bool takesValuesFirst(const NodeOrigin& a, const std::string& sourceA, const NodeOrigin& b,
                      const std::string& sourceB);

}  // namespace ovl
