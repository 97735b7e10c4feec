#include "model/config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string_view>
#include <unordered_map>
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

constexpr std::string_view kClusterFields[] = {"network", "nodes", "services"};
constexpr std::string_view kNetworkFields[] = {"podCIDR", "subnetLength", "serviceCIDR", "vni",
                                               "port",    "mtu",          "masquerade"};
constexpr std::string_view kNodeFields[] = {"name", "underlayIP", "podSubnet", "vtepMAC"};
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
constexpr std::string_view kEndpointFields[] = {"ip",          "node",   "ready", "serving",
                                                "terminating", "weight", "ports"};
// Keyword values, each list in the order of the enum it maps to.
constexpr std::string_view kMasqueradeModes[] = {"off-cluster", "all", "none"};
constexpr std::string_view kServiceTypes[] = {"ClusterIP", "NodePort", "LoadBalancer"};
constexpr std::string_view kProtocols[] = {"TCP", "UDP", "SCTP"};
constexpr svc::Protocol kProtocolValues[] = {svc::Protocol::kTcp, svc::Protocol::kUdp,
                                             svc::Protocol::kSctp};
constexpr std::string_view kAffinities[] = {"None", "ClientIP"};
constexpr std::string_view kTrafficPolicies[] = {"Cluster", "Local"};
constexpr std::string_view kBooleans[] = {"false", "true"};
constexpr std::string_view kAgentFields[] = {"nodeName",          "datastore",    "clusterFile",
                                             "underlayInterface", "vtepName",     "bridgeName",
                                             "healthAddress",     "stateDir",     "resyncSeconds",
                                             "logLevel",          "endpointsDir", "rpFilter",
                                             "underlayIP",        "etcd"};
constexpr std::string_view kEtcdFields[] = {"endpoints", "prefix",  "caFile",
                                            "certFile",  "keyFile", "leaseTTL"};
constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error"};
constexpr std::string_view kRpFilterModes[] = {"fix", "warn", "off"};

constexpr int64_t kMaxSubnetLength = 30;    // a /31 or /32 per node leaves no room for pods
constexpr int64_t kMaxVni = (1 << 24) - 1;  // the VNI is 24 bits on the wire
constexpr int64_t kMaxPort = 65535;
constexpr int64_t kMinMtu = 576;  // the smallest datagram every IPv4 host must accept
constexpr int64_t kMaxMtu = 65535;
constexpr int64_t kMaxResyncSeconds = 86400;
constexpr size_t kMaxNodeNameLength = 253;      // a DNS name
constexpr size_t kMaxLabelLength = 63;          // a DNS label: a namespace or service name
constexpr size_t kMaxPortNameLength = 15;       // an IANA service name, as Kubernetes requires
constexpr int64_t kMaxAffinityTimeout = 86400;  // one day, as in Kubernetes
constexpr int64_t kMaxWeight = UINT32_MAX;
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

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most `max` characters: an RFC 1123 label, what Kubernetes
// accepts as a namespace or service name.
bool isDnsLabel(std::string_view name, size_t max) {
  if (name.empty() || name.size() > max) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : name) {
    if (!alnum(c) && c != '-') {
      return false;
    }
  }
  return alnum(name.front()) && alnum(name.back());
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

// Why `ip` can be neither an external IP nor an endpoint (nothing would ever reach it through
// DNAT, or it would capture traffic that is not the service's), or nullptr when it can.
const char* specialAddress(Ipv4 ip) {
  const uint32_t v = ip.value;
  if ((v >> 24) == 0) {
    return "in 0.0.0.0/8 (this host on this network)";
  }
  if ((v >> 24) == 127) {
    return "a loopback address (127.0.0.0/8)";
  }
  if ((v >> 16) == 0xa9fe) {
    return "a link-local address (169.254.0.0/16)";
  }
  if ((v >> 28) == 0xe) {
    return "a multicast address (224.0.0.0/4)";
  }
  if (v == UINT32_MAX) {
    return "the broadcast address";
  }
  return nullptr;
}

// Why `ip` cannot be a node's underlay IP (it would never carry unicast VXLAN packets between
// hosts, or it would be routed into the overlay itself), or nullopt when it can.
std::optional<std::string> unusableUnderlayIp(Ipv4 ip, const std::optional<Ipv4Prefix>& podCidr,
                                              const std::optional<Ipv4Prefix>& serviceCidr) {
  const uint32_t v = ip.value;
  if (v == UINT32_MAX) {
    return "the broadcast address (255.255.255.255, in 240.0.0.0/4)";
  }
  if (const char* why = specialAddress(ip)) {
    return why;
  }
  if ((v >> 28) == 0xf) {
    return "a reserved address (240.0.0.0/4)";
  }
  if (podCidr && podCidr->contains(ip)) {
    return fmt::format("inside network.podCIDR {}", podCidr->toString());
  }
  if (serviceCidr && serviceCidr->contains(ip)) {
    return fmt::format("inside network.serviceCIDR {}", serviceCidr->toString());
  }
  return std::nullopt;
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

// Whether `name` has the form of the default VTEP name, "ovl.<vni>": "ovl." and digits only.
bool looksLikeDefaultVtepName(std::string_view name) {
  constexpr std::string_view prefix = AgentConfig::kDefaultVtepPrefix;
  return name.size() > prefix.size() && name.starts_with(prefix) &&
         isDecimal(name.substr(prefix.size()));
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
  // Where the next values come from (documents of one cluster stored apart, as in etcd).
  void setFile(std::string file) { file_ = std::move(file); }

  SourceMark markOf(const YAML::Node& n) const {
    SourceMark mark{file_};
    if (!n.IsDefined()) {
      return mark;
    }
    return markOf(n.Mark());
  }

  // YAML parsed from a part of the file that starts at this (0-based) line.
  void setLineOffset(size_t lines) { lineOffset_ = lines; }

  SourceMark markOf(const YAML::Mark& m) const {
    SourceMark mark{file_};
    if (!m.is_null() && m.line >= 0 && m.column >= 0) {
      mark.line = m.line + 1 + static_cast<int>(lineOffset_);  // yaml-cpp counts from 0
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

  // One of `options` (matched exactly, or in any case when `anyCase`): its index.
  std::optional<size_t> keyword(const YAML::Node& v, const std::string& field, FieldNames options,
                                std::string_view what, bool anyCase = false) {
    const std::string expected =
        fmt::format("one of {}{}", joinNames(options), anyCase ? " (in any case)" : "");
    auto str = text(v, field, expected);
    if (!str) {
      return std::nullopt;
    }
    for (size_t i = 0; i < options.size(); ++i) {
      if (anyCase ? equalsIgnoringCase(options[i], *str) : options[i] == *str) {
        return i;
      }
    }
    issue(v, field, fmt::format("unknown {} '{}'; expected {}", what, *str, expected));
    return std::nullopt;
  }

  std::optional<bool> boolean(const YAML::Node& v, const std::string& field) {
    auto index = keyword(v, field, kBooleans, "boolean", /*anyCase=*/true);
    if (!index) {
      return std::nullopt;
    }
    return *index == 1;
  }

  // A DNS label (namespace, service name, port name) of at most `max` characters.
  std::optional<std::string> label(const YAML::Node& v, const std::string& field,
                                   std::string_view what, size_t max) {
    auto name = text(v, field, what);
    if (name && !isDnsLabel(*name, max)) {
      issue(v, field,
            fmt::format("invalid {} '{}'; expected lower-case letters, digits and '-', starting "
                        "and ending with a letter or digit, at most {} characters",
                        what, *name, max));
      return std::nullopt;
    }
    return name;
  }

  // Appends `suffix` to the messages of the issues from index `from` on.
  void annotateSince(size_t from, std::string_view suffix) {
    for (size_t i = from; i < issues_.size(); ++i) {
      issues_[i].message += suffix;
    }
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
  size_t lineOffset_ = 0;
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
  std::optional<Ipv4Prefix> serviceCidr;
  bool serviceCidrGiven = false;  // given, though perhaps invalid
};

// Values already taken by earlier node entries. The first entry that holds a value keeps it,
// whether or not that entry was otherwise valid: two entries claiming one IP is a mistake in
// the file either way, and guessing which one was meant could route to the wrong host.
struct Claim {
  std::string who;   // "node 'node1'", or "nodes[3]" when the entry has no valid name
  SourceMark where;  // the entry's mark
  std::string toString() const { return fmt::format("{} at {}", who, where.toString()); }
};

// Where the entries of the top-level `services:` list are, found by an event scan of the file
// (yaml-cpp's parser without a document tree). yaml-cpp's tree takes about fifty times the
// text's size, so a cluster file of 10,000 services (3 MB) would cost 150 MB at once; with
// these lines the file is parsed one service at a time instead. Only plain layouts qualify:
// a block list whose entries each start on a line of their own with "- " and share no line;
// no anchors or aliases inside it. Anything else (or a syntax error, which the whole-file
// parse then reports) gives nullopt, and the file is parsed whole.
struct ServiceLines {
  std::vector<size_t> itemStart;  // 0-based line of each entry's "- "
  size_t end = 0;                 // first line after the list (exclusive)
};

class ServiceLineScan : public YAML::EventHandler {
 public:
  explicit ServiceLineScan(const std::vector<std::string_view>& lines) : lines_(lines) {}

  std::optional<ServiceLines> result() {
    if (!usable_ || state_ == State::kBefore || state_ == State::kIn) {
      return std::nullopt;
    }
    if (state_ == State::kAfter) {
      out_.end = lines_.size();
    }
    if (out_.itemStart.empty() || out_.end <= last_) {
      return std::nullopt;
    }
    return out_;
  }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t a) override { node(m, a, false); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override {
    if (state_ == State::kIn) {
      usable_ = false;
    }
    node(m, 0, false);
  }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                const std::string& value) override {
    if (depth_ == 1 && expectKey_ && value == "services") {
      usable_ = usable_ && state_ == State::kBefore;
      servicesKey_ = true;
    }
    node(m, a, false);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                       YAML::EmitterStyle::value style) override {
    if (depth_ == 1 && !expectKey_ && servicesKey_) {
      if (style == YAML::EmitterStyle::Flow) {
        usable_ = false;
      }
      state_ = State::kIn;
      servicesKey_ = false;
      ++depth_;
      return;
    }
    node(m, a, true);
  }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a,
                  YAML::EmitterStyle::value) override {
    node(m, a, true);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapEnd() override { close(); }

 private:
  enum class State { kBefore, kIn, kAfter, kDone };

  void node(const YAML::Mark& m, YAML::anchor_t anchor, bool opens) {
    const size_t line = static_cast<size_t>(std::max(m.line, 0));
    if (state_ == State::kIn) {
      if (anchor != 0) {
        usable_ = false;
      }
      if (depth_ == 2) {  // an entry starts: "- " and nothing else before it on its line
        if (!out_.itemStart.empty() && line <= last_) {
          usable_ = false;
        }
        const std::string_view before = line < lines_.size()
                                            ? lines_[line].substr(0, static_cast<size_t>(m.column))
                                            : std::string_view{};
        const size_t dash = before.find_first_not_of(' ');
        if (dash == std::string_view::npos || before[dash] != '-' ||
            before.find_first_not_of(' ', dash + 1) != std::string_view::npos) {
          usable_ = false;
        }
        out_.itemStart.push_back(line);
      }
      last_ = std::max(last_, line);
    } else if (state_ == State::kAfter && depth_ == 1) {
      out_.end = line;  // the next top-level key
      state_ = State::kDone;
    }
    if (depth_ == 1 && !opens) {  // a container counts when it closes
      expectKey_ = !expectKey_;
      if (expectKey_) {
        servicesKey_ = false;
      }
    }
    if (opens) {
      ++depth_;
    }
  }
  void close() {
    --depth_;
    if (depth_ == 1) {
      if (state_ == State::kIn) {
        state_ = State::kAfter;
      }
      expectKey_ = !expectKey_;
      servicesKey_ = false;
    }
  }

  const std::vector<std::string_view>& lines_;
  ServiceLines out_;
  State state_ = State::kBefore;
  int depth_ = 0;  // 1 = in the top-level map
  bool expectKey_ = true;
  bool servicesKey_ = false;  // the last top-level key was `services`
  bool usable_ = true;
  size_t last_ = 0;  // the last line an event of the list started on
};

std::vector<std::string_view> splitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::optional<ServiceLines> findServiceLines(const std::string& text,
                                             const std::vector<std::string_view>& lines) {
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    ServiceLineScan scan(lines);
    parser.HandleNextDocument(scan);
    return scan.result();
  } catch (const YAML::Exception&) {
    return std::nullopt;  // the whole-file parse reports it
  }
}
}  // namespace

// What a service entry holds that no other service may use, and the message when another
// already does: before + the holder + after.
struct ServiceClaim {
  enum class Space { kId, kAddress, kNodePort };
  Space space;
  std::string key;  // "ns/name", "ip:port/proto" or "nodePort/proto"
  SourceMark mark;
  std::string field;
  std::string before;
  std::string after;
  bool whereOnly;  // the holder is named by its position only
};

// A service entry read on its own (ClusterParser::parseServiceAlone).
struct ParsedService {
  std::optional<svc::Service> service;  // when the entry itself has no problem
  std::vector<ConfigIssue> issues;      // its own problems
  std::vector<ServiceClaim> claims;
  std::optional<std::string> id;
  std::string who;  // "service 'ns/name'", or its path when it has no valid name
  SourceMark where;
  bool annotate = true;  // add " (service X is rejected)" to its messages
};

namespace {

// The problem of a service that claims what `holder` claimed first.
ConfigIssue lostClaim(const ServiceClaim& c, const ParsedService& holder) {
  const std::string held =
      c.whereOnly ? holder.where.toString() : Claim{holder.who, holder.where}.toString();
  return ConfigIssue{c.mark, c.field, c.before + held + c.after};
}

// A rejected service's issues each name it, for logs read out of context.
void annotateRejected(const ParsedService& p, std::vector<ConfigIssue>& issues) {
  if (!p.annotate) {
    return;
  }
  const std::string suffix = p.id ? fmt::format(" (service {} is rejected)", *p.id)
                                  : std::string(" (this service is rejected)");
  for (auto& i : issues) {
    i.message += suffix;
  }
}

}  // namespace

// One stored document: its YAML tree, or the syntax error that kept it from being read. (A
// service document is read on its own when it is checked: ClusterDocuments::Impl.)
struct ClusterDocuments::Doc {
  std::string source;
  YAML::Node root;
  std::vector<ConfigIssue> syntax;
};

namespace {

class ClusterParser {
 public:
  ClusterParser(const std::string& fileName, ClusterLoad& out)
      : out_(out), r_(fileName, out.issues) {}

  void parse(const std::string& text) {
    // Services one at a time where the layout allows (see ServiceLines): the rest of the file
    // is parsed with the list's lines blanked out (so every position stays where it was),
    // then each entry from its own lines.
    const std::vector<std::string_view> lines = splitLines(text);
    const std::optional<ServiceLines> split = findServiceLines(text, lines);
    std::optional<YAML::Node> root;
    if (split) {
      std::string rest = text;
      const size_t from = static_cast<size_t>(lines[split->itemStart.front()].data() - text.data());
      const size_t to = split->end < lines.size()
                            ? static_cast<size_t>(lines[split->end].data() - text.data())
                            : text.size();
      for (size_t i = from; i < to; ++i) {
        if (rest[i] != '\n') {
          rest[i] = ' ';
        }
      }
      root = r_.load(rest);
    } else {
      root = r_.load(text);
    }
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

    // No nodes yet is valid: the agent reports its own node missing.
    if (const YAML::Node* nodes = Reader::find(top, "nodes")) {
      if (nodes->IsSequence()) {
        size_t index = 0;
        for (const auto& entry : *nodes) {
          parseNode(entry, fmt::format("nodes[{}]", index++), facts);
        }
      } else {
        r_.issue(*nodes, "nodes",
                 fmt::format("expected a sequence of node entries (- name: ...); got {}",
                             describe(*nodes)));
        out_.fatal = true;
      }
    }

    // Service issues are never fatal: a bad service is rejected, the others are kept.
    if (split) {
      for (size_t i = 0; i < split->itemStart.size(); ++i) {
        const size_t first = split->itemStart[i];
        const size_t last = i + 1 < split->itemStart.size() ? split->itemStart[i + 1] : split->end;
        const char* begin = lines[first].data();
        const char* end = last < lines.size() ? lines[last].data() : text.data() + text.size();
        r_.setLineOffset(first);
        std::optional<YAML::Node> entry = r_.load(std::string(begin, end));
        if (entry && entry->IsSequence() && entry->size() == 1) {
          parseService((*entry)[0], fmt::format("services[{}]", i), facts);
        } else if (entry) {
          r_.setLineOffset(0);
          // Not expected: the scan checked that every entry has lines of its own.
          YAML::Mark at;
          at.line = static_cast<int>(first);
          r_.issue(r_.markOf(at), fmt::format("services[{}]", i),
                   "expected one service entry (- namespace: ...) on these lines");
        }
        r_.setLineOffset(0);
      }
    } else if (const YAML::Node* services = Reader::find(top, "services")) {
      if (services->IsSequence()) {
        size_t index = 0;
        for (const auto& entry : *services) {
          parseService(entry, fmt::format("services[{}]", index++), facts);
        }
      } else {
        r_.issue(*services, "services",
                 fmt::format("expected a sequence of service entries (- namespace: ...); got {}",
                             describe(*services)));
      }
    }
  }

  // The documents of a cluster stored apart (ClusterDocuments): each is read as the section or
  // list entry of the cluster file it stands for, and the nodes are checked against each other
  // (one subnet or underlay IP per node) as the entries of one file are. The services are
  // ClusterDocuments' own (parseStoredService); their checks need the facts returned.
  NetworkFacts parseDocuments(const ClusterDocuments::Doc* network,
                              const std::map<std::string, ClusterDocuments::Doc>& nodes) {
    out_.strictStartup = false;
    NetworkFacts facts;
    if (network == nullptr) {
      r_.issue(SourceMark{missingNetworkSource_}, "network",
               "missing: the network settings (podCIDR and the others, as in the cluster "
               "file's network section) are not stored");
    } else if (!network->syntax.empty()) {
      out_.issues.insert(out_.issues.end(), network->syntax.begin(), network->syntax.end());
    } else {
      r_.setFile(network->source);
      if (network->root.IsMap()) {
        facts = parseNetwork(network->root);
      } else {
        r_.issue(network->root, "network",
                 fmt::format("expected a map with fields {}; got {}", joinNames(kNetworkFields),
                             describe(network->root)));
      }
    }
    out_.fatal = r_.issueCount() > 0;
    for (const auto& [key, doc] : nodes) {
      if (!doc.syntax.empty()) {
        out_.issues.insert(out_.issues.end(), doc.syntax.begin(), doc.syntax.end());
        continue;
      }
      r_.setFile(doc.source);
      parseNode(doc.root, "node", facts);
    }
    return facts;
  }

  // A stored service document on its own (its claims are checked by ClusterDocuments).
  std::shared_ptr<const ParsedService> parseStoredService(const ClusterDocuments::Doc& d,
                                                          const NetworkFacts& facts) {
    r_.setFile(d.source);
    return std::make_shared<const ParsedService>(parseServiceAlone(d.root, "service", facts));
  }

  void setMissingNetworkSource(std::string source) { missingNetworkSource_ = std::move(source); }

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
    // Checked with a flag, not by resetting the optional: after a reset() GCC 12 at -Os reports
    // a false -Wmaybe-uninitialized on the optional's value below (GCC bug 80635).
    bool subnetLengthFits = true;
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
      subnetLengthFits = false;
    }
    if (subnetLength && subnetLengthFits) {
      nc.subnetLength = static_cast<uint8_t>(*subnetLength);
      facts.subnetLength = nc.subnetLength;
    }

    if (const YAML::Node* v = Reader::find(f, "serviceCIDR")) {
      facts.serviceCidrGiven = true;
      auto service = r_.networkPrefix(*v, "network.serviceCIDR", "10.96.0.0/12");
      if (service && facts.podCidr && service->overlaps(*facts.podCidr)) {
        r_.issue(*v, "network.serviceCIDR",
                 fmt::format("serviceCIDR {} overlaps podCIDR {}; expected disjoint ranges",
                             service->toString(), facts.podCidr->toString()));
      } else if (service) {
        nc.serviceCidr = service;
        facts.serviceCidr = service;
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
    if (const YAML::Node* v = Reader::find(f, "masquerade")) {
      if (auto mode = r_.keyword(*v, "network.masquerade", kMasqueradeModes, "masquerade mode")) {
        nc.masquerade = static_cast<svc::MasqueradeMode>(*mode);
      }
    }
    return facts;
  }

  void parseNode(const YAML::Node& entry, const std::string& path, const NetworkFacts& facts) {
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
    if (ip) {
      if (auto why = unusableUnderlayIp(*ip, facts.podCidr, facts.serviceCidr)) {
        r_.issue(*ipNode, path + ".underlayIP",
                 fmt::format("underlay IP {} is {}; a node's underlay IP carries VXLAN packets; "
                             "it must be a unicast address outside the pod and service networks",
                             ip->toString(), *why));
        ip.reset();  // claims nothing: no other node could use it either
      }
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

    const YAML::Node* macNode = Reader::find(f, "vtepMAC");
    if (macNode != nullptr) {
      node.vtepMac = r_.unicastMac(*macNode, path + ".vtepMAC");
    }

    // Conflicts with earlier entries: the first keeps the value, this one is rejected.
    bool uniqueName = false;
    if (name) {
      auto [it, inserted] = names_.try_emplace(*name, claim);
      uniqueName = inserted;
      if (!inserted) {
        r_.issue(*nameNode, path + ".name",
                 fmt::format("node name '{}' is already used by the entry at {}", *name,
                             it->second.where.toString()));
      }
    }
    // The effective VTEP MAC: the one given, or else the one derived from the name. A derived
    // MAC of a duplicate name is not claimed again (the name issue already says it all).
    std::optional<MacAddr> mac = node.vtepMac;
    if (macNode == nullptr && uniqueName) {
      mac = MacAddr::fromIdentity(*name);
    }
    if (mac) {
      auto [it, inserted] = vtepMacs_.try_emplace(*mac, claim);
      if (!inserted) {
        if (macNode != nullptr) {
          r_.issue(*macNode, path + ".vtepMAC",
                   fmt::format("VTEP MAC {} is already used by {}; each node needs its own",
                               mac->toString(), it->second.toString()));
        } else {
          r_.issue(*nameNode, path + ".vtepMAC",
                   fmt::format("VTEP MAC {} (derived from the name '{}', as no vtepMAC is given) "
                               "is already used by {}; each node needs its own: set a different "
                               "vtepMAC on one of them",
                               mac->toString(), *name, it->second.toString()));
        }
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

  // ---- services ----

  // A cluster or external IP of the service being parsed, with where it was given.
  struct Address {
    Ipv4 ip;
    YAML::Node node;
    std::string field;
  };
  // A port of the service being parsed, with where its values were given.
  struct PortEntry {
    svc::ServicePort port;
    YAML::Node nameNode;
    YAML::Node portNode;
    YAML::Node nodePortNode;
    std::string path;            // "services[1].ports[0]"
    bool valid = false;          // every value in it is valid and its port/protocol is unique
    bool uniqueNodePort = true;  // no earlier port of the service has its nodePort/protocol
  };

  void parseService(const YAML::Node& entry, const std::string& path, const NetworkFacts& facts) {
    parsedServices_.push_back(
        std::make_shared<const ParsedService>(parseServiceAlone(entry, path, facts)));
    claimService(*parsedServices_.back());
  }

  // The entry on its own: its problems and claims are recorded, not yet checked against other
  // services (claimService does that), so a stored document is read once and checked again
  // cheaply whenever another one changes.
  ParsedService parseServiceAlone(const YAML::Node& entry, const std::string& path,
                                  const NetworkFacts& facts) {
    ParsedService out;
    const size_t issuesBefore = r_.issueCount();
    auto takeIssues = [&] {
      out.issues.assign(std::make_move_iterator(out_.issues.begin() + issuesBefore),
                        std::make_move_iterator(out_.issues.end()));
      out_.issues.resize(issuesBefore);
    };
    if (!entry.IsMap()) {
      r_.issue(entry, path,
               fmt::format("expected a map with fields {}; got {}", joinNames(kServiceFields),
                           describe(entry)));
      takeIssues();
      out.annotate = false;
      return out;
    }
    svc::Service s;
    s.mark = r_.markOf(entry);
    Fields f = r_.fields(entry, path, kServiceFields);

    std::optional<std::string> ns;
    if (const YAML::Node* v =
            r_.require(f, entry, path, "namespace", "the service's namespace, such as default")) {
      ns = r_.label(*v, path + ".namespace", "namespace", kMaxLabelLength);
    }
    std::optional<std::string> name;
    const YAML::Node* nameNode = r_.require(f, entry, path, "name", "the service's name");
    if (nameNode != nullptr) {
      name = r_.label(*nameNode, path + ".name", "service name", kMaxLabelLength);
    }
    const std::optional<std::string> id =
        ns && name ? std::optional(fmt::format("{}/{}", *ns, *name)) : std::nullopt;
    out.id = id;
    out.who = id ? fmt::format("service '{}'", *id) : path;
    out.where = s.mark;

    std::optional<svc::ServiceType> type = svc::ServiceType::kClusterIP;
    if (const YAML::Node* v = Reader::find(f, "type")) {
      constexpr svc::ServiceType kValues[] = {svc::ServiceType::kClusterIP,
                                              svc::ServiceType::kNodePort,
                                              svc::ServiceType::kLoadBalancer};
      auto i = r_.keyword(*v, path + ".type", kServiceTypes, "service type");
      type = i ? std::optional(kValues[*i]) : std::nullopt;
    }

    // Addresses: the cluster IPs, then the external IPs. One address given twice in a service
    // is reported once here and claimed once below.
    std::vector<Address> clusterIps;
    std::vector<Address> externalIps;
    std::map<uint32_t, std::string> ownAddresses;  // address -> the field that gave it first
    auto addAddress = [&](std::vector<Address>& to, const YAML::Node& v, const std::string& field) {
      auto ip = r_.ipv4(v, field);
      if (!ip) {
        return false;
      }
      auto [it, inserted] = ownAddresses.try_emplace(ip->value, field);
      if (!inserted) {
        r_.issue(v, field,
                 fmt::format("{} is already given as {} of this service; expected distinct "
                             "addresses",
                             ip->toString(), it->second));
        return false;
      }
      to.push_back(Address{*ip, v, field});
      return true;
    };

    const YAML::Node* clusterIpNode = Reader::find(f, "clusterIP");
    const YAML::Node* clusterIpsNode = Reader::find(f, "clusterIPs");
    if (clusterIpNode != nullptr && clusterIpsNode != nullptr) {
      r_.issue(*clusterIpsNode, path + ".clusterIPs",
               fmt::format("both clusterIP (at {}) and clusterIPs are given; expected one of them",
                           r_.markOf(*clusterIpNode).toString()));
    } else if (clusterIpNode != nullptr) {
      addAddress(clusterIps, *clusterIpNode, path + ".clusterIP");
    } else if (clusterIpsNode != nullptr) {
      if (!clusterIpsNode->IsSequence() || clusterIpsNode->size() == 0) {
        r_.issue(*clusterIpsNode, path + ".clusterIPs",
                 fmt::format("expected a non-empty sequence of IPv4 addresses inside "
                             "network.serviceCIDR; got {}",
                             clusterIpsNode->IsSequence() ? "an empty sequence"
                                                          : describe(*clusterIpsNode)));
      } else {
        for (size_t i = 0; i < clusterIpsNode->size(); ++i) {
          addAddress(clusterIps, (*clusterIpsNode)[i], fmt::format("{}.clusterIPs[{}]", path, i));
        }
      }
    } else {
      r_.require(f, entry, path, "clusterIP",
                 "an IPv4 address inside network.serviceCIDR (or clusterIPs: a sequence of them)");
    }
    for (const Address& a : clusterIps) {
      if (facts.serviceCidr && !facts.serviceCidr->contains(a.ip)) {
        r_.issue(a.node, a.field,
                 fmt::format("cluster IP {} is outside network.serviceCIDR {}; expected an "
                             "address inside it",
                             a.ip.toString(), facts.serviceCidr->toString()));
      } else if (!facts.serviceCidrGiven) {
        r_.issue(a.node, a.field,
                 fmt::format("cluster IP {} cannot be checked: network.serviceCIDR is not set; "
                             "set it to the range of cluster IPs, such as 10.96.0.0/12",
                             a.ip.toString()));
      }
      // (serviceCIDR given but invalid: that issue is fatal already, nothing more to say here)
    }

    if (const YAML::Node* v = Reader::find(f, "externalIPs")) {
      if (!v->IsSequence()) {
        r_.issue(*v, path + ".externalIPs",
                 fmt::format("expected a sequence of IPv4 addresses; got {}", describe(*v)));
      } else {
        for (size_t i = 0; i < v->size(); ++i) {
          const std::string field = fmt::format("{}.externalIPs[{}]", path, i);
          if (!addAddress(externalIps, (*v)[i], field)) {
            continue;
          }
          const Address& a = externalIps.back();
          constexpr std::string_view kExpected =
              "expected an address outside network.podCIDR and network.serviceCIDR";
          if (const char* why = specialAddress(a.ip)) {
            r_.issue(a.node, field,
                     fmt::format("external IP {} is {}; expected a unicast address that clients "
                                 "can reach",
                                 a.ip.toString(), why));
          } else if (facts.podCidr && facts.podCidr->contains(a.ip)) {
            r_.issue(a.node, field,
                     fmt::format("external IP {} is inside network.podCIDR {}; {}", a.ip.toString(),
                                 facts.podCidr->toString(), kExpected));
          } else if (facts.serviceCidr && facts.serviceCidr->contains(a.ip)) {
            r_.issue(a.node, field,
                     fmt::format("external IP {} is inside network.serviceCIDR {}; {}",
                                 a.ip.toString(), facts.serviceCidr->toString(), kExpected));
          }
        }
      }
    }

    bool affinityKnown = true;  // false when the value given is invalid
    if (const YAML::Node* v = Reader::find(f, "sessionAffinity")) {
      auto i = r_.keyword(*v, path + ".sessionAffinity", kAffinities, "session affinity");
      affinityKnown = i.has_value();
      s.affinityClientIp = i == size_t{1};
    }
    if (const YAML::Node* v = Reader::find(f, "sessionAffinityTimeoutSeconds")) {
      const std::string field = path + ".sessionAffinityTimeoutSeconds";
      if (auto t = r_.integer(*v, field, 1, kMaxAffinityTimeout)) {
        s.affinityTimeoutSeconds = static_cast<uint32_t>(*t);
        if (affinityKnown && !s.affinityClientIp) {
          r_.issue(*v, field,
                   fmt::format("sessionAffinityTimeoutSeconds {} is given but sessionAffinity is "
                               "None; expected sessionAffinity: ClientIP, or no timeout",
                               *t));
        }
      }
    }
    constexpr svc::TrafficPolicy kPolicies[] = {svc::TrafficPolicy::kCluster,
                                                svc::TrafficPolicy::kLocal};
    if (const YAML::Node* v = Reader::find(f, "internalTrafficPolicy")) {
      if (auto i =
              r_.keyword(*v, path + ".internalTrafficPolicy", kTrafficPolicies, "traffic policy")) {
        s.internalTrafficPolicy = kPolicies[*i];
      }
    }
    if (const YAML::Node* v = Reader::find(f, "externalTrafficPolicy")) {
      if (auto i =
              r_.keyword(*v, path + ".externalTrafficPolicy", kTrafficPolicies, "traffic policy")) {
        s.externalTrafficPolicy = kPolicies[*i];
      }
    }

    // Ports.
    std::vector<PortEntry> ports;
    if (const YAML::Node* v =
            r_.require(f, entry, path, "ports", "a sequence of ports (- port: 80), at least one")) {
      if (!v->IsSequence() || v->size() == 0) {
        r_.issue(*v, path + ".ports",
                 fmt::format("expected a sequence of ports (- port: 80), at least one; got {}",
                             v->IsSequence() ? "an empty sequence" : describe(*v)));
      } else {
        for (size_t i = 0; i < v->size(); ++i) {
          ports.push_back(
              parseServicePort((*v)[i], fmt::format("{}.ports[{}]", path, i), v->size(), type));
        }
      }
    }
    checkPortsWithinService(ports);

    // Endpoints.
    std::map<std::string, std::string, std::less<>> portNames;  // name -> its port's path
    for (const PortEntry& p : ports) {
      if (!p.port.name.empty()) {
        portNames.try_emplace(p.port.name, p.path);
      }
    }
    if (const YAML::Node* v = Reader::find(f, "endpoints")) {
      if (!v->IsSequence()) {
        r_.issue(*v, path + ".endpoints",
                 fmt::format("expected a sequence of endpoints (- ip: 10.244.1.11); got {}",
                             describe(*v)));
      } else {
        std::map<uint32_t, std::string> endpointIps;  // ip -> the endpoint that gave it first
        for (size_t i = 0; i < v->size(); ++i) {
          const std::string epPath = fmt::format("{}.endpoints[{}]", path, i);
          if (auto ep = parseEndpoint((*v)[i], epPath, portNames)) {
            auto [it, inserted] = endpointIps.try_emplace(ep->ip.value, epPath);
            if (!inserted) {
              r_.issue((*v)[i]["ip"], epPath + ".ip",
                       fmt::format("endpoint {} is already listed as {}; expected each endpoint "
                                   "once (use weight for a larger share)",
                                   ep->ip.toString(), it->second));
            } else {
              s.endpoints.push_back(std::move(*ep));
            }
          }
        }
      }
    }

    // What it holds that no other service may: checked by claimService.
    if (id) {
      out.claims.push_back(ServiceClaim{ServiceClaim::Space::kId, *id, r_.markOf(*nameNode),
                                        path + ".name",
                                        fmt::format("service '{}' is already defined by the "
                                                    "entry at ",
                                                    *id),
                                        "", /*whereOnly=*/true});
    }
    for (const std::vector<Address>* list : {&clusterIps, &externalIps}) {
      for (const Address& a : *list) {
        for (const PortEntry& p : ports) {
          if (!p.valid) {
            continue;
          }
          const std::string what =
              fmt::format("{}:{}/{}", a.ip.toString(), p.port.port, svc::toString(p.port.protocol));
          out.claims.push_back(ServiceClaim{
              ServiceClaim::Space::kAddress, what, r_.markOf(a.node), a.field,
              fmt::format("{} ({}) is already used by ", what, p.path.substr(path.size() + 1)),
              "; expected an address, port and protocol that no other service uses (cluster IPs "
              "and external IPs share one space)",
              false});
        }
      }
    }
    for (const PortEntry& p : ports) {
      if (!p.valid || !p.uniqueNodePort || !p.port.nodePort) {
        continue;
      }
      const std::string what =
          fmt::format("{}/{}", *p.port.nodePort, svc::toString(p.port.protocol));
      out.claims.push_back(
          ServiceClaim{ServiceClaim::Space::kNodePort, what, r_.markOf(p.nodePortNode),
                       p.path + ".nodePort", fmt::format("nodePort {} is already used by ", what),
                       "; expected a node port and protocol that no other service uses", false});
    }

    if (r_.issueCount() != issuesBefore) {
      takeIssues();
      return out;
    }
    s.ns = *ns;
    s.name = *name;
    s.type = *type;
    for (const Address& a : clusterIps) {
      s.clusterIps.push_back(a.ip);
    }
    for (const Address& a : externalIps) {
      s.externalIps.push_back(a.ip);
    }
    for (PortEntry& p : ports) {
      s.ports.push_back(std::move(p.port));
    }
    out.service = std::move(s);
    return out;
  }

  // Conflicts with earlier services: the first keeps the value, this one is rejected.
  // `p` must outlive the parser: the claim maps point into it.
  void claimService(const ParsedService& p) {
    std::vector<ConfigIssue> issues = p.issues;
    for (const ServiceClaim& c : p.claims) {
      auto& space = c.space == ServiceClaim::Space::kId        ? serviceIds_
                    : c.space == ServiceClaim::Space::kAddress ? serviceAddresses_
                                                               : nodePorts_;
      auto [it, inserted] = space.try_emplace(c.key, &p);
      if (!inserted) {
        issues.push_back(lostClaim(c, *it->second));
      }
    }
    if (issues.empty()) {
      out_.cluster.services.push_back(*p.service);
      return;
    }
    annotateRejected(p, issues);
    std::move(issues.begin(), issues.end(), std::back_inserter(out_.issues));
  }

  // One entry of a service's `ports`; `valid` when every value in it is.
  PortEntry parseServicePort(const YAML::Node& entry, const std::string& path, size_t portCount,
                             std::optional<svc::ServiceType> type) {
    PortEntry out;
    out.path = path;
    const size_t issuesBefore = r_.issueCount();
    if (!entry.IsMap()) {
      r_.issue(entry, path,
               fmt::format("expected a map with fields {}; got {}", joinNames(kServicePortFields),
                           describe(entry)));
      return out;
    }
    Fields f = r_.fields(entry, path, kServicePortFields);
    svc::ServicePort& p = out.port;

    const YAML::Node* nameNode =
        portCount > 1 ? r_.require(f, entry, path, "name",
                                   "a port name (required when a service has more than one port)")
                      : Reader::find(f, "name");
    if (nameNode != nullptr) {
      out.nameNode = *nameNode;
      if (auto name = r_.label(*nameNode, path + ".name", "port name", kMaxPortNameLength)) {
        p.name = *name;
      }
    }
    if (const YAML::Node* v = Reader::find(f, "protocol")) {
      if (auto i = r_.keyword(*v, path + ".protocol", kProtocols, "protocol", /*anyCase=*/true)) {
        p.protocol = kProtocolValues[*i];
      }
    }
    if (const YAML::Node* v =
            r_.require(f, entry, path, "port", fmt::format("an integer in 1..{}", kMaxPort))) {
      out.portNode = *v;
      if (auto port = r_.integer(*v, path + ".port", 1, kMaxPort)) {
        p.port = static_cast<uint16_t>(*port);
      }
    }
    p.targetPort = p.port;
    if (const YAML::Node* v = Reader::find(f, "targetPort")) {
      if (auto port = r_.integer(*v, path + ".targetPort", 1, kMaxPort)) {
        p.targetPort = static_cast<uint16_t>(*port);
      }
    }
    if (const YAML::Node* v = Reader::find(f, "nodePort")) {
      out.nodePortNode = *v;
      if (auto port = r_.integer(*v, path + ".nodePort", 1, kMaxPort)) {
        p.nodePort = static_cast<uint16_t>(*port);
        if (type == svc::ServiceType::kClusterIP) {
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
  void checkPortsWithinService(std::vector<PortEntry>& ports) {
    std::map<std::string, std::string, std::less<>> names;
    std::map<std::pair<svc::Protocol, uint16_t>, std::string> servicePorts;
    std::map<std::pair<svc::Protocol, uint16_t>, std::string> nodePorts;
    for (PortEntry& p : ports) {
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

  std::optional<svc::Endpoint> parseEndpoint(
      const YAML::Node& entry, const std::string& path,
      const std::map<std::string, std::string, std::less<>>& portNames) {
    const size_t issuesBefore = r_.issueCount();
    if (!entry.IsMap()) {
      r_.issue(entry, path,
               fmt::format("expected a map with fields {}; got {}", joinNames(kEndpointFields),
                           describe(entry)));
      return std::nullopt;
    }
    Fields f = r_.fields(entry, path, kEndpointFields);
    svc::Endpoint ep;

    if (const YAML::Node* v =
            r_.require(f, entry, path, "ip", "the endpoint's IPv4 address, such as 10.244.1.11")) {
      if (auto ip = r_.ipv4(*v, path + ".ip")) {
        ep.ip = *ip;
        if (const char* why = specialAddress(*ip)) {
          r_.issue(*v, path + ".ip",
                   fmt::format("endpoint {} is {}; expected a pod or host address", ip->toString(),
                               why));
        }
      }
    }
    if (const YAML::Node* v = Reader::find(f, "node")) {
      if (auto node = r_.nodeName(*v, path + ".node")) {
        ep.node = *node;
      }
    }
    if (const YAML::Node* v = Reader::find(f, "ready")) {
      ep.ready = r_.boolean(*v, path + ".ready").value_or(true);
    }
    ep.serving = ep.ready;
    if (const YAML::Node* v = Reader::find(f, "serving")) {
      ep.serving = r_.boolean(*v, path + ".serving").value_or(ep.ready);
    }
    if (const YAML::Node* v = Reader::find(f, "terminating")) {
      ep.terminating = r_.boolean(*v, path + ".terminating").value_or(false);
    }
    if (const YAML::Node* v = Reader::find(f, "weight")) {
      if (auto w = r_.integer(*v, path + ".weight", 0, kMaxWeight)) {
        ep.weight = static_cast<uint32_t>(*w);
      }
    }
    if (const YAML::Node* v = Reader::find(f, "ports")) {
      if (!v->IsMap()) {
        r_.issue(*v, path + ".ports",
                 fmt::format("expected a map of port name to port ({{http: 8080}}); got {}",
                             describe(*v)));
      } else {
        for (const auto& kv : *v) {
          if (!kv.first.IsScalar()) {
            r_.issue(kv.first, path + ".ports",
                     fmt::format("expected port names as keys; got {}", describe(kv.first)));
            continue;
          }
          const std::string& portName = kv.first.Scalar();
          const std::string field = fmt::format("{}.ports.{}", path, portName);
          if (!portNames.contains(portName)) {
            std::string known;
            for (const auto& [n, unused] : portNames) {
              known += (known.empty() ? "" : ", ") + n;
            }
            r_.issue(kv.first, field,
                     fmt::format("no port named '{}' in this service; expected {}", portName,
                                 known.empty() ? "no overrides (its ports have no names)"
                                               : "one of " + known));
            continue;
          }
          if (ep.ports.contains(portName)) {
            r_.issue(kv.first, field, fmt::format("port '{}' is given twice", portName));
            continue;
          }
          if (auto port = r_.integer(kv.second, field, 1, kMaxPort)) {
            ep.ports.emplace(portName, static_cast<uint16_t>(*port));
          }
        }
      }
    }
    if (r_.issueCount() != issuesBefore) {
      return std::nullopt;
    }
    return ep;
  }

  ClusterLoad& out_;
  Reader r_;
  std::string missingNetworkSource_;
  std::map<std::string, Claim, std::less<>> names_;
  std::map<uint32_t, Claim> underlayIps_;
  std::map<MacAddr, Claim> vtepMacs_;  // effective VTEP MACs: given or derived from the name
  std::vector<std::pair<Ipv4Prefix, Claim>> podSubnets_;
  // Services: "ns/name", "ip:port/proto" (cluster and external IPs alike), "nodePort/proto".
  // (Keys point into the claims of the services that hold them, kept alive below: no copies,
  // as the etcd datastore checks 10,000 stored services again at every change.)
  using ServiceClaims = std::unordered_map<std::string_view, const ParsedService*>;
  ServiceClaims serviceIds_;
  ServiceClaims serviceAddresses_;
  ServiceClaims nodePorts_;
  std::vector<std::shared_ptr<const ParsedService>> parsedServices_;  // of the cluster file
};

// ---- agent.yaml ----

// The VTEP, the bridge and the underlay interface are three different links, so the names given
// for them must differ. Only names given explicitly are compared: the default VTEP name depends
// on the cluster file's vni. Instead, a bridge or underlay name of the form "ovl.<digits>" is
// rejected, as it would be the default VTEP name for some vni.
void checkInterfaceNames(Reader& r, const AgentConfig& c) {
  struct Given {
    std::string_view key;
    const std::string* name;
    SourceMark mark;
  };
  std::vector<Given> given;
  for (const Given& g :
       {Given{"underlayInterface", &c.underlayInterface, {}}, Given{"vtepName", &c.vtepName, {}},
        Given{"bridgeName", &c.bridgeName, {}}}) {
    if (auto it = c.marks.find(std::string(g.key)); it != c.marks.end()) {
      given.push_back(Given{g.key, g.name, it->second});
    }
  }
  std::stable_sort(given.begin(), given.end(), [](const Given& a, const Given& b) {
    return std::pair(a.mark.line, a.mark.column) < std::pair(b.mark.line, b.mark.column);
  });
  for (size_t i = 0; i < given.size(); ++i) {
    const Given& g = given[i];
    if (g.key != "vtepName" && looksLikeDefaultVtepName(*g.name)) {
      r.issue(g.mark, std::string(g.key),
              fmt::format("{} '{}' has the form of the default VTEP name ({}<vni>), which is "
                          "reserved: it would collide with the VTEP whenever vtepName is not "
                          "set; expected a name other than '{}' followed by digits only",
                          g.key, *g.name, AgentConfig::kDefaultVtepPrefix,
                          AgentConfig::kDefaultVtepPrefix));
      continue;
    }
    for (size_t j = 0; j < i; ++j) {
      if (*given[j].name == *g.name) {
        r.issue(g.mark, std::string(g.key),
                fmt::format("{} '{}' is the same name as {} at {}; expected three different "
                            "names for vtepName, bridgeName and underlayInterface (the VTEP, the "
                            "pod bridge and the underlay are separate interfaces)",
                            g.key, *g.name, given[j].key, given[j].mark.toString()));
        break;
      }
    }
  }
}

// "host:port", "http://host:port" or "https://host:port", as etcdctl takes them: host:port.
std::optional<std::string> etcdEndpoint(std::string_view text) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (text.starts_with(scheme)) {
      text.remove_prefix(scheme.size());
    }
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return std::nullopt;
  }
  auto port = text.substr(colon + 1);
  uint32_t value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (!isDecimal(port) || ec != std::errc{} || ptr != port.data() + port.size() || value < 1 ||
      value > kMaxPort) {
    return std::nullopt;
  }
  return std::string(text);
}

void parseEtcd(Reader& r, const YAML::Node& v, AgentConfig& c) {
  if (!v.IsMap()) {
    r.issue(
        v, "etcd",
        fmt::format("expected a map with fields {}; got {}", joinNames(kEtcdFields), describe(v)));
    return;
  }
  EtcdConfig& e = c.etcd;
  Fields f = r.fields(v, "etcd", kEtcdFields);
  constexpr std::string_view kEndpoint = "host:port, such as 127.0.0.1:2379";
  if (const YAML::Node* eps =
          r.require(f, v, "etcd", "endpoints", "a list of etcd endpoints (host:port)")) {
    if (!eps->IsSequence() || eps->size() == 0) {
      r.issue(*eps, "etcd.endpoints",
              fmt::format("expected a non-empty list of {}; got {}", kEndpoint, describe(*eps)));
    } else {
      for (size_t i = 0; i < eps->size(); ++i) {
        const std::string field = fmt::format("etcd.endpoints[{}]", i);
        if (auto text = r.text((*eps)[i], field, kEndpoint)) {
          if (auto ep = etcdEndpoint(*text)) {
            e.endpoints.push_back(*ep);
          } else {
            r.issue((*eps)[i], field,
                    fmt::format("invalid endpoint '{}'; expected {}", *text, kEndpoint));
          }
        }
      }
    }
  }
  if (const YAML::Node* p = Reader::find(f, "prefix")) {
    if (auto text = r.text(*p, "etcd.prefix", "a key prefix such as /ovl")) {
      if (text->empty() || text->front() != '/' || text->back() == '/') {
        r.issue(*p, "etcd.prefix",
                fmt::format("invalid prefix '{}'; expected a key prefix starting with '/' and "
                            "not ending with '/', such as /ovl",
                            *text));
      } else {
        e.prefix = *text;
      }
    }
  }
  for (auto [key, target] : {std::pair{"caFile", &e.caFile}, std::pair{"certFile", &e.certFile},
                             std::pair{"keyFile", &e.keyFile}}) {
    if (const YAML::Node* p = Reader::find(f, key)) {
      const std::string field = fmt::format("etcd.{}", key);
      if (auto path = r.text(*p, field, "a file path")) {
        std::filesystem::path fp(*path);
        if (fp.is_relative()) {
          fp = std::filesystem::path(c.path).parent_path() / fp;
        }
        *target = fp.string();
      }
    }
  }
  if (e.certFile.empty() != e.keyFile.empty()) {
    r.issue(v, "etcd",
            "certFile and keyFile go together (the client certificate and its key); "
            "only one is given");
  }
  if (!e.certFile.empty() && e.caFile.empty()) {
    r.issue(v, "etcd.caFile",
            "a client certificate is given but no caFile; TLS needs the CA that signed the "
            "etcd server's certificate");
  }
  if (const YAML::Node* p = Reader::find(f, "leaseTTL")) {
    if (auto ttl = r.integer(*p, "etcd.leaseTTL", EtcdConfig::kMinLeaseTtlSeconds,
                             EtcdConfig::kMaxLeaseTtlSeconds)) {
      e.leaseTtlSeconds = static_cast<int>(*ttl);
    }
  }
}

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
    auto ds = r.text(*v, "datastore", "file or etcd");
    if (ds && (*ds == "file" || *ds == "etcd")) {
      c.datastore = *ds;
      fileDatastore = *ds == "file";
    } else {
      fileDatastore = false;
      if (ds) {
        r.issue(*v, "datastore",
                fmt::format("unsupported datastore '{}'; expected file or etcd", *ds));
      }
    }
  }
  if (c.datastore == "etcd") {
    if (const YAML::Node* v = r.require(f, root, "", "etcd",
                                        "a map with the etcd endpoints (etcd: {endpoints: "
                                        "[127.0.0.1:2379]})")) {
      parseEtcd(r, *v, c);
    }
    if (const YAML::Node* v = r.require(f, root, "", "underlayIP",
                                        "this node's underlay IPv4 address, such as "
                                        "192.168.50.1 (with etcd the node registers itself)")) {
      c.underlayIp = r.ipv4(*v, "underlayIP");
      if (c.underlayIp) {
        if (auto why = unusableUnderlayIp(*c.underlayIp, std::nullopt, std::nullopt)) {
          r.issue(*v, "underlayIP",
                  fmt::format("underlay IP {} is {}; expected a unicast address",
                              c.underlayIp->toString(), *why));
          c.underlayIp.reset();
        }
      }
    }
  } else {
    for (const char* key : {"etcd", "underlayIP"}) {
      if (const YAML::Node* v = Reader::find(f, key)) {
        r.issue(*v, key,
                fmt::format("'{}' is only used with datastore etcd (datastore is '{}')", key,
                            c.datastore));
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
  checkInterfaceNames(r, c);

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

  if (const YAML::Node* v = Reader::find(f, "endpointsDir")) {
    if (auto dir = r.text(*v, "endpointsDir", "a directory path")) {
      if (dir->empty()) {
        r.issue(*v, "endpointsDir", "expected a directory path, got ''");
      } else {
        c.endpointsDir = *dir;
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

  if (const YAML::Node* v = Reader::find(f, "rpFilter")) {
    std::string expected = fmt::format("one of {}", joinNames(kRpFilterModes));
    if (auto mode = r.text(*v, "rpFilter", expected)) {
      if (contains(kRpFilterModes, *mode)) {
        c.rpFilter = *mode;
      } else {
        r.issue(*v, "rpFilter", fmt::format("unknown mode '{}'; expected {}", *mode, expected));
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

// ---- documents stored apart ----

struct ClusterDocuments::Impl {
  std::optional<Doc> network;
  uint64_t networkGeneration = 1;       // bumped whenever the network document changes
  std::map<std::string, Doc> nodes;     // by source
  std::map<std::string, Doc> services;  // by source

  // The services as last checked. A service document is read on its own (parseStoredService)
  // once per content and network generation; its claims (id, ip:port/proto, nodePort/proto)
  // go into `holders`, where the first source in order keeps each value, as the first entry of
  // a file does. A change is checked again only against the sources that share a claim with it.
  struct Slot {
    std::shared_ptr<const ParsedService> parsed;  // null: the document is not valid YAML
    std::vector<ConfigIssue> issues;              // as reported: own problems, then conflicts
    std::optional<std::string> acceptedId;        // when accepted
  };
  std::map<std::string, Slot> slots;                               // by source
  std::unordered_map<std::string, std::set<std::string>> holders;  // claim -> sources in order
  std::set<std::string> dirtyServices;  // set or erased since the last check
  bool structureDirty = true;           // network or nodes changed (or never built)
  bool lastFatal = true;
  uint64_t checkedGeneration = 0;            // the network generation the slots were read with
  NetworkFacts facts;                        // of the last build
  std::vector<ConfigIssue> structureIssues;  // network and nodes, of the last build

  static std::string claimKey(const ServiceClaim& c) {
    std::string k(1, static_cast<char>('0' + static_cast<int>(c.space)));
    k += c.key;
    return k;
  }

  // Brings the slots up to date with the documents. Returns what changed in the accepted
  // services (upserts: their sources).
  struct Diff {
    std::vector<const std::string*> upserts;  // sources, now accepted, new or changed
    std::vector<std::string> removed;         // ids
  };
  Diff checkServices(ClusterParser& parser) {
    if (checkedGeneration != networkGeneration) {  // every service is read again
      for (const auto& [source, slot] : slots) {
        dirtyServices.insert(source);
      }
      for (const auto& [source, doc] : services) {
        dirtyServices.insert(source);
      }
      checkedGeneration = networkGeneration;
    }
    std::set<std::string> affected;
    auto holdersOf = [&](const std::string& key) {
      auto it = holders.find(key);
      if (it != holders.end()) {
        affected.insert(it->second.begin(), it->second.end());
      }
      return it;
    };
    for (const std::string& source : dirtyServices) {
      affected.insert(source);
      Slot& slot = slots[source];
      if (slot.parsed) {
        for (const ServiceClaim& c : slot.parsed->claims) {
          const std::string key = claimKey(c);
          auto it = holdersOf(key);
          if (it != holders.end()) {
            it->second.erase(source);
            if (it->second.empty()) {
              holders.erase(it);
            }
          }
        }
      }
      slot.parsed.reset();
      auto doc = services.find(source);
      if (doc == services.end() || !doc->second.syntax.empty()) {
        continue;
      }
      slot.parsed = parser.parseStoredService(doc->second, facts);
      for (const ServiceClaim& c : slot.parsed->claims) {
        const std::string key = claimKey(c);
        holders[key].insert(source);
        holdersOf(key);
      }
    }
    std::set<std::string> dirty = std::move(dirtyServices);
    dirtyServices.clear();

    Diff diff;
    std::set<std::string> before;
    std::set<std::string> after;
    for (const std::string& source : affected) {
      auto it = slots.find(source);
      if (it == slots.end()) {
        continue;
      }
      Slot& slot = it->second;
      if (slot.acceptedId) {
        before.insert(*slot.acceptedId);
      }
      auto doc = services.find(source);
      if (doc == services.end()) {
        slots.erase(it);
        continue;
      }
      const bool wasAccepted = slot.acceptedId.has_value();
      slot.acceptedId.reset();
      if (!slot.parsed) {
        slot.issues = doc->second.syntax;
        continue;
      }
      const ParsedService& p = *slot.parsed;
      slot.issues = p.issues;
      std::set<std::string> own;  // a value claimed twice by one service conflicts with itself
      for (const ServiceClaim& c : p.claims) {
        const std::string key = claimKey(c);
        const std::string& first = *holders.at(key).begin();
        if (first != source) {
          slot.issues.push_back(lostClaim(c, *slots.at(first).parsed));
        } else if (!own.insert(key).second) {
          slot.issues.push_back(lostClaim(c, p));
        }
      }
      if (!slot.issues.empty()) {
        annotateRejected(p, slot.issues);
        continue;
      }
      slot.acceptedId = p.service->id();
      after.insert(*slot.acceptedId);
      if (!wasAccepted || dirty.contains(source)) {
        diff.upserts.push_back(&it->first);
      }
    }
    std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                        std::back_inserter(diff.removed));
    return diff;
  }

  std::vector<ConfigIssue> issues() const {
    std::vector<ConfigIssue> out = structureIssues;
    for (const auto& [source, slot] : slots) {
      out.insert(out.end(), slot.issues.begin(), slot.issues.end());
    }
    return out;
  }
};

ClusterDocuments::ClusterDocuments(std::string networkSource)
    : networkSource_(std::move(networkSource)), impl_(std::make_unique<Impl>()) {}
ClusterDocuments::~ClusterDocuments() = default;
ClusterDocuments::ClusterDocuments(ClusterDocuments&&) noexcept = default;
ClusterDocuments& ClusterDocuments::operator=(ClusterDocuments&&) noexcept = default;

ClusterDocuments::Doc ClusterDocuments::parseDoc(const std::string& source,
                                                 const std::string& text) {
  Doc doc;
  doc.source = source;
  Reader r(source, doc.syntax);
  try {
    if (auto root = r.load(text)) {
      doc.root = *root;
    }
  } catch (const YAML::Exception& e) {
    r.issue(r.markOf(e.mark), "", fmt::format("invalid YAML: {}", e.msg));
  }
  return doc;
}

void ClusterDocuments::setNetwork(const std::string& source, const std::string& text) {
  impl_->network = parseDoc(source, text);
  ++impl_->networkGeneration;
  impl_->structureDirty = true;
}

void ClusterDocuments::clearNetwork() {
  impl_->network.reset();
  ++impl_->networkGeneration;
  impl_->structureDirty = true;
}

void ClusterDocuments::setNode(const std::string& source, const std::string& text) {
  Doc doc = parseDoc(source, text);
  // A node's own record also says whether its agent is ready: a status, not configuration.
  if (doc.syntax.empty() && doc.root.IsMap() && doc.root["ready"]) {
    doc.root.remove("ready");
  }
  impl_->nodes[source] = std::move(doc);
  impl_->structureDirty = true;
}

void ClusterDocuments::setService(const std::string& source, const std::string& text) {
  impl_->services[source] = parseDoc(source, text);
  impl_->dirtyServices.insert(source);
}

void ClusterDocuments::erase(const std::string& source) {
  if (impl_->nodes.erase(source) > 0) {
    impl_->structureDirty = true;
  }
  if (impl_->services.erase(source) > 0) {
    impl_->dirtyServices.insert(source);
  }
}

std::vector<ClusterDocuments::ServiceEntry> ClusterDocuments::addServiceFile(
    const std::string& fileName, const std::string& text, std::vector<ConfigIssue>& issues) {
  std::vector<ServiceEntry> out;
  Reader r(fileName, issues);
  std::optional<YAML::Node> root;
  try {
    root = r.load(text);
  } catch (const YAML::Exception& e) {
    r.issue(r.markOf(e.mark), "", fmt::format("invalid YAML: {}", e.msg));
  }
  if (!root) {
    return out;
  }
  std::vector<YAML::Node> entries;
  if (root->IsMap() && (*root)["services"]) {
    const YAML::Node list = (*root)["services"];
    if (!list.IsSequence()) {
      r.issue(list, "services",
              fmt::format("expected a sequence of service entries (- namespace: ...); got {}",
                          describe(list)));
      return out;
    }
    for (const auto& e : list) {
      entries.push_back(e);
    }
  } else if (root->IsMap()) {
    entries.push_back(*root);  // one service
  } else if (root->IsSequence()) {
    for (const auto& e : *root) {
      entries.push_back(e);
    }
  } else {
    r.issue(*root, "",
            fmt::format("expected `services:` with a list of services, or one service (a map "
                        "with namespace, name, ...); got {}",
                        describe(*root)));
    return out;
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    const YAML::Node& e = entries[i];
    ServiceEntry se;
    se.source = fmt::format("{}[{}]", fileName, i);
    se.mark = r.markOf(e);
    if (e.IsMap() && e["namespace"] && e["namespace"].IsScalar() && e["name"] &&
        e["name"].IsScalar()) {
      se.id = e["namespace"].Scalar() + "/" + e["name"].Scalar();
    }
    se.text = YAML::Dump(e) + "\n";
    Doc doc;
    doc.source = fileName;
    doc.root = e;  // marks stay those of the file
    impl_->services[se.source] = std::move(doc);
    impl_->dirtyServices.insert(se.source);
    out.push_back(std::move(se));
  }
  return out;
}

ClusterLoad ClusterDocuments::build() {
  ClusterLoad out;
  Impl& m = *impl_;
  try {
    ClusterParser p(networkSource_, out);
    p.setMissingNetworkSource(networkSource_);
    const NetworkFacts facts = p.parseDocuments(m.network ? &*m.network : nullptr, m.nodes);
    // The same facts read the services as before: only the changed ones are read again.
    m.facts = facts;
    m.structureIssues = out.issues;
    m.checkServices(p);
    out.issues = m.issues();
    out.cluster.services.reserve(m.slots.size());
    for (const auto& [source, slot] : m.slots) {
      if (slot.acceptedId) {
        out.cluster.services.push_back(*slot.parsed->service);
      }
    }
  } catch (const YAML::Exception& e) {
    // Not expected (the reader catches what yaml-cpp throws), but a build must never leave the
    // slots half-checked: the next one reads every service again.
    m.checkedGeneration = 0;
    Reader r(networkSource_, out.issues);
    r.issue(r.markOf(e.mark), "", fmt::format("invalid YAML: {}", e.msg));
    out.fatal = true;
  }
  m.structureDirty = false;
  m.lastFatal = out.fatal;
  return out;
}

bool ClusterDocuments::changed() const {
  return impl_->structureDirty || !impl_->dirtyServices.empty();
}

std::optional<ClusterDocuments::ServiceChanges> ClusterDocuments::serviceChanges() {
  Impl& m = *impl_;
  if (m.structureDirty || m.lastFatal) {
    return std::nullopt;
  }
  ServiceChanges out;
  try {
    ClusterLoad scratch;
    ClusterParser p(networkSource_, scratch);
    Impl::Diff diff = m.checkServices(p);
    out.upserts.reserve(diff.upserts.size());
    for (const std::string* source : diff.upserts) {
      out.upserts.push_back(*m.slots.at(*source).parsed->service);
    }
    out.removed = std::move(diff.removed);
  } catch (const YAML::Exception&) {
    m.checkedGeneration = 0;  // as in build(): read everything again, in a build
    m.structureDirty = true;
    return std::nullopt;
  }
  out.issues = m.issues();
  return out;
}

}  // namespace ovl
