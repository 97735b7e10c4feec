#include "model/service_parser.h"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "model/endpoint_parser.h"
#include "model/validators.h"

namespace ovl {

namespace {

constexpr std::string_view kServiceFields[] = {"namespace",
                                               "name",
                                               "type",
                                               "clusterIP",
                                               "clusterIPs",
                                               "externalIPs",
                                               "sessionAffinity",
                                               "sessionAffinityTimeoutSeconds",
                                               "internalTrafficPolicy",
                                               "externalTrafficPolicy",
                                               "ports",
                                               "endpoints"};
constexpr std::string_view kServicePortFields[] = {"name", "protocol", "port", "targetPort",
                                                   "nodePort"};
// Keyword values, each list in the order of the enum it maps to.
constexpr std::string_view kServiceTypes[] = {"ClusterIP", "NodePort", "LoadBalancer"};
constexpr svc::ServiceType kServiceTypeValues[] = {
    svc::ServiceType::kClusterIP, svc::ServiceType::kNodePort, svc::ServiceType::kLoadBalancer};
constexpr std::string_view kProtocols[] = {"TCP", "UDP", "SCTP"};
constexpr svc::Protocol kProtocolValues[] = {svc::Protocol::kTcp, svc::Protocol::kUdp,
                                             svc::Protocol::kSctp};
constexpr std::string_view kAffinities[] = {"None", "ClientIP"};
constexpr std::string_view kTrafficPolicies[] = {"Cluster", "Local"};
constexpr svc::TrafficPolicy kPolicies[] = {svc::TrafficPolicy::kCluster,
                                            svc::TrafficPolicy::kLocal};

constexpr size_t kMaxLabelLength = 63;          // a DNS label: a namespace or service name
constexpr size_t kMaxPortNameLength = 15;       // an IANA service name, as Kubernetes requires
constexpr int64_t kMaxAffinityTimeout = 86400;  // one day, as in Kubernetes

// A cluster or external IP of the service being parsed, with where it was given.
struct Address {
  Ipv4 ip;
  YamlNode node;
  std::string field;
};

// A port of the service being parsed, with where its values were given.
struct PortEntry {
  svc::ServicePort port;
  YamlNode nameNode;
  YamlNode portNode;
  YamlNode nodePortNode;
  std::string path;            // "services[1].ports[0]"
  bool valid = false;          // every value in it is valid and its port/protocol is unique
  bool uniqueNodePort = true;  // no earlier port of the service has its nodePort/protocol
};

// One service entry (a map), read step by step: identity, type, addresses, affinity, traffic
// policies, ports, endpoints; then what it claims, and the service when nothing was wrong.
class EntryParser {
 public:
  EntryParser(Reader& r, const YamlNode& entry, const std::string& path, const NetworkFacts& facts)
      : r_(r), entry_(entry), path_(path), facts_(facts) {
    s_.mark = r_.markOf(entry);
    f_ = r_.fields(entry, path, kServiceFields);
  }

  void readIdentity(ParsedService& out);
  void readType();
  void readClusterIps();
  void readExternalIps();
  void readAffinity();
  void readTrafficPolicies();
  void readPorts();
  void readEndpoints();
  void recordClaims(ParsedService& out);
  svc::Service finish();

 private:
  bool addAddress(std::vector<Address>& to, const YamlNode& v, const std::string& field);
  void checkClusterIpRanges();
  void checkExternalIp(const Address& a);
  PortEntry parsePort(const YamlNode& entry, const std::string& path, size_t portCount);
  void checkPortsWithinService();

  Reader& r_;
  const YamlNode& entry_;
  const std::string& path_;
  const NetworkFacts& facts_;
  Fields f_;
  svc::Service s_;
  std::optional<std::string> ns_;
  std::optional<std::string> name_;
  const YamlNode* nameNode_ = nullptr;
  std::optional<svc::ServiceType> type_ = svc::ServiceType::kClusterIP;
  // Addresses: the cluster IPs, then the external IPs. One address given twice in a service
  // is reported once here and claimed once below.
  std::vector<Address> clusterIps_;
  std::vector<Address> externalIps_;
  std::map<uint32_t, std::string> ownAddresses_;  // address -> the field that gave it first
  std::vector<PortEntry> ports_;
};

void EntryParser::readIdentity(ParsedService& out) {
  if (const YamlNode* v =
          r_.require(f_, entry_, path_, "namespace", "the service's namespace, such as default")) {
    ns_ = r_.label(*v, path_ + ".namespace", "namespace", kMaxLabelLength);
  }
  nameNode_ = r_.require(f_, entry_, path_, "name", "the service's name");
  if (nameNode_ != nullptr) {
    name_ = r_.label(*nameNode_, path_ + ".name", "service name", kMaxLabelLength);
  }
  if (ns_ && name_) {
    out.id = fmt::format("{}/{}", *ns_, *name_);
  }
  out.who = out.id ? fmt::format("service '{}'", *out.id) : path_;
  out.where = s_.mark;
}

void EntryParser::readType() {
  if (const YamlNode* v = Reader::find(f_, "type")) {
    auto i = r_.keyword(*v, path_ + ".type", kServiceTypes, "service type");
    type_ = i ? std::optional(kServiceTypeValues[*i]) : std::nullopt;
  }
}

bool EntryParser::addAddress(std::vector<Address>& to, const YamlNode& v,
                             const std::string& field) {
  auto ip = r_.ipv4(v, field);
  if (!ip) {
    return false;
  }
  auto [it, inserted] = ownAddresses_.try_emplace(ip->value, field);
  if (!inserted) {
    r_.issue(v, field,
             fmt::format("{} is already given as {} of this service; expected distinct "
                         "addresses",
                         ip->toString(), it->second));
    return false;
  }
  to.push_back(Address{*ip, v, field});
  return true;
}

void EntryParser::readClusterIps() {
  const YamlNode* clusterIpNode = Reader::find(f_, "clusterIP");
  const YamlNode* clusterIpsNode = Reader::find(f_, "clusterIPs");
  if (clusterIpNode != nullptr && clusterIpsNode != nullptr) {
    r_.issue(*clusterIpsNode, path_ + ".clusterIPs",
             fmt::format("both clusterIP (at {}) and clusterIPs are given; expected one of them",
                         r_.markOf(*clusterIpNode).toString()));
  } else if (clusterIpNode != nullptr) {
    addAddress(clusterIps_, *clusterIpNode, path_ + ".clusterIP");
  } else if (clusterIpsNode != nullptr) {
    if (!clusterIpsNode->isSequence() || clusterIpsNode->size() == 0) {
      r_.issue(*clusterIpsNode, path_ + ".clusterIPs",
               fmt::format(
                   "expected a non-empty sequence of IPv4 addresses inside "
                   "network.serviceCIDR; got {}",
                   clusterIpsNode->isSequence() ? "an empty sequence" : describe(*clusterIpsNode)));
    } else {
      const std::vector<YamlNode> items = clusterIpsNode->items();
      for (size_t i = 0; i < items.size(); ++i) {
        addAddress(clusterIps_, items[i], fmt::format("{}.clusterIPs[{}]", path_, i));
      }
    }
  } else {
    r_.require(f_, entry_, path_, "clusterIP",
               "an IPv4 address inside network.serviceCIDR (or clusterIPs: a sequence of them)");
  }
  checkClusterIpRanges();
}

void EntryParser::checkClusterIpRanges() {
  for (const Address& a : clusterIps_) {
    if (facts_.serviceCidr && !facts_.serviceCidr->contains(a.ip)) {
      r_.issue(a.node, a.field,
               fmt::format("cluster IP {} is outside network.serviceCIDR {}; expected an "
                           "address inside it",
                           a.ip.toString(), facts_.serviceCidr->toString()));
    } else if (!facts_.serviceCidrGiven) {
      r_.issue(a.node, a.field,
               fmt::format("cluster IP {} cannot be checked: network.serviceCIDR is not set; "
                           "set it to the range of cluster IPs, such as 10.96.0.0/12",
                           a.ip.toString()));
    }
    // (serviceCIDR given but invalid: that issue is fatal already, nothing more to say here)
  }
}

void EntryParser::readExternalIps() {
  const YamlNode* v = Reader::find(f_, "externalIPs");
  if (v == nullptr) {
    return;
  }
  if (!v->isSequence()) {
    r_.issue(*v, path_ + ".externalIPs",
             fmt::format("expected a sequence of IPv4 addresses; got {}", describe(*v)));
    return;
  }
  const std::vector<YamlNode> items = v->items();
  for (size_t i = 0; i < items.size(); ++i) {
    if (addAddress(externalIps_, items[i], fmt::format("{}.externalIPs[{}]", path_, i))) {
      checkExternalIp(externalIps_.back());
    }
  }
}

void EntryParser::checkExternalIp(const Address& a) {
  constexpr std::string_view kExpected =
      "expected an address outside network.podCIDR and network.serviceCIDR";
  if (const char* why = specialAddress(a.ip)) {
    r_.issue(a.node, a.field,
             fmt::format("external IP {} is {}; expected a unicast address that clients "
                         "can reach",
                         a.ip.toString(), why));
  } else if (facts_.podCidr && facts_.podCidr->contains(a.ip)) {
    r_.issue(a.node, a.field,
             fmt::format("external IP {} is inside network.podCIDR {}; {}", a.ip.toString(),
                         facts_.podCidr->toString(), kExpected));
  } else if (facts_.serviceCidr && facts_.serviceCidr->contains(a.ip)) {
    r_.issue(a.node, a.field,
             fmt::format("external IP {} is inside network.serviceCIDR {}; {}", a.ip.toString(),
                         facts_.serviceCidr->toString(), kExpected));
  }
}

void EntryParser::readAffinity() {
  bool affinityKnown = true;  // false when the value given is invalid
  if (const YamlNode* v = Reader::find(f_, "sessionAffinity")) {
    auto i = r_.keyword(*v, path_ + ".sessionAffinity", kAffinities, "session affinity");
    affinityKnown = i.has_value();
    s_.affinityClientIp = i == size_t{1};
  }
  if (const YamlNode* v = Reader::find(f_, "sessionAffinityTimeoutSeconds")) {
    const std::string field = path_ + ".sessionAffinityTimeoutSeconds";
    if (auto t = r_.integer(*v, field, 1, kMaxAffinityTimeout)) {
      s_.affinityTimeoutSeconds = static_cast<uint32_t>(*t);
      if (affinityKnown && !s_.affinityClientIp) {
        r_.issue(*v, field,
                 fmt::format("sessionAffinityTimeoutSeconds {} is given but sessionAffinity is "
                             "None; expected sessionAffinity: ClientIP, or no timeout",
                             *t));
      }
    }
  }
}

void EntryParser::readTrafficPolicies() {
  if (const YamlNode* v = Reader::find(f_, "internalTrafficPolicy")) {
    if (auto i =
            r_.keyword(*v, path_ + ".internalTrafficPolicy", kTrafficPolicies, "traffic policy")) {
      s_.internalTrafficPolicy = kPolicies[*i];
    }
  }
  if (const YamlNode* v = Reader::find(f_, "externalTrafficPolicy")) {
    if (auto i =
            r_.keyword(*v, path_ + ".externalTrafficPolicy", kTrafficPolicies, "traffic policy")) {
      s_.externalTrafficPolicy = kPolicies[*i];
    }
  }
}

void EntryParser::readPorts() {
  if (const YamlNode* v = r_.require(f_, entry_, path_, "ports",
                                     "a sequence of ports (- port: 80), at least one")) {
    if (!v->isSequence() || v->size() == 0) {
      r_.issue(*v, path_ + ".ports",
               fmt::format("expected a sequence of ports (- port: 80), at least one; got {}",
                           v->isSequence() ? "an empty sequence" : describe(*v)));
    } else {
      const std::vector<YamlNode> items = v->items();
      for (size_t i = 0; i < items.size(); ++i) {
        ports_.push_back(parsePort(items[i], fmt::format("{}.ports[{}]", path_, i), items.size()));
      }
    }
  }
  checkPortsWithinService();
}

// One entry of a service's `ports`; `valid` when every value in it is.
PortEntry EntryParser::parsePort(const YamlNode& entry, const std::string& path, size_t portCount) {
  PortEntry out;
  out.path = path;
  const size_t issuesBefore = r_.issueCount();
  if (!entry.isMap()) {
    r_.issue(entry, path,
             fmt::format("expected a map with fields {}; got {}", joinNames(kServicePortFields),
                         describe(entry)));
    return out;
  }
  Fields f = r_.fields(entry, path, kServicePortFields);
  svc::ServicePort& p = out.port;

  const YamlNode* nameNode =
      portCount > 1 ? r_.require(f, entry, path, "name",
                                 "a port name (required when a service has more than one port)")
                    : Reader::find(f, "name");
  if (nameNode != nullptr) {
    out.nameNode = *nameNode;
    if (auto name = r_.label(*nameNode, path + ".name", "port name", kMaxPortNameLength)) {
      p.name = *name;
    }
  }
  if (const YamlNode* v = Reader::find(f, "protocol")) {
    if (auto i = r_.keyword(*v, path + ".protocol", kProtocols, "protocol", /*anyCase=*/true)) {
      p.protocol = kProtocolValues[*i];
    }
  }
  if (const YamlNode* v =
          r_.require(f, entry, path, "port", fmt::format("an integer in 1..{}", kMaxPort))) {
    out.portNode = *v;
    if (auto port = r_.integer(*v, path + ".port", 1, kMaxPort)) {
      p.port = static_cast<uint16_t>(*port);
    }
  }
  p.targetPort = p.port;
  if (const YamlNode* v = Reader::find(f, "targetPort")) {
    if (auto port = r_.integer(*v, path + ".targetPort", 1, kMaxPort)) {
      p.targetPort = static_cast<uint16_t>(*port);
    }
  }
  if (const YamlNode* v = Reader::find(f, "nodePort")) {
    out.nodePortNode = *v;
    if (auto port = r_.integer(*v, path + ".nodePort", 1, kMaxPort)) {
      p.nodePort = static_cast<uint16_t>(*port);
      if (type_ == svc::ServiceType::kClusterIP) {
        r_.issue(*v, path + ".nodePort",
                 fmt::format("nodePort {} is given on a ClusterIP service; expected type "
                             "NodePort or LoadBalancer, or no nodePort",
                             *port));
      }
    }
  }
  out.valid = r_.issueCount() == issuesBefore;
  return out;
}

// Within one service: port names, port/protocol pairs and node ports are each used once.
// A duplicate is not claimed against other services (that would only repeat the issue).
void EntryParser::checkPortsWithinService() {
  std::map<std::string, std::string, std::less<>> names;
  std::map<std::pair<svc::Protocol, uint16_t>, std::string> servicePorts;
  std::map<std::pair<svc::Protocol, uint16_t>, std::string> nodePorts;
  for (PortEntry& p : ports_) {
    if (!p.port.name.empty()) {
      auto [it, inserted] = names.try_emplace(p.port.name, p.path);
      if (!inserted) {
        r_.issue(p.nameNode, p.path + ".name",
                 fmt::format("port name '{}' is already used by {}; expected unique names",
                             p.port.name, it->second));
      }
    }
    if (p.port.port != 0) {
      auto [it, inserted] = servicePorts.try_emplace({p.port.protocol, p.port.port}, p.path);
      if (!inserted) {
        r_.issue(p.portNode, p.path + ".port",
                 fmt::format("port {}/{} is already defined by {}; expected each port and "
                             "protocol once",
                             p.port.port, svc::toString(p.port.protocol), it->second));
        p.valid = false;
      }
    }
    if (p.port.nodePort) {
      auto [it, inserted] = nodePorts.try_emplace({p.port.protocol, *p.port.nodePort}, p.path);
      if (!inserted) {
        r_.issue(p.nodePortNode, p.path + ".nodePort",
                 fmt::format("nodePort {}/{} is already used by {}; expected each node port "
                             "and protocol once",
                             *p.port.nodePort, svc::toString(p.port.protocol), it->second));
        p.uniqueNodePort = false;
      }
    }
  }
}

void EntryParser::readEndpoints() {
  PortNames portNames;
  for (const PortEntry& p : ports_) {
    if (!p.port.name.empty()) {
      portNames.try_emplace(p.port.name, p.path);
    }
  }
  if (const YamlNode* v = Reader::find(f_, "endpoints")) {
    parseEndpoints(r_, *v, path_, portNames, s_.endpoints);
  }
}

// What it holds that no other service may: checked by ServiceClaims or ClusterDocuments.
void EntryParser::recordClaims(ParsedService& out) {
  if (out.id) {
    out.claims.push_back(ServiceClaim{ServiceClaim::Space::kId, *out.id, r_.markOf(*nameNode_),
                                      path_ + ".name",
                                      fmt::format("service '{}' is already defined by the "
                                                  "entry at ",
                                                  *out.id),
                                      "", /*whereOnly=*/true});
  }
  for (const std::vector<Address>* list : {&clusterIps_, &externalIps_}) {
    for (const Address& a : *list) {
      for (const PortEntry& p : ports_) {
        if (!p.valid) {
          continue;
        }
        const std::string what =
            fmt::format("{}:{}/{}", a.ip.toString(), p.port.port, svc::toString(p.port.protocol));
        out.claims.push_back(ServiceClaim{
            ServiceClaim::Space::kAddress, what, r_.markOf(a.node), a.field,
            fmt::format("{} ({}) is already used by ", what, p.path.substr(path_.size() + 1)),
            "; expected an address, port and protocol that no other service uses (cluster IPs "
            "and external IPs share one space)",
            false});
      }
    }
  }
  for (const PortEntry& p : ports_) {
    if (!p.valid || !p.uniqueNodePort || !p.port.nodePort) {
      continue;
    }
    const std::string what = fmt::format("{}/{}", *p.port.nodePort, svc::toString(p.port.protocol));
    out.claims.push_back(
        ServiceClaim{ServiceClaim::Space::kNodePort, what, r_.markOf(p.nodePortNode),
                     p.path + ".nodePort", fmt::format("nodePort {} is already used by ", what),
                     "; expected a node port and protocol that no other service uses", false});
  }
}

// The service, once every step found its values valid.
svc::Service EntryParser::finish() {
  s_.ns = *ns_;
  s_.name = *name_;
  s_.type = *type_;
  for (const Address& a : clusterIps_) {
    s_.clusterIps.push_back(a.ip);
  }
  for (const Address& a : externalIps_) {
    s_.externalIps.push_back(a.ip);
  }
  for (PortEntry& p : ports_) {
    s_.ports.push_back(std::move(p.port));
  }
  return std::move(s_);
}

}  // namespace

ParsedService parseService(Reader& r, const YamlNode& entry, const std::string& path,
                           const NetworkFacts& facts) {
  ParsedService out;
  const size_t issuesBefore = r.issueCount();
  if (!entry.isMap()) {
    r.issue(entry, path,
            fmt::format("expected a map with fields {}; got {}", joinNames(kServiceFields),
                        describe(entry)));
    out.issues = r.takeIssuesSince(issuesBefore);
    out.annotate = false;
    return out;
  }
  EntryParser e(r, entry, path, facts);
  e.readIdentity(out);
  e.readType();
  e.readClusterIps();
  e.readExternalIps();
  e.readAffinity();
  e.readTrafficPolicies();
  e.readPorts();
  e.readEndpoints();
  e.recordClaims(out);
  if (r.issueCount() != issuesBefore) {
    out.issues = r.takeIssuesSince(issuesBefore);
    return out;
  }
  out.service = e.finish();
  return out;
}

}  // namespace ovl
