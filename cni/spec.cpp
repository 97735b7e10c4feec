#include "cni/spec.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/json_bounds.h"
#include "common/local_state.h"

namespace ovl::cni {

using nlohmann::json;

namespace {

CniError err(Code code, std::string msg, std::string details = "") {
  return CniError{code, std::move(msg), std::move(details)};
}

// At most this much of a bad value is quoted in a message: a megabyte of JSON must not come back
// whole on stdout (nor in the runtime's log).
constexpr size_t kQuoteMax = 64;

std::string shortText(const std::string& s) {
  if (s.size() <= kQuoteMax) {
    return s;
  }
  return fmt::format("{}... ({} bytes)", s.substr(0, kQuoteMax), s.size());
}

// The value as JSON, shortened. Only called on documents whose depth was checked (dump recurses).
std::string shortDump(const json& j) {
  return shortText(j.dump());
}

std::optional<CniError> invalidConfig(const std::string& field, const std::string& expected,
                                      const json& got) {
  return err(Code::kInvalidConfig, fmt::format("network config: {}: expected {}, got {}", field,
                                               expected, shortDump(got)));
}

// A string field; nullopt when absent; sets *error when present but not a string.
std::optional<std::string> optString(const json& j, const char* key,
                                     std::optional<CniError>* error) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return std::nullopt;
  }
  if (!it->is_string()) {
    *error = invalidConfig(key, "a string", *it);
    return std::nullopt;
  }
  return it->get<std::string>();
}

const json kEmptyArray = json::array();

const json& arrayOr(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : kEmptyArray;
}

bool versionAtLeast110(const std::string& v) {
  return v == "1.1.0";
}

}  // namespace

std::string CniError::toJson(const std::string& cniVersion) const {
  json j = {{"cniVersion", cniVersion}, {"code", static_cast<int>(code)}, {"msg", msg}};
  if (!details.empty()) {
    j["details"] = details;
  }
  // A message may quote the caller's bytes (a JSON parser's "last read"), which need not be
  // UTF-8: replaced (U+FFFD), as dump() would otherwise throw and the error go unwritten.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string checkContainerId(const std::string& id) {
  if (id.empty()) {
    return "is empty";
  }
  if (id.size() > kMaxContainerIdLength) {
    return fmt::format("'{}...' ({} characters) is longer than {} characters", id.substr(0, 32),
                       id.size(), kMaxContainerIdLength);
  }
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(id.front())) {
    return fmt::format("'{}' must start with a letter or digit", id);
  }
  for (char c : id) {
    if (!alnum(c) && c != '_' && c != '.' && c != '-') {
      return fmt::format("'{}' may only hold letters, digits, '_', '.' and '-'", id);
    }
  }
  return "";
}

std::string checkNetworkName(const std::string& name) {
  return checkContainerId(name);
}

std::string checkIfname(const std::string& ifname) {
  if (ifname.empty()) {
    return "is empty";
  }
  if (ifname.size() > 15) {
    return fmt::format("'{}' is longer than 15 characters", ifname);
  }
  if (ifname == "." || ifname == "..") {
    return fmt::format("'{}' is not a valid interface name", ifname);
  }
  for (char c : ifname) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0') {
      return fmt::format("'{}' must not hold '/', ':' or white space", ifname);
    }
  }
  return "";
}

std::optional<std::map<std::string, std::string>> parseCniArgs(const std::string& args) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= args.size() && !args.empty()) {
    size_t end = args.find(';', pos);
    if (end == std::string::npos) {
      end = args.size();
    }
    std::string kv = args.substr(pos, end - pos);
    if (!kv.empty()) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        return std::nullopt;
      }
      out[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    pos = end + 1;
  }
  return out;
}

std::optional<CniError> parseCall(const Env& env, Call* out) {
  static const std::map<std::string, Command> kCommands = {
      {"ADD", Command::kAdd},         {"DEL", Command::kDel},       {"CHECK", Command::kCheck},
      {"VERSION", Command::kVersion}, {"STATUS", Command::kStatus}, {"GC", Command::kGc}};
  auto it = kCommands.find(env.command);
  if (it == kCommands.end()) {
    return err(Code::kInvalidEnvironment,
               fmt::format("CNI_COMMAND '{}' is not one of ADD, DEL, CHECK, VERSION, STATUS, GC",
                           shortText(env.command)));
  }
  Call c;
  c.command = it->second;
  const bool perContainer =
      c.command == Command::kAdd || c.command == Command::kDel || c.command == Command::kCheck;
  if (perContainer) {
    if (auto why = checkContainerId(env.containerId); !why.empty()) {
      return err(Code::kInvalidEnvironment, "CNI_CONTAINERID " + why);
    }
    if (auto why = checkIfname(env.ifname); !why.empty()) {
      return err(Code::kInvalidEnvironment, "CNI_IFNAME " + why);
    }
    if (c.command != Command::kDel && env.netns.empty()) {
      return err(Code::kInvalidEnvironment,
                 "CNI_NETNS is empty; expected the path of the "
                 "container's network namespace");
    }
    if (!env.netns.empty() && env.netns.front() != '/') {
      return err(Code::kInvalidEnvironment,
                 fmt::format("CNI_NETNS '{}' is not an absolute path", shortText(env.netns)));
    }
    c.containerId = env.containerId;
    c.ifname = env.ifname;
    c.netns = env.netns;
  }
  auto args = parseCniArgs(env.args);
  if (!args) {
    return err(Code::kInvalidEnvironment,
               fmt::format("CNI_ARGS '{}': expected KEY=VALUE pairs separated by ';'",
                           shortText(env.args)));
  }
  c.args = std::move(*args);
  *out = std::move(c);
  return std::nullopt;
}

namespace {

// cniVersion, name and type.
std::optional<CniError> parseIdentity(const json& j, NetConf& c) {
  std::optional<CniError> e;
  auto version = optString(j, "cniVersion", &e);
  if (e) {
    return e;
  }
  if (!version) {
    return err(Code::kInvalidConfig, "network config: cniVersion is missing");
  }
  if (std::find(kSupportedVersions.begin(), kSupportedVersions.end(), *version) ==
      kSupportedVersions.end()) {
    return err(Code::kIncompatibleVersion,
               fmt::format("network config: cniVersion {} is not supported; ovl-cni speaks {}",
                           *version, fmt::join(kSupportedVersions, ", ")));
  }
  c.cniVersion = *version;
  auto name = optString(j, "name", &e);
  if (e) {
    return e;
  }
  if (!name) {
    return err(Code::kInvalidConfig, "network config: name is missing");
  }
  if (auto why = checkNetworkName(*name); !why.empty()) {
    return err(Code::kInvalidConfig, "network config: name " + why);
  }
  c.name = *name;
  auto type = optString(j, "type", &e);
  if (e) {
    return e;
  }
  c.type = type.value_or("");
  return std::nullopt;
}

// ovl-cni's own fields: nodeState, dataDir and runtimeConfig.ovlService.
std::optional<CniError> parseOwnFields(const json& j, NetConf& c) {
  std::optional<CniError> e;
  for (auto [key, field] : {std::pair{"nodeState", &c.nodeState}, {"dataDir", &c.dataDir}}) {
    auto v = optString(j, key, &e);
    if (e) {
      return e;
    }
    if (v) {
      if (v->empty() || v->front() != '/') {
        return invalidConfig(key, "an absolute path", *j.find(key));
      }
      *field = *v;
    }
  }
  if (auto rc = j.find("runtimeConfig"); rc != j.end() && rc->is_object()) {
    auto svc = optString(*rc, "ovlService", &e);
    if (e) {
      e->msg = "network config: runtimeConfig." + e->msg.substr(e->msg.find(':') + 2);
      return e;
    }
    if (svc) {
      if (auto why = checkServiceName(*svc); !why.empty()) {
        return err(Code::kInvalidConfig, "network config: runtimeConfig.ovlService " + why);
      }
      c.service = *svc;
    }
  }
  return std::nullopt;
}

// What the runtime adds: prevResult (chained plugins) and cni.dev/valid-attachments (GC).
std::optional<CniError> parseRuntimeFields(const json& j, NetConf& c) {
  if (auto pr = j.find("prevResult"); pr != j.end() && !pr->is_null()) {
    if (!pr->is_object()) {
      return invalidConfig("prevResult", "an object", *pr);
    }
    c.prevResult = *pr;
  }
  if (auto va = j.find("cni.dev/valid-attachments"); va != j.end() && !va->is_null()) {
    if (!va->is_array()) {
      return invalidConfig("cni.dev/valid-attachments", "an array", *va);
    }
    std::set<std::pair<std::string, std::string>> valid;
    for (const auto& a : *va) {
      if (!a.is_object() || !a.contains("containerID") || !a["containerID"].is_string() ||
          !a.contains("ifname") || !a["ifname"].is_string()) {
        return invalidConfig("cni.dev/valid-attachments[]",
                             "objects with string fields containerID and ifname", a);
      }
      valid.emplace(a["containerID"].get<std::string>(), a["ifname"].get<std::string>());
    }
    c.validAttachments = std::move(valid);
  }
  return std::nullopt;
}

}  // namespace

std::optional<CniError> parseNetConf(const std::string& stdinText, NetConf* out) {
  // Before the parse: nlohmann's parser is iterative, but dump, copy and comparison recurse, so
  // a document 100,000 levels deep would overflow the stack in the first error message.
  if (auto depth = checkJsonDepth(stdinText); depth.exceeded) {
    return err(Code::kInvalidConfig,
               fmt::format("network config: {} nests arrays and objects deeper than {} levels; "
                           "ovl-cni accepts at most {}",
                           depth.member.empty() ? "the document" : depth.member, kMaxJsonDepth,
                           kMaxJsonDepth));
  }
  json j = json::parse(stdinText, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return err(Code::kDecode, "network config on stdin is not valid JSON");
  }
  if (!j.is_object()) {
    return err(Code::kDecode, "network config on stdin is not a JSON object");
  }
  NetConf c;
  for (auto step : {parseIdentity, parseOwnFields, parseRuntimeFields}) {
    if (auto e = step(j, c)) {
      return e;
    }
  }
  *out = std::move(c);
  return std::nullopt;
}

std::string versionForError(const std::string& stdinText) {
  // The streaming scan, not a parse: it stops at the depth limit and builds no tree.
  auto scan = checkJsonDepth(stdinText);
  if (auto it = scan.topStrings.find("cniVersion"); it != scan.topStrings.end()) {
    return it->second;
  }
  return kSupportedVersions.back();
}

std::optional<std::string> serviceLabel(const NetConf& conf, const Call& call,
                                        const std::optional<std::string>& fallback) {
  if (conf.service) {
    return conf.service;
  }
  if (auto it = call.args.find("OVL_SERVICE"); it != call.args.end() && !it->second.empty()) {
    return it->second;
  }
  if (fallback && !fallback->empty()) {
    return fallback;
  }
  return std::nullopt;
}

json encodeResult(const CniResult& r, const std::string& cniVersion,
                  const std::optional<json>& prevResult) {
  json out = json::object();
  json interfaces = json::array();
  json ips = json::array();
  json routes = json::array();
  if (prevResult) {
    interfaces = arrayOr(*prevResult, "interfaces");
    ips = arrayOr(*prevResult, "ips");
    routes = arrayOr(*prevResult, "routes");
    if (auto dns = prevResult->find("dns"); dns != prevResult->end()) {
      out["dns"] = *dns;
    }
  }
  const int offset = static_cast<int>(interfaces.size());
  for (const auto& i : r.interfaces) {
    json ji = {{"name", i.name}, {"mac", i.mac}};
    if (versionAtLeast110(cniVersion) && i.mtu != 0) {
      ji["mtu"] = i.mtu;
    }
    if (!i.sandbox.empty()) {
      ji["sandbox"] = i.sandbox;
    }
    interfaces.push_back(std::move(ji));
  }
  for (const auto& ip : r.ips) {
    json jip = {{"address", ip.address.toString()}};
    if (ip.gateway) {
      jip["gateway"] = ip.gateway->toString();
    }
    if (ip.interface) {
      jip["interface"] = *ip.interface + offset;
    }
    ips.push_back(std::move(jip));
  }
  for (const auto& rt : r.routes) {
    json jr = {{"dst", rt.dst.toString()}};
    if (rt.gw) {
      jr["gw"] = rt.gw->toString();
    }
    routes.push_back(std::move(jr));
  }
  out["cniVersion"] = cniVersion;
  out["interfaces"] = std::move(interfaces);
  out["ips"] = std::move(ips);
  out["routes"] = std::move(routes);
  if (!out.contains("dns")) {
    out["dns"] = json::object();
  }
  return out;
}

std::optional<CniError> parseResult(const json& j, ParsedResult* out) {
  ParsedResult r;
  auto bad = [](const std::string& field, const json& got) {
    return err(Code::kInvalidConfig,
               fmt::format("prevResult: {} is not valid: {}", field, shortDump(got)));
  };
  for (const auto& i : arrayOr(j, "interfaces")) {
    if (!i.is_object() || !i.contains("name") || !i["name"].is_string()) {
      return bad("interfaces[]", i);
    }
    Interface itf;
    itf.name = i["name"].get<std::string>();
    if (i.contains("mac") && i["mac"].is_string()) {
      itf.mac = i["mac"].get<std::string>();
    }
    if (i.contains("sandbox") && i["sandbox"].is_string()) {
      itf.sandbox = i["sandbox"].get<std::string>();
    }
    if (i.contains("mtu") && i["mtu"].is_number_unsigned()) {
      itf.mtu = i["mtu"].get<uint32_t>();
    }
    r.interfaces.push_back(std::move(itf));
  }
  for (const auto& ip : arrayOr(j, "ips")) {
    if (!ip.is_object() || !ip.contains("address") || !ip["address"].is_string()) {
      return bad("ips[]", ip);
    }
    auto addr = Ipv4Prefix::parse(ip["address"].get<std::string>());
    if (!addr) {
      // Another plugin's IPv6 address, say: not ovl's to check.
      continue;
    }
    IpConfig c{*addr, std::nullopt, std::nullopt};
    if (ip.contains("gateway") && ip["gateway"].is_string()) {
      c.gateway = Ipv4::parse(ip["gateway"].get<std::string>());
    }
    if (ip.contains("interface")) {
      if (!ip["interface"].is_number_integer() || ip["interface"].get<int>() < 0 ||
          ip["interface"].get<size_t>() >= r.interfaces.size()) {
        return bad("ips[].interface", ip);
      }
      c.interface = ip["interface"].get<int>();
    }
    r.ips.push_back(c);
  }
  for (const auto& rt : arrayOr(j, "routes")) {
    if (!rt.is_object() || !rt.contains("dst") || !rt["dst"].is_string()) {
      return bad("routes[]", rt);
    }
    auto dst = Ipv4Prefix::parse(rt["dst"].get<std::string>());
    if (!dst) {
      continue;
    }
    RouteConfig c{*dst, std::nullopt};
    if (rt.contains("gw") && rt["gw"].is_string()) {
      c.gw = Ipv4::parse(rt["gw"].get<std::string>());
    }
    r.routes.push_back(c);
  }
  *out = std::move(r);
  return std::nullopt;
}

std::string versionJson(const std::string& cniVersion) {
  json j = {{"cniVersion", cniVersion}, {"supportedVersions", kSupportedVersions}};
  return j.dump();
}

}  // namespace ovl::cni
