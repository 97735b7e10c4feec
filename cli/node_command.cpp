#include "cli/node_command.h"

#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/etcd_options.h"
#include "cli/output.h"
#include "model/config.h"

namespace ovl::cli {

namespace {

struct NodeOptions {
  EtcdOptions etcd;
  std::string format;
};

// The node records and subnet claims, vetted as the agents vet them (model/node_identity.h), so
// that an impostor record is listed as skipped, not in the rightful node's place.
void addVettedNodes(ClusterDocuments& docs, const EtcdKeys& keys,
                    const std::vector<etcd::KeyValue>& nodes,
                    const std::vector<etcd::KeyValue>& claims) {
  docs.vetNodeRecords();
  for (const auto& kv : claims) {
    if (auto subnet = keys.subnetOf(kv.key)) {
      docs.setSubnetClaim(*subnet, SubnetClaim{kv.key, kv.value, kv.lease});
    }
  }
  for (const auto& kv : nodes) {
    docs.setNode(
        kv.key, kv.value,
        NodeOrigin{kv.key.substr(keys.nodes().size()), kv.lease, kv.createRevision, false});
  }
}

int list(const NodeOptions& o) {
  auto conn = connectEtcd(o.etcd);
  if (!conn) {
    return reportError(conn.error());
  }
  auto config = conn->client->range(conn->keys.config());
  auto nodes = config ? conn->client->rangePrefix(conn->keys.nodes()) : config;
  auto claims = nodes ? conn->client->rangePrefix(conn->keys.subnets()) : nodes;
  if (!claims) {
    std::fprintf(stderr, "%s\n", claims.error().message.c_str());
    return kExitFailure;
  }
  // Checked as the agents check them (against the network settings, when stored).
  ClusterDocuments docs(conn->keys.config());
  if (!config->kvs.empty()) {
    docs.setNetwork(conn->keys.config(), config->kvs[0].value);
  }
  addVettedNodes(docs, conn->keys, nodes->kvs, claims->kvs);
  std::map<std::string, const etcd::KeyValue*> byKey;
  for (const auto& kv : nodes->kvs) {
    byKey[kv.key] = &kv;
  }
  ClusterLoad load = docs.build();
  std::vector<ConfigIssue> skipped;
  for (const auto& i : load.issues) {
    if (i.field != "network") {  // no stored network settings: the nodes are listed anyway
      skipped.push_back(i);
    }
  }
  printIssues(skipped, "warning: skipped: ");
  nlohmann::ordered_json records = nlohmann::ordered_json::array();
  for (const auto& n : load.cluster.nodes) {
    auto it = byKey.find(conn->keys.node(n.name));
    if (it == byKey.end()) {
      std::fprintf(stderr, "warning: skipped: node '%s' is stored under another key\n",
                   n.name.c_str());
      continue;
    }
    const etcd::KeyValue& kv = *it->second;
    nlohmann::ordered_json ttl = nullptr;  // no lease: the record does not expire
    if (kv.lease != 0) {
      auto t = conn->client->leaseTimeToLive(kv.lease);
      if (!t) {
        std::fprintf(stderr, "%s\n", t.error().message.c_str());
        return kExitFailure;
      }
      ttl = std::max<int64_t>(t->ttl, 0);
    }
    records.push_back(nlohmann::ordered_json{{"name", n.name},
                                             {"podSubnet", n.podSubnet.toString()},
                                             {"underlayIP", n.underlayIp.toString()},
                                             {"vtepMAC", n.effectiveVtepMac().toString()},
                                             {"leaseTTL", ttl},
                                             {"ready", nodeRecordReady(kv.value)}});
  }
  printRecords(
      records,
      {{"NAME", [](const auto& r) { return r["name"].template get<std::string>(); }},
       {"POD-SUBNET", [](const auto& r) { return r["podSubnet"].template get<std::string>(); }},
       {"UNDERLAY-IP", [](const auto& r) { return r["underlayIP"].template get<std::string>(); }},
       {"LEASE-TTL",
        [](const auto& r) {
          return r["leaseTTL"].is_null() ? std::string("-") : r["leaseTTL"].dump() + "s";
        }},
       {"READY",
        [](const auto& r) {
          return std::string(r["ready"].template get<bool>() ? "true" : "false");
        }}},
      o.format);
  return 0;
}

}  // namespace

void addNodeCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = addEtcdGroup(app, "node", "the nodes registered in etcd");
  auto o = std::make_shared<NodeOptions>();
  addEtcdCommand(*cmd, "list",
                 "list the nodes: pod subnet, underlay IP, seconds left on the lease, readiness", g,
                 o->etcd, &o->format, [o] { return list(*o); });
}

}  // namespace ovl::cli
