#include "model/network_parser.h"

#include <fmt/format.h>

#include <string_view>

#include "model/validators.h"

namespace ovl {

namespace {

constexpr std::string_view kNetworkFields[] = {"podCIDR", "subnetLength", "serviceCIDR", "vni",
                                               "port",    "mtu",          "masquerade"};
// In the order of svc::MasqueradeMode.
constexpr std::string_view kMasqueradeModes[] = {"off-cluster", "all", "none"};

constexpr int64_t kMaxSubnetLength = 30;    // a /31 or /32 per node leaves no room for pods
constexpr int64_t kMaxVni = (1 << 24) - 1;  // the VNI is 24 bits on the wire
constexpr int64_t kMinMtu = 576;            // the smallest datagram every IPv4 host must accept
constexpr int64_t kMaxMtu = 65535;

// network.podCIDR and network.subnetLength: the pod range and how it is split per node, which
// must leave each node a subnet of its own.
void parsePodRange(Reader& r, const YamlNode& net, const Fields& f, NetworkConfig& nc,
                   NetworkFacts& facts) {
  if (const YamlNode* v =
          r.require(f, net, "network", "podCIDR", "an IPv4 CIDR such as 10.244.0.0/16")) {
    facts.podCidr = r.networkPrefix(*v, "network.podCIDR", "10.244.0.0/16");
    if (facts.podCidr) {
      nc.podCidr = *facts.podCidr;
    }
  }

  std::optional<int64_t> subnetLength = nc.subnetLength;
  const YamlNode* lengthNode = Reader::find(f, "subnetLength");
  if (lengthNode != nullptr) {
    subnetLength = r.integer(*lengthNode, "network.subnetLength", 1, kMaxSubnetLength);
  }
  // Checked with a flag, not by resetting the optional: after a reset() GCC 12 at -Os reports a
  // false -Wmaybe-uninitialized on the optional's value below (GCC bug 80635).
  bool subnetLengthFits = true;
  if (subnetLength && facts.podCidr && *subnetLength <= facts.podCidr->len) {
    if (facts.podCidr->len >= kMaxSubnetLength) {
      r.issue(*Reader::find(f, "podCIDR"), "network.podCIDR",
              fmt::format("podCIDR {} is too small to split into per-node subnets; expected a "
                          "prefix length of at most /{}",
                          facts.podCidr->toString(), kMaxSubnetLength - 1));
    } else {
      r.issue(lengthNode != nullptr ? *lengthNode : net, "network.subnetLength",
              fmt::format("subnetLength {}{} must be longer than the podCIDR prefix ({}); "
                          "expected an integer in {}..{}",
                          *subnetLength, lengthNode != nullptr ? "" : " (the default)",
                          facts.podCidr->toString(), facts.podCidr->len + 1, kMaxSubnetLength));
    }
    subnetLengthFits = false;
  }
  if (subnetLength && subnetLengthFits) {
    nc.subnetLength = static_cast<uint8_t>(*subnetLength);
    facts.subnetLength = nc.subnetLength;
  }
}

// network.serviceCIDR: the range of cluster IPs, apart from the pods'.
void parseServiceRange(Reader& r, const Fields& f, NetworkConfig& nc, NetworkFacts& facts) {
  if (const YamlNode* v = Reader::find(f, "serviceCIDR")) {
    facts.serviceCidrGiven = true;
    auto service = r.networkPrefix(*v, "network.serviceCIDR", "10.96.0.0/12");
    if (service && facts.podCidr && service->overlaps(*facts.podCidr)) {
      r.issue(*v, "network.serviceCIDR",
              fmt::format("serviceCIDR {} overlaps podCIDR {}; expected disjoint ranges",
                          service->toString(), facts.podCidr->toString()));
    } else if (service) {
      nc.serviceCidr = service;
      facts.serviceCidr = service;
    }
  }
}

// network.vni, network.port and network.mtu: the VXLAN device's settings.
void parseVxlan(Reader& r, const Fields& f, NetworkConfig& nc) {
  if (const YamlNode* v = Reader::find(f, "vni")) {
    if (auto vni = r.integer(*v, "network.vni", 1, kMaxVni)) {
      nc.vni = static_cast<uint32_t>(*vni);
    }
  }
  if (const YamlNode* v = Reader::find(f, "port")) {
    if (auto port = r.integer(*v, "network.port", 1, kMaxPort)) {
      nc.port = static_cast<uint16_t>(*port);
    }
  }
  if (const YamlNode* v = Reader::find(f, "mtu")) {
    if (v->isScalar() && v->scalar() == "auto") {
      nc.mtu.reset();
    } else if (v->isScalar() && isDecimal(v->scalar())) {
      if (auto mtu = r.integer(*v, "network.mtu", kMinMtu, kMaxMtu)) {
        nc.mtu = static_cast<uint32_t>(*mtu);
      }
    } else {
      r.issue(*v, "network.mtu",
              fmt::format("expected \"auto\" or an integer in {}..{}, got {}", kMinMtu, kMaxMtu,
                          describe(*v)));
    }
  }
}

}  // namespace

NetworkFacts parseNetwork(Reader& r, const YamlNode& net, NetworkConfig& nc) {
  NetworkFacts facts;
  if (!net.isMap()) {
    r.issue(net, "network",
            fmt::format("expected a map with fields {}; got {}", joinNames(kNetworkFields),
                        describe(net)));
    return facts;
  }
  Fields f = r.fields(net, "network", kNetworkFields);
  parsePodRange(r, net, f, nc, facts);
  parseServiceRange(r, f, nc, facts);
  parseVxlan(r, f, nc);
  if (const YamlNode* v = Reader::find(f, "masquerade")) {
    if (auto mode = r.keyword(*v, "network.masquerade", kMasqueradeModes, "masquerade mode")) {
      nc.masquerade = static_cast<svc::MasqueradeMode>(*mode);
    }
  }
  return facts;
}

}  // namespace ovl
