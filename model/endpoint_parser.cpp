#include "model/endpoint_parser.h"

#include <fmt/format.h>

#include <optional>
#include <string_view>

#include "model/validators.h"

namespace ovl {

namespace {

constexpr std::string_view kEndpointFields[] = {"ip",          "node",   "ready", "serving",
                                                "terminating", "weight", "ports"};
constexpr int64_t kMaxWeight = UINT32_MAX;

// An endpoint's `ports`: per service-port name, the port on this endpoint.
void parsePortOverrides(Reader& r, const YamlNode& v, const std::string& path,
                        const PortNames& portNames, svc::Endpoint& ep) {
  if (!v.isMap()) {
    r.issue(
        v, path + ".ports",
        fmt::format("expected a map of port name to port ({{http: 8080}}); got {}", describe(v)));
    return;
  }
  for (const YamlPair& kv : v.pairs()) {
    if (!kv.first.isScalar()) {
      r.issue(kv.first, path + ".ports",
              fmt::format("expected port names as keys; got {}", describe(kv.first)));
      continue;
    }
    const std::string portName(kv.first.scalar());
    const std::string field = fmt::format("{}.ports.{}", path, clipValue(portName));
    if (!portNames.contains(portName)) {
      std::string known;
      for (const auto& [n, unused] : portNames) {
        known += (known.empty() ? "" : ", ") + n;
      }
      r.issue(kv.first, field,
              fmt::format(
                  "no port named {} in this service; expected {}", quoteValue(portName),
                  known.empty() ? "no overrides (its ports have no names)" : "one of " + known));
      continue;
    }
    if (ep.ports.contains(portName)) {
      r.issue(kv.first, field, fmt::format("port {} is given twice", quoteValue(portName)));
      continue;
    }
    if (auto port = r.integer(kv.second, field, 1, kMaxPort)) {
      ep.ports.emplace(portName, static_cast<uint16_t>(*port));
    }
  }
}

// ready, serving and terminating: whether the endpoint takes new connections.
void parseConditions(Reader& r, const Fields& f, const std::string& path, svc::Endpoint& ep) {
  if (const YamlNode* v = Reader::find(f, "ready")) {
    ep.ready = r.boolean(*v, path + ".ready").value_or(true);
  }
  ep.serving = ep.ready;
  if (const YamlNode* v = Reader::find(f, "serving")) {
    ep.serving = r.boolean(*v, path + ".serving").value_or(ep.ready);
  }
  if (const YamlNode* v = Reader::find(f, "terminating")) {
    ep.terminating = r.boolean(*v, path + ".terminating").value_or(false);
  }
}

std::optional<svc::Endpoint> parseEndpoint(Reader& r, const YamlNode& entry,
                                           const std::string& path, const PortNames& portNames) {
  const size_t issuesBefore = r.issueCount();
  if (!entry.isMap()) {
    r.issue(entry, path,
            fmt::format("expected a map with fields {}; got {}", joinNames(kEndpointFields),
                        describe(entry)));
    return std::nullopt;
  }
  Fields f = r.fields(entry, path, kEndpointFields);
  svc::Endpoint ep;

  if (const YamlNode* v =
          r.require(f, entry, path, "ip", "the endpoint's IPv4 address, such as 10.244.1.11")) {
    if (auto ip = r.ipv4(*v, path + ".ip")) {
      ep.ip = *ip;
      if (const char* why = specialAddress(*ip)) {
        r.issue(
            *v, path + ".ip",
            fmt::format("endpoint {} is {}; expected a pod or host address", ip->toString(), why));
      }
    }
  }
  if (const YamlNode* v = Reader::find(f, "node")) {
    if (auto node = r.nodeName(*v, path + ".node")) {
      ep.node = *node;
    }
  }
  parseConditions(r, f, path, ep);
  if (const YamlNode* v = Reader::find(f, "weight")) {
    if (auto w = r.integer(*v, path + ".weight", 0, kMaxWeight)) {
      ep.weight = static_cast<uint32_t>(*w);
    }
  }
  if (const YamlNode* v = Reader::find(f, "ports")) {
    parsePortOverrides(r, *v, path, portNames, ep);
  }
  if (r.issueCount() != issuesBefore) {
    return std::nullopt;
  }
  return ep;
}

}  // namespace

void parseEndpoints(Reader& r, const YamlNode& list, const std::string& path,
                    const PortNames& portNames, std::vector<svc::Endpoint>& out) {
  if (!list.isSequence()) {
    r.issue(list, path + ".endpoints",
            fmt::format("expected a sequence of endpoints (- ip: 10.244.1.11); got {}",
                        describe(list)));
    return;
  }
  std::map<uint32_t, std::string> endpointIps;  // ip -> the endpoint that gave it first
  size_t i = 0;
  for (const YamlNode& item : list) {
    const std::string epPath = fmt::format("{}.endpoints[{}]", path, i++);
    if (auto ep = parseEndpoint(r, item, epPath, portNames)) {
      auto [it, inserted] = endpointIps.try_emplace(ep->ip.value, epPath);
      if (!inserted) {
        r.issue(item["ip"], epPath + ".ip",
                fmt::format("endpoint {} is already listed as {}; expected each endpoint "
                            "once (use weight for a larger share)",
                            ep->ip.toString(), it->second));
      } else {
        out.push_back(std::move(*ep));
      }
    }
  }
}

}  // namespace ovl
