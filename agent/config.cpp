#include "agent/config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "common/fd.h"

namespace ovl {

std::string ConfigIssue::toString() const {
  std::string out = mark.toString() + ": ";
  if (!field.empty()) {
    out += field + ": ";
  }
  return out + message;
}

namespace {

using FieldNames = std::span<const std::string_view>;

constexpr std::string_view kClusterFields[] = {"network", "nodes"};
constexpr std::string_view kNetworkFields[] = {"podCIDR", "subnetLength", "serviceCIDR",
                                               "vni",     "port",         "mtu"};
constexpr std::string_view kNodeFields[] = {"name", "underlayIP", "podSubnet", "vtepMAC"};
constexpr std::string_view kAgentFields[] = {
    "nodeName",   "datastore",     "clusterFile", "underlayInterface", "vtepName",
    "bridgeName", "healthAddress", "stateDir",    "resyncSeconds",     "logLevel"};
constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error"};

constexpr int64_t kMaxSubnetLength = 30;    // a /31 or /32 per node leaves no room for pods
constexpr int64_t kMaxVni = (1 << 24) - 1;  // the VNI is 24 bits on the wire
constexpr int64_t kMaxPort = 65535;
constexpr int64_t kMinMtu = 576;  // the smallest datagram every IPv4 host must accept
constexpr int64_t kMaxMtu = 65535;
constexpr int64_t kMaxResyncSeconds = 86400;
constexpr size_t kMaxNodeNameLength = 253;      // a DNS name
constexpr size_t kMaxInterfaceNameLength = 15;  // IFNAMSIZ (16) minus the terminating NUL
constexpr size_t kMaxFileSize = 64u << 20;      // far above any real cluster file

std::string joinNames(FieldNames names) {
  std::string out;
  for (auto name : names) {
    if (!out.empty()) {
      out += ", ";
    }
    out += name;
  }
  return out;
}

bool contains(FieldNames names, std::string_view name) {
  for (auto n : names) {
    if (n == name) {
      return true;
    }
  }
  return false;
}

// How a YAML value reads in a message: the scalar itself, quoted, or its kind.
std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return fmt::format("'{}'", n.Scalar());
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

std::string joinPath(const std::string& prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
}

// [a-z0-9]([-a-z0-9.]*[a-z0-9])?, at most 253 characters: what Kubernetes accepts as a node name.
bool isValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNodeNameLength) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : name) {
    if (!alnum(c) && c != '-' && c != '.') {
      return false;
    }
  }
  return alnum(name.front()) && alnum(name.back());
}

// What the kernel accepts as a link name (dev_valid_name): 1..15 bytes, no '/', no whitespace,
// not "." or "..".
bool isValidInterfaceName(std::string_view name) {
  if (name.empty() || name.size() > kMaxInterfaceNameLength || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
        c == '\f') {
      return false;
    }
  }
  return true;
}

// Decimal digits only: no sign, no fraction, no exponent, no hex, no trailing text.
bool isDecimal(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

// "a.b.c.d:port" with the port in 1..65535.
bool isValidHealthAddress(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  auto port = text.substr(colon + 1);
  uint32_t value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return Ipv4::parse(text.substr(0, colon)).has_value() && isDecimal(port) && ec == std::errc{} &&
         ptr == port.data() + port.size() && value >= 1 && value <= kMaxPort;
}

// The whole file, or why it could not be read.
Result<std::string> readFile(const std::string& path) {
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.valid()) {
    return Error::sys(errno, "cannot open the file");
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(file.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error::sys(errno, "cannot read the file");
    }
    if (n == 0) {
      return text;
    }
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileSize) {
      return Error::msg(fmt::format("the file is larger than {} MiB", kMaxFileSize >> 20));
    }
  }
}

// A map's entries by key, as read by Reader::fields().
struct Entry {
  YAML::Node key;
  YAML::Node value;
};
using Fields = std::map<std::string, Entry, std::less<>>;

// Reads YAML values into ovl types, recording every problem as a ConfigIssue in `issues`.
class Reader {
 public:
  Reader(std::string file, std::vector<ConfigIssue>& issues)
      : file_(std::move(file)), issues_(issues) {}

  size_t issueCount() const { return issues_.size(); }

  SourceMark markOf(const YAML::Node& n) const {
    SourceMark mark{file_};
    if (!n.IsDefined()) {
      return mark;
    }
    return markOf(n.Mark());
  }

  SourceMark markOf(const YAML::Mark& m) const {
    SourceMark mark{file_};
    if (!m.is_null() && m.line >= 0 && m.column >= 0) {
      mark.line = m.line + 1;  // yaml-cpp counts from 0, editors from 1
      mark.column = m.column + 1;
    }
    return mark;
  }

  void issue(const YAML::Node& at, std::string field, std::string message) {
    issues_.push_back(ConfigIssue{markOf(at), std::move(field), std::move(message)});
  }
  void issue(SourceMark mark, std::string field, std::string message) {
    issues_.push_back(ConfigIssue{std::move(mark), std::move(field), std::move(message)});
  }

  // Parses YAML text; a syntax error becomes an issue at its position and nullopt.
  std::optional<YAML::Node> load(const std::string& text) {
    try {
      return YAML::Load(text);
    } catch (const YAML::DeepRecursion& e) {
      // yaml-cpp 0.7 gives this one the message "bad file"; say what it means.
      issue(markOf(e.mark), "",
            fmt::format("invalid YAML: nested too deeply (the limit is {} levels)", e.depth()));
    } catch (const YAML::Exception& e) {
      issue(markOf(e.mark), "", fmt::format("invalid YAML: {}", e.msg));
    }
    return std::nullopt;
  }

  // The entries of `map`, reporting keys that are not in `known` (typos) and keys given twice
  // (yaml-cpp keeps both; a silent choice between them would hide a mistake).
  Fields fields(const YAML::Node& map, const std::string& path, FieldNames known) {
    Fields out;
    for (const auto& kv : map) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) {
        issue(key, path,
              fmt::format("expected field names ({}), got {} as a key", joinNames(known),
                          describe(key)));
        continue;
      }
      if (!contains(known, key.Scalar())) {
        issue(
            key, joinPath(path, key.Scalar()),
            fmt::format("unknown field '{}'; known fields are {}", key.Scalar(), joinNames(known)));
        continue;
      }
      auto [pos, inserted] = out.try_emplace(key.Scalar(), Entry{key, kv.second});
      if (!inserted) {
        issue(key, joinPath(path, key.Scalar()),
              fmt::format("field '{}' is given twice; the first is at {}", key.Scalar(),
                          markOf(pos->second.key).toString()));
      }
    }
    return out;
  }

  // An optional field: its value, or nullptr when absent or empty (`key:` alone means unset).
  static const YAML::Node* find(const Fields& entries, std::string_view key) {
    auto it = entries.find(key);
    if (it == entries.end() || it->second.value.IsNull()) {
      return nullptr;
    }
    return &it->second.value;
  }

  // A required field: its value, or nullptr after an issue saying it is missing.
  const YAML::Node* require(const Fields& entries, const YAML::Node& map, const std::string& path,
                            std::string_view key, std::string_view expected) {
    if (const YAML::Node* v = find(entries, key)) {
      return v;
    }
    auto it = entries.find(key);
    issue(it != entries.end() ? it->second.key : map, joinPath(path, key),
          fmt::format("missing required field '{}'; expected {}", key, expected));
    return nullptr;
  }

  std::optional<std::string> text(const YAML::Node& v, const std::string& field,
                                  std::string_view expected) {
    if (!v.IsScalar()) {
      issue(v, field, fmt::format("expected {}, got {}", expected, describe(v)));
      return std::nullopt;
    }
    return v.Scalar();
  }

  // A strict decimal integer in [min, max]: "12abc", "-1", "1.5", "0x10" and non-scalars are
  // rejected with the value and the range.
  std::optional<int64_t> integer(const YAML::Node& v, const std::string& field, int64_t min,
                                 int64_t max) {
    if (!v.IsScalar() || !isDecimal(v.Scalar())) {
      issue(v, field, fmt::format("expected an integer in {}..{}, got {}", min, max, describe(v)));
      return std::nullopt;
    }
    const std::string& digits = v.Scalar();
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc{} || ptr != digits.data() + digits.size() ||
        value < static_cast<uint64_t>(min) || value > static_cast<uint64_t>(max)) {
      issue(v, field,
            fmt::format("{} is out of range; expected an integer in {}..{}", digits, min, max));
      return std::nullopt;
    }
    return static_cast<int64_t>(value);
  }

  std::optional<Ipv4> ipv4(const YAML::Node& v, const std::string& field) {
    auto str = text(v, field, "an IPv4 address such as 192.168.50.1");
    if (!str) {
      return std::nullopt;
    }
    auto ip = Ipv4::parse(*str);
    if (!ip) {
      issue(v, field,
            fmt::format("'{}' is not an IPv4 address; expected one such as 192.168.50.1", *str));
    }
    return ip;
  }

  // An IPv4 prefix that must be given by its network address ("10.244.1.0/24", not
  // "10.244.1.5/24": the host bits would be silently dropped otherwise).
  std::optional<Ipv4Prefix> networkPrefix(const YAML::Node& v, const std::string& field,
                                          std::string_view example) {
    std::string expected = fmt::format("an IPv4 CIDR such as {}", example);
    auto str = text(v, field, expected);
    if (!str) {
      return std::nullopt;
    }
    auto prefix = Ipv4Prefix::parse(*str);
    if (!prefix) {
      issue(v, field, fmt::format("'{}' is not an IPv4 CIDR; expected {}", *str, expected));
      return std::nullopt;
    }
    if (!prefix->isNetworkAddress()) {
      issue(v, field,
            fmt::format("{} is not a network address; did you mean {}?", *str,
                        Ipv4Prefix{prefix->network(), prefix->len}.toString()));
      return std::nullopt;
    }
    return prefix;
  }

  std::optional<MacAddr> unicastMac(const YAML::Node& v, const std::string& field) {
    constexpr std::string_view kExpected = "a unicast MAC address such as 0a:58:0a:f4:01:01";
    auto str = text(v, field, kExpected);
    if (!str) {
      return std::nullopt;
    }
    auto mac = MacAddr::parse(*str);
    if (!mac) {
      issue(v, field, fmt::format("'{}' is not a MAC address; expected {}", *str, kExpected));
      return std::nullopt;
    }
    if (mac->isZero()) {
      issue(v, field, fmt::format("{} is the all-zero MAC; expected {}", *str, kExpected));
      return std::nullopt;
    }
    if ((mac->bytes[0] & 0x01) != 0) {
      issue(v, field,
            fmt::format("{} is a multicast MAC (the low bit of the first byte is set); expected {}",
                        *str, kExpected));
      return std::nullopt;
    }
    return mac;
  }

  std::optional<std::string> nodeName(const YAML::Node& v, const std::string& field) {
    auto name = text(v, field, "a node name");
    if (name && !isValidNodeName(*name)) {
      issue(v, field,
            fmt::format("invalid node name '{}'; expected lower-case letters, digits, '-' and "
                        "'.', starting and ending with a letter or digit, at most {} characters",
                        *name, kMaxNodeNameLength));
      return std::nullopt;
    }
    return name;
  }

  std::optional<std::string> interfaceName(const YAML::Node& v, const std::string& field) {
    auto name = text(v, field, "an interface name");
    if (name && !isValidInterfaceName(*name)) {
      issue(v, field,
            fmt::format("invalid interface name '{}'; expected 1..{} characters without '/', "
                        "':' or whitespace, and not '.' or '..'",
                        *name, kMaxInterfaceNameLength));
      return std::nullopt;
    }
    return name;
  }

 private:
  std::string file_;
  std::vector<ConfigIssue>& issues_;
};

// Issues in file order, which is how people read and fix them.
void sortByPosition(std::vector<ConfigIssue>& issues) {
  std::stable_sort(issues.begin(), issues.end(), [](const ConfigIssue& a, const ConfigIssue& b) {
    return std::pair(a.mark.line, a.mark.column) < std::pair(b.mark.line, b.mark.column);
  });
}

// ---- cluster file ----

// What node validation needs to know of the network section; unset where that was invalid.
struct NetworkFacts {
  std::optional<Ipv4Prefix> podCidr;
  std::optional<uint8_t> subnetLength;
};

// Values already taken by earlier node entries. The first entry that holds a value keeps it,
// whether or not that entry was otherwise valid: two entries claiming one IP is a mistake in
// the file either way, and guessing which one was meant could route to the wrong host.
struct Claim {
  std::string who;   // "node 'node1'", or "nodes[3]" when the entry has no valid name
  SourceMark where;  // the entry's mark
  std::string toString() const { return fmt::format("{} at {}", who, where.toString()); }
};

class ClusterParser {
 public:
  ClusterParser(const std::string& fileName, ClusterLoad& out)
      : out_(out), r_(fileName, out.issues) {}

  void parse(const std::string& text) {
    auto root = r_.load(text);
    if (!root) {
      out_.fatal = true;
      return;
    }
    if (!root->IsMap()) {
      r_.issue(*root, "",
               fmt::format("expected a map with fields {}; got {}", joinNames(kClusterFields),
                           describe(*root)));
      out_.fatal = true;
      return;
    }
    Fields top = r_.fields(*root, "", kClusterFields);
    NetworkFacts facts;
    if (const YAML::Node* net = r_.require(top, *root, "", "network",
                                           "a map with podCIDR and the other network settings")) {
      if (net->IsMap()) {
        facts = parseNetwork(*net);
      } else {
        r_.issue(*net, "network",
                 fmt::format("expected a map with fields {}; got {}", joinNames(kNetworkFields),
                             describe(*net)));
      }
    }
    out_.fatal = r_.issueCount() > 0;

    const YAML::Node* nodes = Reader::find(top, "nodes");
    if (nodes == nullptr) {
      return;  // no nodes yet: valid, the agent reports its own node missing
    }
    if (!nodes->IsSequence()) {
      r_.issue(*nodes, "nodes",
               fmt::format("expected a sequence of node entries (- name: ...); got {}",
                           describe(*nodes)));
      out_.fatal = true;
      return;
    }
    size_t index = 0;
    for (const auto& entry : *nodes) {
      parseNode(entry, index++, facts);
    }
  }

 private:
  NetworkFacts parseNetwork(const YAML::Node& net) {
    NetworkFacts facts;
    NetworkConfig& nc = out_.cluster.network;
    Fields f = r_.fields(net, "network", kNetworkFields);

    if (const YAML::Node* v =
            r_.require(f, net, "network", "podCIDR", "an IPv4 CIDR such as 10.244.0.0/16")) {
      facts.podCidr = r_.networkPrefix(*v, "network.podCIDR", "10.244.0.0/16");
      if (facts.podCidr) {
        nc.podCidr = *facts.podCidr;
      }
    }

    std::optional<int64_t> subnetLength = nc.subnetLength;
    const YAML::Node* lengthNode = Reader::find(f, "subnetLength");
    if (lengthNode != nullptr) {
      subnetLength = r_.integer(*lengthNode, "network.subnetLength", 1, kMaxSubnetLength);
    }
    if (subnetLength && facts.podCidr && *subnetLength <= facts.podCidr->len) {
      if (facts.podCidr->len >= kMaxSubnetLength) {
        r_.issue(*Reader::find(f, "podCIDR"), "network.podCIDR",
                 fmt::format("podCIDR {} is too small to split into per-node subnets; expected a "
                             "prefix length of at most /{}",
                             facts.podCidr->toString(), kMaxSubnetLength - 1));
      } else {
        r_.issue(lengthNode != nullptr ? *lengthNode : net, "network.subnetLength",
                 fmt::format("subnetLength {}{} must be longer than the podCIDR prefix ({}); "
                             "expected an integer in {}..{}",
                             *subnetLength, lengthNode != nullptr ? "" : " (the default)",
                             facts.podCidr->toString(), facts.podCidr->len + 1, kMaxSubnetLength));
      }
      subnetLength.reset();
    }
    if (subnetLength) {
      nc.subnetLength = static_cast<uint8_t>(*subnetLength);
      facts.subnetLength = nc.subnetLength;
    }

    if (const YAML::Node* v = Reader::find(f, "serviceCIDR")) {
      auto service = r_.networkPrefix(*v, "network.serviceCIDR", "10.96.0.0/12");
      if (service && facts.podCidr && service->overlaps(*facts.podCidr)) {
        r_.issue(*v, "network.serviceCIDR",
                 fmt::format("serviceCIDR {} overlaps podCIDR {}; expected disjoint ranges",
                             service->toString(), facts.podCidr->toString()));
      } else if (service) {
        nc.serviceCidr = service;
      }
    }

    if (const YAML::Node* v = Reader::find(f, "vni")) {
      if (auto vni = r_.integer(*v, "network.vni", 1, kMaxVni)) {
        nc.vni = static_cast<uint32_t>(*vni);
      }
    }
    if (const YAML::Node* v = Reader::find(f, "port")) {
      if (auto port = r_.integer(*v, "network.port", 1, kMaxPort)) {
        nc.port = static_cast<uint16_t>(*port);
      }
    }
    if (const YAML::Node* v = Reader::find(f, "mtu")) {
      if (v->IsScalar() && v->Scalar() == "auto") {
        nc.mtu.reset();
      } else if (v->IsScalar() && isDecimal(v->Scalar())) {
        if (auto mtu = r_.integer(*v, "network.mtu", kMinMtu, kMaxMtu)) {
          nc.mtu = static_cast<uint32_t>(*mtu);
        }
      } else {
        r_.issue(*v, "network.mtu",
                 fmt::format("expected \"auto\" or an integer in {}..{}, got {}", kMinMtu, kMaxMtu,
                             describe(*v)));
      }
    }
    return facts;
  }

  void parseNode(const YAML::Node& entry, size_t index, const NetworkFacts& facts) {
    const std::string path = fmt::format("nodes[{}]", index);
    const size_t issuesBefore = r_.issueCount();
    if (!entry.IsMap()) {
      r_.issue(entry, path,
               fmt::format("expected a map with fields {}; got {}", joinNames(kNodeFields),
                           describe(entry)));
      return;
    }
    Node node;
    node.mark = r_.markOf(entry);
    Fields f = r_.fields(entry, path, kNodeFields);

    std::optional<std::string> name;
    const YAML::Node* nameNode = r_.require(f, entry, path, "name", "the node's name");
    if (nameNode != nullptr) {
      name = r_.nodeName(*nameNode, path + ".name");
    }
    const Claim claim{name ? fmt::format("node '{}'", *name) : path, node.mark};

    std::optional<Ipv4> ip;
    const YAML::Node* ipNode =
        r_.require(f, entry, path, "underlayIP", "an IPv4 address such as 192.168.50.1");
    if (ipNode != nullptr) {
      ip = r_.ipv4(*ipNode, path + ".underlayIP");
    }

    std::optional<Ipv4Prefix> subnet;
    const YAML::Node* subnetNode =
        r_.require(f, entry, path, "podSubnet", "an IPv4 CIDR such as 10.244.1.0/24");
    if (subnetNode != nullptr) {
      subnet = r_.networkPrefix(*subnetNode, path + ".podSubnet", "10.244.1.0/24");
    }
    if (subnet && facts.subnetLength && subnet->len != *facts.subnetLength) {
      r_.issue(
          *subnetNode, path + ".podSubnet",
          fmt::format("podSubnet {} has prefix length /{}; expected /{} (network.subnetLength)",
                      subnet->toString(), subnet->len, *facts.subnetLength));
    }
    if (subnet && facts.podCidr && !facts.podCidr->contains(*subnet)) {
      r_.issue(*subnetNode, path + ".podSubnet",
               fmt::format("podSubnet {} is outside podCIDR {}; expected a subnet of it",
                           subnet->toString(), facts.podCidr->toString()));
    }

    if (const YAML::Node* v = Reader::find(f, "vtepMAC")) {
      node.vtepMac = r_.unicastMac(*v, path + ".vtepMAC");
    }

    // Conflicts with earlier entries: the first keeps the value, this one is rejected.
    if (name) {
      auto [it, inserted] = names_.try_emplace(*name, claim);
      if (!inserted) {
        r_.issue(*nameNode, path + ".name",
                 fmt::format("node name '{}' is already used by the entry at {}", *name,
                             it->second.where.toString()));
      }
    }
    if (ip) {
      auto [it, inserted] = underlayIps_.try_emplace(ip->value, claim);
      if (!inserted) {
        r_.issue(*ipNode, path + ".underlayIP",
                 fmt::format("underlay IP {} is already used by {}", ip->toString(),
                             it->second.toString()));
      }
    }
    if (subnet) {
      bool overlapping = false;
      for (const auto& [other, owner] : podSubnets_) {
        if (other.overlaps(*subnet)) {
          r_.issue(*subnetNode, path + ".podSubnet",
                   fmt::format("podSubnet {} overlaps podSubnet {} of {}", subnet->toString(),
                               other.toString(), owner.toString()));
          overlapping = true;
          break;
        }
      }
      if (!overlapping) {
        podSubnets_.emplace_back(*subnet, claim);
      }
    }

    if (r_.issueCount() != issuesBefore) {
      return;  // rejected; its issues say why
    }
    node.name = *name;
    node.underlayIp = *ip;
    node.podSubnet = *subnet;
    out_.cluster.nodes.push_back(std::move(node));
  }

  ClusterLoad& out_;
  Reader r_;
  std::map<std::string, Claim, std::less<>> names_;
  std::map<uint32_t, Claim> underlayIps_;
  std::vector<std::pair<Ipv4Prefix, Claim>> podSubnets_;
};

// ---- agent.yaml ----

void parseAgent(Reader& r, const YAML::Node& root, AgentConfig& c) {
  if (!root.IsMap()) {
    r.issue(root, "",
            fmt::format("expected a map with fields {}; got {}", joinNames(kAgentFields),
                        describe(root)));
    return;
  }
  Fields f = r.fields(root, "", kAgentFields);

  if (const YAML::Node* v =
          r.require(f, root, "", "nodeName", "this node's name, as in the cluster's node list")) {
    if (auto name = r.nodeName(*v, "nodeName")) {
      c.nodeName = *name;
    }
  }

  bool fileDatastore = true;  // unless it says otherwise; an invalid one requires nothing more
  if (const YAML::Node* v = Reader::find(f, "datastore")) {
    auto ds = r.text(*v, "datastore", "file");
    if (ds && *ds == "file") {
      c.datastore = *ds;
    } else {
      fileDatastore = false;
      if (ds) {
        r.issue(*v, "datastore", fmt::format("unsupported datastore '{}'; expected file", *ds));
      }
    }
  }

  const YAML::Node* clusterFile =
      fileDatastore ? r.require(f, root, "", "clusterFile",
                                "the path of the cluster file (relative to this file's directory)")
                    : Reader::find(f, "clusterFile");
  if (clusterFile != nullptr) {
    if (auto path = r.text(*clusterFile, "clusterFile", "a file path")) {
      if (path->empty()) {
        r.issue(*clusterFile, "clusterFile", "expected a file path, got ''");
      } else {
        std::filesystem::path p(*path);
        if (p.is_relative()) {
          p = std::filesystem::path(c.path).parent_path() / p;
        }
        c.clusterFile = p.string();
      }
    }
  }

  struct InterfaceField {
    std::string_view key;
    std::string* target;
  };
  for (auto [key, target] :
       {InterfaceField{"underlayInterface", &c.underlayInterface},
        InterfaceField{"vtepName", &c.vtepName}, InterfaceField{"bridgeName", &c.bridgeName}}) {
    if (const YAML::Node* v = Reader::find(f, key)) {
      if (auto name = r.interfaceName(*v, std::string(key))) {
        *target = *name;
        c.marks[std::string(key)] = r.markOf(*v);
      }
    }
  }

  if (const YAML::Node* v = Reader::find(f, "healthAddress")) {
    constexpr std::string_view kExpected =
        "\"IP:port\" such as 127.0.0.1:9765 (port 1..65535), or \"\" to disable";
    if (auto addr = r.text(*v, "healthAddress", kExpected)) {
      if (addr->empty() || isValidHealthAddress(*addr)) {
        c.healthAddress = *addr;
      } else {
        r.issue(*v, "healthAddress",
                fmt::format("invalid address '{}'; expected {}", *addr, kExpected));
      }
    }
  }

  if (const YAML::Node* v = Reader::find(f, "stateDir")) {
    if (auto dir = r.text(*v, "stateDir", "a directory path")) {
      if (dir->empty()) {
        r.issue(*v, "stateDir", "expected a directory path, got ''");
      } else {
        c.stateDir = *dir;
      }
    }
  }

  if (const YAML::Node* v = Reader::find(f, "resyncSeconds")) {
    if (auto s = r.integer(*v, "resyncSeconds", 1, kMaxResyncSeconds)) {
      c.resyncSeconds = static_cast<int>(*s);
    }
  }

  if (const YAML::Node* v = Reader::find(f, "logLevel")) {
    std::string expected = fmt::format("one of {}", joinNames(kLogLevels));
    if (auto level = r.text(*v, "logLevel", expected)) {
      if (contains(kLogLevels, *level)) {
        c.logLevel = *level;
      } else {
        r.issue(*v, "logLevel",
                fmt::format("unknown log level '{}'; expected {}", *level, expected));
      }
    }
  }
}

}  // namespace

AgentConfigResult parseAgentConfig(const std::string& yamlText, const std::string& fileName) {
  AgentConfigResult out;
  out.config.path = fileName;
  Reader r(fileName, out.issues);
  try {
    if (auto root = r.load(yamlText)) {
      parseAgent(r, *root, out.config);
    }
  } catch (const YAML::Exception& e) {
    // Not expected: every value is type-checked before use. Reported rather than thrown.
    r.issue(r.markOf(e.mark), "", fmt::format("invalid YAML: {}", e.msg));
  }
  sortByPosition(out.issues);
  return out;
}

AgentConfigResult loadAgentConfig(const std::string& path) {
  auto text = readFile(path);
  if (!text) {
    AgentConfigResult out;
    out.config.path = path;
    out.issues.push_back(ConfigIssue{SourceMark{path}, "", text.error().message});
    return out;
  }
  return parseAgentConfig(*text, path);
}

ClusterLoad parseCluster(const std::string& yamlText, const std::string& fileName) {
  ClusterLoad out;
  try {
    ClusterParser(fileName, out).parse(yamlText);
  } catch (const YAML::Exception& e) {
    // Not expected: every value is type-checked before use. Reported rather than thrown.
    Reader r(fileName, out.issues);
    r.issue(r.markOf(e.mark), "", fmt::format("invalid YAML: {}", e.msg));
    out.fatal = true;
  }
  sortByPosition(out.issues);
  return out;
}

ClusterLoad loadClusterFile(const std::string& path) {
  auto text = readFile(path);
  if (!text) {
    ClusterLoad out;
    out.fatal = true;
    out.issues.push_back(ConfigIssue{SourceMark{path}, "", text.error().message});
    return out;
  }
  return parseCluster(*text, path);
}

}  // namespace ovl
