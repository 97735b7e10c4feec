#include "model/agent_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <string_view>
#include <utility>

#include "model/cluster_file.h"
#include "model/validators.h"
#include "model/yaml_reader.h"

namespace ovl {

namespace {

constexpr std::string_view kAgentFields[] = {"nodeName",          "datastore",    "clusterFile",
                                             "underlayInterface", "vtepName",     "bridgeName",
                                             "healthAddress",     "stateDir",     "resyncSeconds",
                                             "logLevel",          "endpointsDir", "rpFilter",
                                             "underlayIP",        "etcd"};
constexpr std::string_view kEtcdFields[] = {"endpoints", "prefix",   "caFile",   "certFile",
                                            "keyFile",   "leaseTTL", "podSubnet"};
constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error"};
constexpr std::string_view kRpFilterModes[] = {"fix", "warn", "off"};
constexpr int64_t kMaxResyncSeconds = 86400;

// A path as given in agent.yaml: relative paths are taken from the directory of agent.yaml.
std::string besideAgentFile(const AgentConfig& c, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative()) {
    p = std::filesystem::path(c.path).parent_path() / p;
  }
  return p.string();
}

// Whether `name` has the form of the default VTEP name, "ovl.<vni>": "ovl." and digits only.
bool looksLikeDefaultVtepName(std::string_view name) {
  constexpr std::string_view prefix = AgentConfig::kDefaultVtepPrefix;
  return name.size() > prefix.size() && name.starts_with(prefix) &&
         isDecimal(name.substr(prefix.size()));
}

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

// ---- the etcd section ----

void parseEtcdEndpoints(Reader& r, const Fields& f, const YamlNode& v, EtcdConfig& e) {
  constexpr std::string_view kEndpoint = "host:port, such as 127.0.0.1:2379";
  const YamlNode* eps =
      r.require(f, v, "etcd", "endpoints", "a list of etcd endpoints (host:port)");
  if (eps == nullptr) {
    return;
  }
  if (!eps->isSequence() || eps->size() == 0) {
    r.issue(*eps, "etcd.endpoints",
            fmt::format("expected a non-empty list of {}; got {}", kEndpoint, describe(*eps)));
    return;
  }
  size_t i = 0;
  for (const YamlNode& item : *eps) {
    const std::string field = fmt::format("etcd.endpoints[{}]", i++);
    if (auto text = r.text(item, field, kEndpoint)) {
      if (auto ep = etcdEndpoint(*text)) {
        e.endpoints.push_back(*ep);
      } else {
        r.issue(item, field,
                fmt::format("invalid endpoint {}; expected {}", quoteValue(*text), kEndpoint));
      }
    }
  }
}

// etcd.caFile, certFile and keyFile: TLS, and mutual TLS when the client certificate is given.
void parseEtcdTls(Reader& r, const Fields& f, const YamlNode& v, AgentConfig& c) {
  EtcdConfig& e = c.etcd;
  for (auto [key, target] : {std::pair{"caFile", &e.caFile}, std::pair{"certFile", &e.certFile},
                             std::pair{"keyFile", &e.keyFile}}) {
    if (const YamlNode* p = Reader::find(f, key)) {
      const std::string field = fmt::format("etcd.{}", key);
      if (auto path = r.text(*p, field, "a file path")) {
        *target = besideAgentFile(c, *path);
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
}

void parseEtcd(Reader& r, const YamlNode& v, AgentConfig& c) {
  if (!v.isMap()) {
    r.issue(
        v, "etcd",
        fmt::format("expected a map with fields {}; got {}", joinNames(kEtcdFields), describe(v)));
    return;
  }
  EtcdConfig& e = c.etcd;
  Fields f = r.fields(v, "etcd", kEtcdFields);
  parseEtcdEndpoints(r, f, v, e);
  if (const YamlNode* p = Reader::find(f, "prefix")) {
    if (auto text = r.text(*p, "etcd.prefix", "a key prefix such as /ovl")) {
      if (text->empty() || text->front() != '/' || text->back() == '/') {
        r.issue(*p, "etcd.prefix",
                fmt::format("invalid prefix {}; expected a key prefix starting with '/' and "
                            "not ending with '/', such as /ovl",
                            quoteValue(*text)));
      } else {
        e.prefix = *text;
      }
    }
  }
  parseEtcdTls(r, f, v, c);
  if (const YamlNode* p = Reader::find(f, "leaseTTL")) {
    if (auto ttl = r.integer(*p, "etcd.leaseTTL", EtcdConfig::kMinLeaseTtlSeconds,
                             EtcdConfig::kMaxLeaseTtlSeconds)) {
      e.leaseTtlSeconds = static_cast<int>(*ttl);
    }
  }
  if (const YamlNode* p = Reader::find(f, "podSubnet")) {
    e.podSubnet = r.networkPrefix(*p, "etcd.podSubnet", "10.244.2.0/24");
  }
}

// ---- the top level ----

// With the etcd datastore the node registers itself: where etcd is, and its underlay IP.
void parseEtcdRegistration(Reader& r, const Fields& f, const YamlNode& root, AgentConfig& c) {
  if (const YamlNode* v = r.require(f, root, "", "etcd",
                                    "a map with the etcd endpoints (etcd: {endpoints: "
                                    "[127.0.0.1:2379]})")) {
    parseEtcd(r, *v, c);
  }
  if (const YamlNode* v = r.require(f, root, "", "underlayIP",
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
}

// datastore, and what it requires. Returns whether the datastore is the cluster file.
bool parseDatastore(Reader& r, const Fields& f, const YamlNode& root, AgentConfig& c) {
  bool fileDatastore = true;  // unless it says otherwise; an invalid one requires nothing more
  if (const YamlNode* v = Reader::find(f, "datastore")) {
    auto ds = r.text(*v, "datastore", "file or etcd");
    if (ds && (*ds == "file" || *ds == "etcd")) {
      c.datastore = *ds;
      fileDatastore = *ds == "file";
    } else {
      fileDatastore = false;
      if (ds) {
        r.issue(*v, "datastore",
                fmt::format("unsupported datastore {}; expected file or etcd", quoteValue(*ds)));
      }
    }
  }
  if (c.datastore == "etcd") {
    parseEtcdRegistration(r, f, root, c);
  } else {
    for (const char* key : {"etcd", "underlayIP"}) {
      if (const YamlNode* v = Reader::find(f, key)) {
        r.issue(*v, key,
                fmt::format("'{}' is only used with datastore etcd (datastore is '{}')", key,
                            c.datastore));
      }
    }
  }
  return fileDatastore;
}

void parseClusterFile(Reader& r, const Fields& f, const YamlNode& root, bool fileDatastore,
                      AgentConfig& c) {
  const YamlNode* clusterFile =
      fileDatastore ? r.require(f, root, "", "clusterFile",
                                "the path of the cluster file (relative to this file's directory)")
                    : Reader::find(f, "clusterFile");
  if (clusterFile != nullptr) {
    if (auto path = r.text(*clusterFile, "clusterFile", "a file path")) {
      if (path->empty()) {
        r.issue(*clusterFile, "clusterFile", "expected a file path, got ''");
      } else {
        c.clusterFile = besideAgentFile(c, *path);
      }
    }
  }
}

// underlayInterface, vtepName and bridgeName: each a valid link name, the three different.
void parseInterfaceNames(Reader& r, const Fields& f, AgentConfig& c) {
  struct InterfaceField {
    std::string_view key;
    std::string* target;
  };
  for (auto [key, target] :
       {InterfaceField{"underlayInterface", &c.underlayInterface},
        InterfaceField{"vtepName", &c.vtepName}, InterfaceField{"bridgeName", &c.bridgeName}}) {
    if (const YamlNode* v = Reader::find(f, key)) {
      if (auto name = r.interfaceName(*v, std::string(key))) {
        *target = *name;
        c.marks[std::string(key)] = r.markOf(*v);
      }
    }
  }
  checkInterfaceNames(r, c);
}

void parseHealthAddress(Reader& r, const Fields& f, AgentConfig& c) {
  if (const YamlNode* v = Reader::find(f, "healthAddress")) {
    constexpr std::string_view kExpected =
        "\"IP:port\" such as 127.0.0.1:9765 (port 1..65535), or \"\" to disable";
    if (auto addr = r.text(*v, "healthAddress", kExpected)) {
      if (addr->empty() || isValidHealthAddress(*addr)) {
        c.healthAddress = *addr;
      } else {
        r.issue(*v, "healthAddress",
                fmt::format("invalid address {}; expected {}", quoteValue(*addr), kExpected));
      }
    }
  }
}

// stateDir or endpointsDir: a directory path, not empty.
void parseDirectory(Reader& r, const Fields& f, const char* key, std::string& target) {
  if (const YamlNode* v = Reader::find(f, key)) {
    if (auto dir = r.text(*v, key, "a directory path")) {
      if (dir->empty()) {
        r.issue(*v, key, "expected a directory path, got ''");
      } else {
        target = *dir;
      }
    }
  }
}

// logLevel or rpFilter: one of `options`, each a `what` ("log level", "mode"); `anyCase`: taken
// in any case (log levels, as --log-level takes them: DEBUG is debug).
void parseOneOf(Reader& r, const Fields& f, const char* key, FieldNames options,
                std::string_view what, std::string& target, bool anyCase = false) {
  if (const YamlNode* v = Reader::find(f, key)) {
    std::string expected = fmt::format("one of {}", joinNames(options));
    if (auto value = r.text(*v, key, expected)) {
      if (anyCase) {
        std::transform(value->begin(), value->end(), value->begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      }
      if (contains(options, *value)) {
        target = *value;
      } else {
        r.issue(*v, key,
                fmt::format("unknown {} {}; expected {}", what, quoteValue(*value), expected));
      }
    }
  }
}

void parseAgent(Reader& r, const YamlNode& root, AgentConfig& c) {
  if (!root.isMap()) {
    r.issue(root, "",
            fmt::format("expected a map with fields {}; got {}", joinNames(kAgentFields),
                        describe(root)));
    return;
  }
  Fields f = r.fields(root, "", kAgentFields);

  if (const YamlNode* v =
          r.require(f, root, "", "nodeName", "this node's name, as in the cluster's node list")) {
    if (auto name = r.nodeName(*v, "nodeName")) {
      c.nodeName = *name;
    }
  }
  const bool fileDatastore = parseDatastore(r, f, root, c);
  parseClusterFile(r, f, root, fileDatastore, c);
  parseInterfaceNames(r, f, c);
  parseHealthAddress(r, f, c);
  parseDirectory(r, f, "stateDir", c.stateDir);
  parseDirectory(r, f, "endpointsDir", c.endpointsDir);
  if (const YamlNode* v = Reader::find(f, "resyncSeconds")) {
    if (auto s = r.integer(*v, "resyncSeconds", 1, kMaxResyncSeconds)) {
      c.resyncSeconds = static_cast<int>(*s);
    }
  }
  parseOneOf(r, f, "logLevel", kLogLevels, "log level", c.logLevel, true);
  parseOneOf(r, f, "rpFilter", kRpFilterModes, "mode", c.rpFilter);
}

// ---- OVL_* environment variables ----

constexpr std::string_view kEnvPrefix = "OVL_";

const EnvironmentVariable* findVariable(std::string_view name) {
  for (const auto& v : agentEnvironmentVariables()) {
    if (name == v.name) {
      return &v;
    }
  }
  return nullptr;
}

// "a, b" -> a YAML sequence of "a" and "b" (empty items kept, so that the parser names them).
uint32_t listNode(YamlTree& tree, const std::string& text) {
  const uint32_t seq = tree.add(YamlKind::kSequence, {});
  if (text.empty()) {
    return seq;
  }
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? comma : comma - start);
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    tree.append(seq, tree.add(YamlKind::kScalar, {},
                              first == std::string::npos ? std::string()
                                                         : item.substr(first, last - first + 1)));
    if (comma == std::string::npos) {
      return seq;
    }
    start = comma + 1;
  }
}

// Puts one variable's value into the document at its field. The value is always a string (or,
// for etcd.endpoints, a list of strings): the parser checks it as it checks the file's. Where the
// document has something other than a map at the field's parent, it is left alone and the
// parser reports the file's problem.
void setField(YamlTree& tree, const EnvironmentVariable& v, const std::string& value) {
  std::string_view field = v.field;
  const uint32_t root = tree.root().index();
  if (!field.starts_with("etcd.")) {
    tree.set(root, field, tree.add(YamlKind::kScalar, {}, value));
    return;
  }
  field.remove_prefix(5);
  if (!tree.root()["etcd"] || tree.root()["etcd"].isNull()) {
    tree.set(root, "etcd", tree.add(YamlKind::kMap, {}));
  }
  const YamlNode etcd = tree.root()["etcd"];
  if (!etcd.isMap()) {
    return;
  }
  tree.set(etcd.index(), field,
           field == "endpoints" ? listNode(tree, value) : tree.add(YamlKind::kScalar, {}, value));
}

// The document with the environment's overrides; `given` collects field -> variable name.
// Unknown OVL_* variables are warned about.
void applyEnvironment(YamlTree& tree, const Environment& env, AgentConfigResult& out,
                      std::map<std::string, std::string>& given) {
  for (const auto& [name, value] : env) {
    if (!name.starts_with(kEnvPrefix)) {
      continue;
    }
    const EnvironmentVariable* v = findVariable(name);
    if (v == nullptr) {
      out.warnings.push_back(
          fmt::format("{} is not an agent.yaml setting; ignored (see ovl-agent.yaml(5) for the "
                      "OVL_* variables)",
                      clipValue(name)));
      continue;
    }
    if (tree.root().isNull()) {
      tree.setRoot(tree.add(YamlKind::kMap, {}));
    }
    if (!tree.root().isMap()) {
      return;  // the parser reports the file's problem
    }
    setField(tree, *v, value);
    given[v->field] = name;
  }
}

// An issue about a field the environment set is the variable's, not the file's.
void blameEnvironment(std::vector<ConfigIssue>& issues,
                      const std::map<std::string, std::string>& given) {
  for (auto& i : issues) {
    for (const auto& [field, name] : given) {
      if (i.field == field || i.field.starts_with(field + "[")) {
        i.mark = SourceMark{name + " (environment)"};
      }
    }
  }
}

}  // namespace

const std::vector<EnvironmentVariable>& agentEnvironmentVariables() {
  static const std::vector<EnvironmentVariable> kVariables = {
      {"OVL_NODE_NAME", "nodeName"},           {"OVL_DATASTORE", "datastore"},
      {"OVL_CLUSTER_FILE", "clusterFile"},     {"OVL_UNDERLAY_INTERFACE", "underlayInterface"},
      {"OVL_UNDERLAY_IP", "underlayIP"},       {"OVL_VTEP_NAME", "vtepName"},
      {"OVL_BRIDGE_NAME", "bridgeName"},       {"OVL_HEALTH_ADDRESS", "healthAddress"},
      {"OVL_STATE_DIR", "stateDir"},           {"OVL_ENDPOINTS_DIR", "endpointsDir"},
      {"OVL_RESYNC_SECONDS", "resyncSeconds"}, {"OVL_LOG_LEVEL", "logLevel"},
      {"OVL_RP_FILTER", "rpFilter"},           {"OVL_ETCD_ENDPOINTS", "etcd.endpoints"},
      {"OVL_ETCD_PREFIX", "etcd.prefix"},      {"OVL_ETCD_CA_FILE", "etcd.caFile"},
      {"OVL_ETCD_CERT_FILE", "etcd.certFile"}, {"OVL_ETCD_KEY_FILE", "etcd.keyFile"},
      {"OVL_ETCD_LEASE_TTL", "etcd.leaseTTL"}, {"OVL_ETCD_POD_SUBNET", "etcd.podSubnet"},
  };
  return kVariables;
}

Environment ovlEnvironment(const char* const* envp) {
  Environment env;
  for (; envp != nullptr && *envp != nullptr; ++envp) {
    const std::string_view entry(*envp);
    const auto eq = entry.find('=');
    if (entry.starts_with(kEnvPrefix) && eq != std::string_view::npos) {
      env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
  }
  return env;
}

AgentConfigResult parseAgentConfig(const std::string& yamlText, const std::string& fileName,
                                   const Environment& env) {
  AgentConfigResult out;
  out.config.path = fileName;
  Reader r(fileName, out.issues);
  std::map<std::string, std::string> given;  // field -> the variable that set it
  if (std::shared_ptr<YamlTree> tree = r.load(yamlText)) {
    applyEnvironment(*tree, env, out, given);
    parseAgent(r, tree->root(), out.config);
  }
  blameEnvironment(out.issues, given);
  sortByPosition(out.issues);
  return out;
}

AgentConfigResult loadAgentConfig(const std::string& path, const Environment& env) {
  auto text = readConfigFile(path);
  if (!text) {
    AgentConfigResult out;
    out.config.path = path;
    out.issues.push_back(ConfigIssue{SourceMark{path}, "", text.error().message});
    return out;
  }
  return parseAgentConfig(*text, path, env);
}

}  // namespace ovl
