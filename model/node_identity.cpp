#include "model/node_identity.h"

#include <fmt/format.h>

#include <tuple>

namespace ovl {

std::string identityProblem(const Node& node, const NodeOrigin& origin, const SubnetClaims& claims,
                            std::string& field) {
  if (origin.self) {
    return "";
  }
  if (origin.keyName.empty()) {
    field = "node.name";
    return fmt::format(
        "node '{}': where the record came from (its key and lease) is unknown, so "
        "it cannot be vetted; ignored",
        clipValue(node.name));
  }
  if (node.name != origin.keyName) {
    field = "node.name";
    return fmt::format(
        "name '{}' is not the name in the record's key ('{}'); a node record is accepted only "
        "under the key of its own name, so this one is ignored and node '{}' is not affected",
        clipValue(node.name), clipValue(origin.keyName), clipValue(node.name));
  }
  field = "node.podSubnet";
  const std::string subnet = node.podSubnet.toString();
  if (origin.lease == 0) {
    return fmt::format(
        "podSubnet {}: the record is bound to no lease; a node record is accepted only with the "
        "subnet claim bound to the same lease (its agent writes both)",
        subnet);
  }
  auto claim = claims.find(node.podSubnet);
  if (claim == claims.end()) {
    return fmt::format(
        "podSubnet {} is not claimed (no subnet claim for it); a node record is accepted only "
        "with the claim of its subnet bound to its own lease",
        subnet);
  }
  const SubnetClaim& c = claim->second;
  if (c.node != node.name) {
    return fmt::format(
        "podSubnet {} is claimed by node '{}' ({}), not by '{}'; the record is ignored and the "
        "claim's node keeps the subnet",
        subnet, clipValue(c.node), clipValue(c.source), clipValue(node.name));
  }
  if (c.lease != origin.lease) {
    return fmt::format(
        "podSubnet {}: its claim {} is bound to lease {:x}, the record to lease {:x}; a node "
        "record is accepted only with the claim bound to the same lease",
        subnet, clipValue(c.source), c.lease, origin.lease);
  }
  field.clear();
  return "";
}

bool takesValuesFirst(const NodeOrigin& a, const std::string& sourceA, const NodeOrigin& b,
                      const std::string& sourceB) {
  const bool otherA = !a.self;
  const bool otherB = !b.self;
  return std::tie(otherA, a.createRevision, sourceA) < std::tie(otherB, b.createRevision, sourceB);
}

}  // namespace ovl
