#include "datastore/etcd_keys.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <vector>

namespace ovl {

std::string EtcdKeys::subnet(const Ipv4Prefix& p) const {
  return fmt::format("{}{}-{}", subnets(), p.addr.toString(), p.len);
}

EtcdKeys::Kind EtcdKeys::kindOf(const std::string& key) const {
  if (key == config()) {
    return Kind::kConfig;
  }
  auto under = [&](const std::string& dir) {
    return key.size() > dir.size() && key.compare(0, dir.size(), dir) == 0;
  };
  if (under(nodes())) {
    return Kind::kNode;
  }
  if (under(subnets())) {
    return Kind::kSubnet;
  }
  if (under(services())) {
    return Kind::kService;
  }
  return Kind::kOther;
}

std::optional<Ipv4Prefix> EtcdKeys::subnetOf(const std::string& key) const {
  if (kindOf(key) != Kind::kSubnet) {
    return std::nullopt;
  }
  std::string text = key.substr(subnets().size());
  auto dash = text.rfind('-');
  if (dash == std::string::npos) {
    return std::nullopt;
  }
  text[dash] = '/';
  auto p = Ipv4Prefix::parse(text);
  if (!p || !p->isNetworkAddress()) {
    return std::nullopt;
  }
  return p;
}

std::string encodeNodeRecord(const std::string& name, Ipv4 underlayIp, const Ipv4Prefix& subnet,
                             bool ready) {
  nlohmann::ordered_json j{{"name", name},
                           {"underlayIP", underlayIp.toString()},
                           {"podSubnet", subnet.toString()},
                           {"ready", ready}};
  return j.dump();
}

bool nodeRecordReady(const std::string& value) {
  auto j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("ready") || !j["ready"].is_boolean()) {
    return false;
  }
  return j["ready"].get<bool>();
}

namespace {

// A string field of a JSON object, or a description of what is there instead.
std::string fieldText(const nlohmann::json& j, const char* field) {
  if (!j.is_object() || !j.contains(field)) {
    return "(none)";
  }
  const auto& v = j[field];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

std::string nodeRecordDrift(const std::string& value, int64_t lease, const std::string& name,
                            Ipv4 underlayIp, const Ipv4Prefix& subnet, int64_t ownLease) {
  auto j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return "not a JSON object (this node writes {\"name\",\"underlayIP\",\"podSubnet\",\"ready\"})";
  }
  std::vector<std::string> diffs;
  auto compare = [&](const char* field, const std::string& own) {
    const std::string found = fieldText(j, field);
    if (found != own) {
      // Quoted only in part: the value is someone else's and may be long.
      diffs.push_back(fmt::format("{} {} (this node's: {})", field, found.substr(0, 64), own));
    }
  };
  compare("name", name);
  compare("underlayIP", underlayIp.toString());
  compare("podSubnet", subnet.toString());
  if (lease != ownLease) {
    diffs.push_back(fmt::format("bound to lease {:x} (this node's: {:x})", lease, ownLease));
  }
  std::string out;
  for (const auto& d : diffs) {
    out += (out.empty() ? "" : ", ") + d;
  }
  return out;
}

std::string subnetClaimDrift(const std::string& value, int64_t lease, const std::string& name,
                             int64_t ownLease) {
  std::string out;
  if (value != name) {
    out = fmt::format("names node '{}' (this node: '{}')", value.substr(0, 64), name);
  }
  if (lease != ownLease) {
    out += fmt::format("{}bound to lease {:x} (this node's: {:x})", out.empty() ? "" : ", ", lease,
                       ownLease);
  }
  return out;
}

uint64_t subnetCount(const NetworkConfig& network) {
  if (network.subnetLength <= network.podCidr.len || network.subnetLength > 32) {
    return 0;
  }
  return uint64_t{1} << (network.subnetLength - network.podCidr.len);
}

std::optional<Ipv4Prefix> chooseSubnet(const NetworkConfig& network,
                                       const std::set<Ipv4Prefix>& taken,
                                       const std::optional<Ipv4Prefix>& preferred, uint64_t seed) {
  const uint64_t count = subnetCount(network);
  if (count == 0) {
    return std::nullopt;
  }
  if (preferred && preferred->len == network.subnetLength && preferred->isNetworkAddress() &&
      network.podCidr.contains(*preferred) && !taken.contains(*preferred)) {
    return preferred;
  }
  const uint32_t base = network.podCidr.network().value;
  const uint32_t step = uint32_t{1} << (32 - network.subnetLength);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t index = (seed + i) % count;
    Ipv4Prefix p{Ipv4{base + static_cast<uint32_t>(index) * step}, network.subnetLength};
    if (!taken.contains(p)) {
      return p;
    }
  }
  return std::nullopt;
}

}  // namespace ovl
