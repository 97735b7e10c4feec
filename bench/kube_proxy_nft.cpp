#include "bench/kube_proxy_nft.h"

#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace ovl::bench {

namespace {

// kube-proxy names chains "<kind>-<8 characters of base32(sha256(what))>-<what>"; the hash
// only makes names unique, so a 64-bit FNV-1a in the same alphabet and length gives the same
// shape and length of names (the kernel compares chain names as strings).
std::string hash8(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  for (int i = 0; i < 8; ++i) {
    out += kBase32[(h >> (5 * i)) & 31];
  }
  return out;
}

uint16_t targetPort(const svc::ServicePort& p) {
  return p.targetPort != 0 ? p.targetPort : p.port;
}

// "ns/name/tcp/portname", kube-proxy's servicePortName plus protocol.
std::string portName(const svc::Service& s) {
  const svc::ServicePort& p = s.ports.at(0);
  return fmt::format("{}/{}/{}/{}", s.ns, s.name, svc::toString(p.protocol), p.name);
}

std::string serviceChain(const svc::Service& s) {
  const std::string what = portName(s);
  return fmt::format("service-{}-{}", hash8(what), what);
}

std::string endpointChain(const svc::Service& s, const svc::Endpoint& ep) {
  const std::string what =
      fmt::format("{}__{}/{}", portName(s), ep.ip.toString(), targetPort(s.ports.at(0)));
  return fmt::format("endpoint-{}-{}", hash8(what), what);
}

// The table, its sets and maps, base and helper chains: what kube-proxy's setupNFTables adds
// on every sync (the commands are idempotent `add`s; rules only on the first load).
void writeBase(std::ostream& o, Ipv4Prefix serviceCidr, bool rules) {
  o << "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n";
  for (const char* base :
       {"filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }",
        "filter-output-pre-dnat { type filter hook output priority -110 ; }",
        "filter-forward { type filter hook forward priority 0 ; }",
        "filter-input { type filter hook input priority 0 ; }",
        "filter-output { type filter hook output priority 0 ; }",
        "nat-prerouting { type nat hook prerouting priority -100 ; }",
        "nat-output { type nat hook output priority -100 ; }",
        "nat-postrouting { type nat hook postrouting priority 100 ; }", "cluster-ips-check",
        "firewall-check", "mark-for-masquerade", "masquerading", "nodeport-endpoints-check",
        "reject-chain", "services", "service-endpoints-check"}) {
    o << "add chain ip kube-proxy " << base << "\n";
  }
  o << "add set ip kube-proxy cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }\n"
       "add set ip kube-proxy nodeport-ips { type ipv4_addr ; }\n"
       "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : "
       "verdict ; }\n"
       "add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; }\n"
       "add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . "
       "inet_service : verdict ; }\n"
       "add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : "
       "verdict ; }\n"
       "add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : "
       "verdict ; }\n";
  if (!rules) {
    return;
  }
  const std::string r = "add rule ip kube-proxy ";
  o << r << "cluster-ips-check ip daddr @cluster-ips reject\n"
    << r << "cluster-ips-check ip daddr { " << serviceCidr.toString() << " } drop\n"
    << r << "filter-prerouting-pre-dnat ct state new jump firewall-check\n"
    << r << "filter-forward ct state new jump service-endpoints-check\n"
    << r << "filter-forward ct state new jump cluster-ips-check\n"
    << r << "filter-input ct state new jump nodeport-endpoints-check\n"
    << r << "filter-input ct state new jump service-endpoints-check\n"
    << r << "filter-output ct state new jump service-endpoints-check\n"
    << r << "filter-output-pre-dnat ct state new jump firewall-check\n"
    << r << "filter-output ct state new jump cluster-ips-check\n"
    << r << "firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips\n"
    << r << "mark-for-masquerade mark set mark or 0x4000\n"
    << r << "masquerading mark and 0x4000 == 0 return\n"
    << r << "masquerading mark set mark xor 0x4000\n"
    << r << "masquerading masquerade fully-random\n"
    << r << "nat-output jump services\n"
    << r << "nat-postrouting jump masquerading\n"
    << r << "nat-prerouting jump services\n"
    << r
    << "nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap "
       "@no-endpoint-nodeports\n"
    << r << "reject-chain reject\n"
    << r << "services ip daddr . meta l4proto . th dport vmap @service-ips\n"
    << r << "services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports\n"
    << r
    << "service-endpoints-check ip daddr . meta l4proto . th dport vmap "
       "@no-endpoint-services\n";
}

// The service chain's two rules: the masquerade mark for sources outside the pod network and
// the random choice of an endpoint chain.
void writeServiceRules(std::ostream& o, const svc::Service& s, Ipv4Prefix podCidr) {
  const std::string chain = serviceChain(s);
  const svc::ServicePort& p = s.ports.at(0);
  o << fmt::format(
      "add rule ip kube-proxy {} ip daddr {} {} dport {} ip saddr != {} jump "
      "mark-for-masquerade\n",
      chain, s.clusterIps.at(0).toString(), svc::toString(p.protocol), p.port, podCidr.toString());
  o << fmt::format("add rule ip kube-proxy {} numgen random mod {} vmap {{ ", chain,
                   s.endpoints.size());
  for (size_t i = 0; i < s.endpoints.size(); ++i) {
    o << (i == 0 ? "" : ", ") << i << " : goto " << endpointChain(s, s.endpoints[i]);
  }
  o << " }\n";
}

void writeEndpointChain(std::ostream& o, const svc::Service& s, const svc::Endpoint& ep) {
  const std::string chain = endpointChain(s, ep);
  const svc::ServicePort& p = s.ports.at(0);
  o << "add chain ip kube-proxy " << chain << "\n";
  o << fmt::format("add rule ip kube-proxy {} ip saddr {} jump mark-for-masquerade\n", chain,
                   ep.ip.toString());
  o << fmt::format("add rule ip kube-proxy {} meta l4proto {} dnat to {}:{}\n", chain,
                   svc::toString(p.protocol), ep.ip.toString(), targetPort(p));
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

}  // namespace

KubeProxyNftCounts writeKubeProxyNft(const std::string& path,
                                     const std::vector<svc::Service>& services,
                                     Ipv4Prefix serviceCidr, Ipv4Prefix podCidr) {
  std::ostringstream o;
  writeBase(o, serviceCidr, true);
  KubeProxyNftCounts counts;
  counts.chains = 16;
  for (const auto& s : services) {
    if (s.endpoints.empty() || s.clusterIps.empty() || s.ports.empty()) {
      throw std::runtime_error("kube-proxy nft layout: service " + s.id() +
                               " needs a cluster IP, a port and endpoints");
    }
    // Endpoint chains first: the service chain's vmap refers to them.
    for (const auto& ep : s.endpoints) {
      writeEndpointChain(o, s, ep);
    }
    o << "add chain ip kube-proxy " << serviceChain(s) << "\n";
    writeServiceRules(o, s, podCidr);
    const svc::ServicePort& p = s.ports[0];
    o << fmt::format("add element ip kube-proxy cluster-ips {{ {} }}\n",
                     s.clusterIps[0].toString());
    o << fmt::format("add element ip kube-proxy service-ips {{ {} . {} . {} : goto {} }}\n",
                     s.clusterIps[0].toString(), svc::toString(p.protocol), p.port,
                     serviceChain(s));
    counts.chains += 1 + s.endpoints.size();
    counts.endpointChains += s.endpoints.size();
    counts.serviceElements += 1;
  }
  writeFile(path, o.str());
  return counts;
}

std::string kubeProxyNftChange(const svc::Service& before, const svc::Service& after,
                               Ipv4Prefix podCidr) {
  std::ostringstream o;
  writeBase(o, Ipv4Prefix{}, false);
  for (const auto& ep : after.endpoints) {
    bool isNew = true;
    for (const auto& old : before.endpoints) {
      isNew = isNew && !(old.ip == ep.ip);
    }
    if (isNew) {
      writeEndpointChain(o, after, ep);
    }
  }
  o << "flush chain ip kube-proxy " << serviceChain(after) << "\n";
  writeServiceRules(o, after, podCidr);
  for (const auto& old : before.endpoints) {
    bool gone = true;
    for (const auto& ep : after.endpoints) {
      gone = gone && !(old.ip == ep.ip);
    }
    if (gone) {
      o << "delete chain ip kube-proxy " << endpointChain(before, old) << "\n";
    }
  }
  return o.str();
}

void writeMinimalDnat(const std::string& path, const std::vector<svc::Service>& services) {
  std::ostringstream o;
  o << "add table ip min\n"
       "add map ip min m { type ipv4_addr . inet_service : ipv4_addr . inet_service ; }\n"
       "add chain ip min pre { type nat hook prerouting priority -100 ; }\n"
       "add chain ip min out { type nat hook output priority -100 ; }\n"
       "add rule ip min pre dnat to ip daddr . tcp dport map @m\n"
       "add rule ip min out dnat to ip daddr . tcp dport map @m\n";
  for (const auto& s : services) {
    const svc::ServicePort& p = s.ports.at(0);
    o << fmt::format("add element ip min m {{ {} . {} : {} . {} }}\n",
                     s.clusterIps.at(0).toString(), p.port, s.endpoints.at(0).ip.toString(),
                     targetPort(p));
  }
  writeFile(path, o.str());
}

}  // namespace ovl::bench
