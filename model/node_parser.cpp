#include "model/node_parser.h"

#include <fmt/format.h>

#include <string_view>

#include "model/validators.h"

namespace ovl {

namespace {

constexpr std::string_view kNodeFields[] = {"name", "underlayIP", "podSubnet", "vtepMAC"};

}  // namespace

// One node entry's values as read, each with the YAML value that gave it (null when absent);
// a value is unset when it is missing or invalid.
struct NodeParser::Values {
  std::string path;
  Node node;  // its mark and vtepMac so far
  std::optional<std::string> name;
  const YamlNode* nameNode = nullptr;
  std::optional<Ipv4> ip;
  const YamlNode* ipNode = nullptr;
  std::optional<Ipv4Prefix> subnet;
  const YamlNode* subnetNode = nullptr;
  const YamlNode* macNode = nullptr;
};

std::optional<Node> NodeParser::parse(const YamlNode& entry, const std::string& path,
                                      const NetworkFacts& facts) {
  const size_t issuesBefore = r_.issueCount();
  if (!entry.isMap()) {
    r_.issue(entry, path,
             fmt::format("expected a map with fields {}; got {}", joinNames(kNodeFields),
                         describe(entry)));
    return std::nullopt;
  }
  Values e;
  e.path = path;
  e.node.mark = r_.markOf(entry);
  Fields f = r_.fields(entry, path, kNodeFields);

  readName(f, entry, e);
  const Claim claim{e.name ? fmt::format("node '{}'", *e.name) : path, e.node.mark};
  readUnderlayIp(f, entry, facts, e);
  readPodSubnet(f, entry, facts, e);
  e.macNode = Reader::find(f, "vtepMAC");
  if (e.macNode != nullptr) {
    e.node.vtepMac = r_.unicastMac(*e.macNode, path + ".vtepMAC");
  }

  // Conflicts with earlier entries: the first keeps the value, this one is rejected.
  const bool uniqueName = claimName(e, claim);
  claimVtepMac(e, uniqueName, claim);
  claimUnderlayIp(e, claim);
  claimPodSubnet(e, claim);

  if (r_.issueCount() != issuesBefore) {
    return std::nullopt;  // rejected; its issues say why
  }
  e.node.name = *e.name;
  e.node.underlayIp = *e.ip;
  e.node.podSubnet = *e.subnet;
  return std::move(e.node);
}

void NodeParser::readName(const Fields& f, const YamlNode& entry, Values& e) {
  e.nameNode = r_.require(f, entry, e.path, "name", "the node's name");
  if (e.nameNode != nullptr) {
    e.name = r_.nodeName(*e.nameNode, e.path + ".name");
  }
}

void NodeParser::readUnderlayIp(const Fields& f, const YamlNode& entry, const NetworkFacts& facts,
                                Values& e) {
  e.ipNode = r_.require(f, entry, e.path, "underlayIP", "an IPv4 address such as 192.168.50.1");
  if (e.ipNode != nullptr) {
    e.ip = r_.ipv4(*e.ipNode, e.path + ".underlayIP");
  }
  if (e.ip) {
    if (auto why = unusableUnderlayIp(*e.ip, facts.podCidr, facts.serviceCidr)) {
      r_.issue(*e.ipNode, e.path + ".underlayIP",
               fmt::format("underlay IP {} is {}; a node's underlay IP carries VXLAN packets; "
                           "it must be a unicast address outside the pod and service networks",
                           e.ip->toString(), *why));
      e.ip.reset();  // claims nothing: no other node could use it either
    }
  }
}

void NodeParser::readPodSubnet(const Fields& f, const YamlNode& entry, const NetworkFacts& facts,
                               Values& e) {
  e.subnetNode = r_.require(f, entry, e.path, "podSubnet", "an IPv4 CIDR such as 10.244.1.0/24");
  if (e.subnetNode != nullptr) {
    e.subnet = r_.networkPrefix(*e.subnetNode, e.path + ".podSubnet", "10.244.1.0/24");
  }
  const std::optional<Ipv4Prefix>& subnet = e.subnet;
  if (subnet && facts.subnetLength && subnet->len != *facts.subnetLength) {
    r_.issue(*e.subnetNode, e.path + ".podSubnet",
             fmt::format("podSubnet {} has prefix length /{}; expected /{} (network.subnetLength)",
                         subnet->toString(), subnet->len, *facts.subnetLength));
  }
  if (subnet && facts.podCidr && !facts.podCidr->contains(*subnet)) {
    r_.issue(*e.subnetNode, e.path + ".podSubnet",
             fmt::format("podSubnet {} is outside podCIDR {}; expected a subnet of it",
                         subnet->toString(), facts.podCidr->toString()));
  }
}

// Whether the name is this entry's own (no earlier entry has it).
bool NodeParser::claimName(const Values& e, const Claim& claim) {
  if (!e.name) {
    return false;
  }
  auto [it, inserted] = names_.try_emplace(*e.name, claim);
  if (!inserted) {
    r_.issue(*e.nameNode, e.path + ".name",
             fmt::format("node name '{}' is already used by the entry at {}", *e.name,
                         it->second.where.toString()));
  }
  return inserted;
}

void NodeParser::claimVtepMac(const Values& e, bool uniqueName, const Claim& claim) {
  // The effective VTEP MAC: the one given, or else the one derived from the name. A derived
  // MAC of a duplicate name is not claimed again (the name issue already says it all).
  std::optional<MacAddr> mac = e.node.vtepMac;
  if (e.macNode == nullptr && uniqueName) {
    mac = MacAddr::fromIdentity(*e.name);
  }
  if (!mac) {
    return;
  }
  auto [it, inserted] = vtepMacs_.try_emplace(*mac, claim);
  if (inserted) {
    return;
  }
  if (e.macNode != nullptr) {
    r_.issue(*e.macNode, e.path + ".vtepMAC",
             fmt::format("VTEP MAC {} is already used by {}; each node needs its own",
                         mac->toString(), it->second.toString()));
  } else {
    r_.issue(*e.nameNode, e.path + ".vtepMAC",
             fmt::format("VTEP MAC {} (derived from the name '{}', as no vtepMAC is given) "
                         "is already used by {}; each node needs its own: set a different "
                         "vtepMAC on one of them",
                         mac->toString(), *e.name, it->second.toString()));
  }
}

void NodeParser::claimUnderlayIp(const Values& e, const Claim& claim) {
  if (!e.ip) {
    return;
  }
  auto [it, inserted] = underlayIps_.try_emplace(e.ip->value, claim);
  if (!inserted) {
    r_.issue(*e.ipNode, e.path + ".underlayIP",
             fmt::format("underlay IP {} is already used by {}", e.ip->toString(),
                         it->second.toString()));
  }
}

void NodeParser::claimPodSubnet(const Values& e, const Claim& claim) {
  if (!e.subnet) {
    return;
  }
  for (const auto& [other, owner] : podSubnets_) {
    if (other.overlaps(*e.subnet)) {
      r_.issue(*e.subnetNode, e.path + ".podSubnet",
               fmt::format("podSubnet {} overlaps podSubnet {} of {}", e.subnet->toString(),
                           other.toString(), owner.toString()));
      return;
    }
  }
  podSubnets_.emplace_back(*e.subnet, claim);
}

}  // namespace ovl
