// The etcd datastore's pure parts: agent.yaml's etcd section, the key layout, the subnet choice,
// and a cluster assembled from separately stored documents (bad ones named by key and skipped).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "datastore/etcd_keys.h"
#include "model/config.h"
#include "tests/unit/model/config_issues.h"

namespace ovl {
namespace {

using test::dump;
using test::hasIssue;

constexpr const char* kAgentFile = "/etc/ovl/agent.yaml";

TEST(EtcdAgentConfig, ReadsTheEtcdSection) {
  auto r = parseAgentConfig(
      "nodeName: n1\n"
      "datastore: etcd\n"
      "underlayIP: 192.168.50.1\n"
      "etcd:\n"
      "  endpoints: [127.0.0.1:2379, 'https://10.0.0.2:2379']\n"
      "  prefix: /cluster-a\n"
      "  caFile: pki/ca.pem\n"
      "  certFile: /pki/n1.pem\n"
      "  keyFile: /pki/n1-key.pem\n"
      "  leaseTTL: 6\n",
      kAgentFile);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  const AgentConfig& c = r.config;
  EXPECT_EQ(c.datastore, "etcd");
  ASSERT_TRUE(c.underlayIp);
  EXPECT_EQ(c.underlayIp->toString(), "192.168.50.1");
  EXPECT_EQ(c.etcd.endpoints, (std::vector<std::string>{"127.0.0.1:2379", "10.0.0.2:2379"}));
  EXPECT_EQ(c.etcd.prefix, "/cluster-a");
  EXPECT_EQ(c.etcd.caFile, "/etc/ovl/pki/ca.pem");  // relative to agent.yaml
  EXPECT_EQ(c.etcd.certFile, "/pki/n1.pem");
  EXPECT_EQ(c.etcd.leaseTtlSeconds, 6);
}

TEST(EtcdAgentConfig, ExampleFileIsValid) {
  const auto path = std::filesystem::path(OVL_SOURCE_DIR) / "examples/agent-etcd.yaml";
  auto r = loadAgentConfig(path.string());
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.datastore, "etcd");
  EXPECT_EQ(r.config.etcd.endpoints.size(), 3u);
  EXPECT_EQ(r.config.etcd.leaseTtlSeconds, 10);
}

TEST(ClusterDocuments, DemoNetworkDocumentIsValid) {
  const auto path = std::filesystem::path(OVL_SOURCE_DIR) / "examples/demo/network.yaml";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  ClusterDocuments docs("/ovl/config");
  docs.setNetwork("/ovl/config", text.str());
  ClusterLoad load = docs.build();
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_EQ(load.cluster.network.serviceCidr, Ipv4Prefix::parse("10.96.0.0/12"));
}

TEST(EtcdAgentConfig, DefaultsAndRequiredFields) {
  auto r = parseAgentConfig("nodeName: n1\ndatastore: etcd\n", kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "etcd", 1, {"missing required field 'etcd'"}));
  EXPECT_TRUE(hasIssue(r.issues, "underlayIP", 1, {"missing required field 'underlayIP'"}));
  EXPECT_EQ(r.issues.size(), 2u) << dump(r.issues);  // no clusterFile with etcd

  r = parseAgentConfig(
      "nodeName: n1\ndatastore: etcd\nunderlayIP: 10.0.0.1\netcd: {endpoints: [e:2379]}\n",
      kAgentFile);
  ASSERT_TRUE(r.issues.empty()) << dump(r.issues);
  EXPECT_EQ(r.config.etcd.prefix, EtcdConfig::kDefaultPrefix);
  EXPECT_EQ(r.config.etcd.leaseTtlSeconds, EtcdConfig::kDefaultLeaseTtlSeconds);
}

TEST(EtcdAgentConfig, BadValuesNameTheFieldAndWhatWasExpected) {
  auto r = parseAgentConfig(
      "nodeName: n1\n"
      "datastore: etcd\n"
      "underlayIP: 127.0.0.1\n"
      "etcd:\n"
      "  endpoints: [127.0.0.1, 'h:99999']\n"
      "  prefix: ovl/\n"
      "  certFile: c.pem\n"
      "  leaseTTL: 1\n"
      "  tls: yes\n",
      kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "underlayIP", 3, {"loopback", "unicast"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.endpoints[0]", 5, {"'127.0.0.1'", "host:port"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.endpoints[1]", 5, {"'h:99999'"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.prefix", 6, {"'ovl/'", "starting with '/'"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.leaseTTL", 8, {"2..3600"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.tls", 9, {"unknown field 'tls'"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd", 5, {"certFile and keyFile go together"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd.caFile", 5, {"no caFile"}));
}

TEST(EtcdAgentConfig, EtcdFieldsWithTheFileDatastoreAreReported) {
  auto r = parseAgentConfig(
      "nodeName: n1\nclusterFile: c.yaml\nunderlayIP: 10.0.0.1\netcd: {endpoints: [e:1]}\n",
      kAgentFile);
  EXPECT_TRUE(hasIssue(r.issues, "underlayIP", 3, {"only used with datastore etcd"}));
  EXPECT_TRUE(hasIssue(r.issues, "etcd", 4, {"only used with datastore etcd"}));
}

TEST(EtcdKeys, LayoutAndKinds) {
  EtcdKeys k{"/ovl"};
  auto subnet = *Ipv4Prefix::parse("10.244.7.0/24");
  EXPECT_EQ(k.subnet(subnet), "/ovl/subnets/10.244.7.0-24");
  EXPECT_EQ(k.subnetOf("/ovl/subnets/10.244.7.0-24"), subnet);
  EXPECT_FALSE(k.subnetOf("/ovl/subnets/10.244.7.1-24"));  // not a network address
  EXPECT_FALSE(k.subnetOf("/ovl/subnets/garbage"));
  EXPECT_EQ(k.kindOf("/ovl/config"), EtcdKeys::Kind::kConfig);
  EXPECT_EQ(k.kindOf("/ovl/nodes/n1"), EtcdKeys::Kind::kNode);
  EXPECT_EQ(k.kindOf("/ovl/nodes/"), EtcdKeys::Kind::kOther);
  EXPECT_EQ(k.kindOf("/ovl/services/default/web"), EtcdKeys::Kind::kService);
  EXPECT_EQ(k.kindOf("/ovl/configx"), EtcdKeys::Kind::kOther);
  EXPECT_EQ(k.kindOf("/ovlx/nodes/n1"), EtcdKeys::Kind::kOther);
}

TEST(EtcdKeys, NodeRecordCarriesReadiness) {
  const std::string rec = encodeNodeRecord("n1", *Ipv4::parse("192.168.50.1"),
                                           *Ipv4Prefix::parse("10.244.1.0/24"), true);
  EXPECT_EQ(
      rec, R"({"name":"n1","underlayIP":"192.168.50.1","podSubnet":"10.244.1.0/24","ready":true})");
  EXPECT_TRUE(nodeRecordReady(rec));
  EXPECT_FALSE(nodeRecordReady("{\"ready\":\"yes\"}"));
  EXPECT_FALSE(nodeRecordReady("{{{"));
}

NetworkConfig network(const char* cidr, uint8_t len) {
  NetworkConfig n;
  n.podCidr = *Ipv4Prefix::parse(cidr);
  n.subnetLength = len;
  return n;
}

TEST(ChooseSubnet, PreferredFirstThenFreeFromTheSeed) {
  const auto net = network("10.244.0.0/16", 24);
  EXPECT_EQ(subnetCount(net), 256u);
  std::set<Ipv4Prefix> taken{*Ipv4Prefix::parse("10.244.5.0/24")};
  auto preferred = Ipv4Prefix::parse("10.244.9.0/24");
  EXPECT_EQ(chooseSubnet(net, taken, preferred, 3), preferred);
  // Preferred but taken, outside the pod CIDR, or of another length: the scan decides.
  EXPECT_EQ(chooseSubnet(net, taken, Ipv4Prefix::parse("10.244.5.0/24"), 5)->toString(),
            "10.244.6.0/24");
  EXPECT_EQ(chooseSubnet(net, taken, Ipv4Prefix::parse("10.245.9.0/24"), 3)->toString(),
            "10.244.3.0/24");
  EXPECT_EQ(chooseSubnet(net, taken, Ipv4Prefix::parse("10.244.9.0/25"), 3)->toString(),
            "10.244.3.0/24");
  // The scan wraps around.
  EXPECT_EQ(chooseSubnet(net, taken, std::nullopt, 255 + 256 * 7)->toString(), "10.244.255.0/24");
}

TEST(ChooseSubnet, ExhaustedPoolGivesNothing) {
  const auto net = network("10.250.0.0/29", 30);
  ASSERT_EQ(subnetCount(net), 2u);
  std::set<Ipv4Prefix> taken{*Ipv4Prefix::parse("10.250.0.0/30")};
  EXPECT_EQ(chooseSubnet(net, taken, std::nullopt, 0)->toString(), "10.250.0.4/30");
  taken.insert(*Ipv4Prefix::parse("10.250.0.4/30"));
  EXPECT_FALSE(chooseSubnet(net, taken, std::nullopt, 0));
}

constexpr const char* kNetwork = "podCIDR: 10.244.0.0/16\nserviceCIDR: 10.96.0.0/12\n";

TEST(ClusterDocuments, AssemblesNetworkNodesAndServices) {
  ClusterDocuments docs("/ovl/config");
  docs.setNetwork("/ovl/config", kNetwork);
  docs.setNode(
      "/ovl/nodes/n1",
      R"({"name":"n1","underlayIP":"192.168.50.1","podSubnet":"10.244.1.0/24","ready":true})");
  docs.setNode("/ovl/nodes/n2", "name: n2\nunderlayIP: 192.168.50.2\npodSubnet: 10.244.2.0/24\n");
  docs.setService("/ovl/services/default/web",
                  "namespace: default\nname: web\nclusterIP: 10.96.0.10\nports: [{port: 80}]\n");
  ClusterLoad load = docs.build();
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_FALSE(load.fatal);
  EXPECT_FALSE(load.strictStartup);
  EXPECT_EQ(load.cluster.network.podCidr.toString(), "10.244.0.0/16");
  ASSERT_EQ(load.cluster.nodes.size(), 2u);
  EXPECT_EQ(load.cluster.nodes[1].podSubnet.toString(), "10.244.2.0/24");
  ASSERT_EQ(load.cluster.services.size(), 1u);

  docs.erase("/ovl/nodes/n2");
  docs.erase("/ovl/services/default/web");
  load = docs.build();
  EXPECT_EQ(load.cluster.nodes.size(), 1u);
  EXPECT_TRUE(load.cluster.services.empty());
}

TEST(ClusterDocuments, BadDocumentsAreNamedByKeyAndSkipped) {
  ClusterDocuments docs("/ovl/config");
  docs.setNetwork("/ovl/config", kNetwork);
  docs.setNode("/ovl/nodes/n1", "name: n1\nunderlayIP: 192.168.50.1\npodSubnet: 10.244.1.0/24\n");
  docs.setNode("/ovl/nodes/junk", "{{{");
  // Claims across documents, as across entries of one file: the first keeps the subnet.
  docs.setNode("/ovl/nodes/n3", "name: n3\nunderlayIP: 192.168.50.3\npodSubnet: 10.244.1.0/24\n");
  docs.setService("/ovl/services/default/a",
                  "namespace: default\nname: a\nclusterIP: 10.96.0.10\nports: [{port: 80}]\n");
  docs.setService("/ovl/services/default/b",
                  "namespace: default\nname: b\nclusterIP: 10.96.0.500\nports: [{port: 80}]\n");
  ClusterLoad load = docs.build();
  EXPECT_FALSE(load.fatal);
  ASSERT_EQ(load.cluster.nodes.size(), 1u);
  EXPECT_EQ(load.cluster.nodes[0].name, "n1");
  ASSERT_EQ(load.cluster.services.size(), 1u);
  EXPECT_EQ(load.cluster.services[0].name, "a");
  ASSERT_EQ(load.issues.size(), 3u) << dump(load.issues);
  auto text = dump(load.issues);
  EXPECT_NE(text.find("/ovl/nodes/junk:1:"), std::string::npos) << text;
  EXPECT_NE(text.find("/ovl/nodes/n3:3:12: node.podSubnet: podSubnet 10.244.1.0/24 overlaps"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("/ovl/services/default/b:3:12: service.clusterIP:"), std::string::npos)
      << text;
}

TEST(ClusterDocuments, MissingOrBadNetworkIsFatal) {
  ClusterDocuments docs("/ovl/config");
  ClusterLoad load = docs.build();
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network", 0, {"missing"}));
  docs.setNetwork("/ovl/config", "podCIDR: 10.244.0.0/33\n");
  load = docs.build();
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.podCIDR", 1, {"10.244.0.0/33"}));
}

TEST(ClusterDocuments, ServiceFileEntriesKeepTheirFilePositions) {
  ClusterDocuments docs("/ovl/config");
  docs.setNetwork("/ovl/config", kNetwork);
  docs.setService("/ovl/services/default/a",
                  "namespace: default\nname: a\nclusterIP: 10.96.0.10\nports: [{port: 80}]\n");
  std::vector<ConfigIssue> issues;
  auto entries = docs.addServiceFile("svc.yaml",
                                     "services:\n"
                                     "  - namespace: default\n"
                                     "    name: b\n"
                                     "    clusterIP: 10.96.0.10\n"  // a's address
                                     "    ports: [{port: 80}]\n"
                                     "  - namespace: default\n"
                                     "    name: c\n"
                                     "    clusterIP: 10.96.0.11\n"
                                     "    ports: [{port: 80}]\n",
                                     issues);
  ASSERT_TRUE(issues.empty()) << dump(issues);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].id, "default/b");
  EXPECT_EQ(entries[1].id, "default/c");
  EXPECT_EQ(entries[1].mark.line, 6);
  ClusterLoad load = docs.build();
  ASSERT_EQ(load.issues.size(), 1u) << dump(load.issues);
  EXPECT_EQ(load.issues[0].mark.file, "svc.yaml");
  EXPECT_EQ(load.issues[0].mark.line, 4);

  // What is stored reads back as the same service.
  ClusterDocuments again("/ovl/config");
  again.setNetwork("/ovl/config", kNetwork);
  again.setService("/ovl/services/default/c", entries[1].text);
  load = again.build();
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  ASSERT_EQ(load.cluster.services.size(), 1u);
  EXPECT_EQ(load.cluster.services[0].clusterIps.at(0).toString(), "10.96.0.11");
}

// serviceChanges() stands for a build(): the services it upserts and removes, applied to what
// the last build accepted, are what a build of the same documents accepts, with the same
// problems, whatever was set or erased. Documents fight over ids, addresses and node ports, so
// a change also moves the services it shares a value with (the first key keeps the value).
TEST(ClusterDocuments, ServiceChangesAreWhatABuildWouldGive) {
  std::mt19937 rng(7);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::vector<std::string> names = {"a", "b", "c", "d", "e", "f"};
  auto randomDoc = [&]() -> std::string {
    switch (pick(12)) {
      case 0:
        return "{{{";  // not YAML
      case 1:
        return "namespace: default\nname: x\nclusterIP: 10.96.0.999\nports: [{port: 80}]\n";
      default:
        break;
    }
    std::string doc = "namespace: default\nname: " + names[static_cast<size_t>(pick(6))] + "\n";
    const bool nodePort = pick(3) == 0;
    if (nodePort) {
      doc += "type: NodePort\n";
    }
    doc += "clusterIP: 10.96.0." + std::to_string(10 + pick(3)) + "\n";
    if (pick(4) == 0) {
      doc += "externalIPs: [192.0.2." + std::to_string(10 + pick(2)) + "]\n";
    }
    doc += "ports: [{port: " + std::to_string(80 + pick(2));
    if (nodePort) {
      doc += ", nodePort: " + std::to_string(30000 + pick(2));
    }
    doc += "}]\nendpoints: [{ip: 10.244.1." + std::to_string(1 + pick(50)) + "}]\n";
    return doc;
  };
  ClusterDocuments docs("/ovl/config");
  docs.setNetwork("/ovl/config",
                  "podCIDR: 10.244.0.0/16\nserviceCIDR: 10.96.0.0/12\n");  // NodePorts default
  std::map<std::string, std::string> stored;
  ClusterLoad first = docs.build();
  ASSERT_FALSE(first.fatal) << dump(first.issues);
  std::map<std::string, svc::Service> held;  // id -> service, as the agent keeps them
  size_t moved = 0;
  for (int step = 0; step < 400; ++step) {
    const int changes = 1 + pick(3);
    for (int k = 0; k < changes; ++k) {
      const std::string key =
          "/ovl/services/default/" + names[static_cast<size_t>(pick(6))] + std::to_string(pick(2));
      if (pick(4) == 0) {
        docs.erase(key);
        stored.erase(key);
      } else {
        stored[key] = randomDoc();
        docs.setService(key, stored[key]);
      }
    }
    auto delta = docs.serviceChanges();
    ASSERT_TRUE(delta) << "only services changed";
    EXPECT_FALSE(docs.changed());
    for (const auto& id : delta->removed) {
      ASSERT_EQ(held.erase(id), 1u) << "step " << step << ": removed " << id << " not held";
    }
    for (const auto& s : delta->upserts) {
      held[s.id()] = s;
    }
    moved += delta->upserts.size() + delta->removed.size();

    ClusterDocuments fresh("/ovl/config");
    fresh.setNetwork("/ovl/config", "podCIDR: 10.244.0.0/16\nserviceCIDR: 10.96.0.0/12\n");
    for (const auto& [key, text] : stored) {
      fresh.setService(key, text);
    }
    ClusterLoad want = fresh.build();
    std::map<std::string, svc::Service> wanted;
    for (const auto& s : want.cluster.services) {
      wanted[s.id()] = s;
    }
    ASSERT_EQ(held, wanted) << "step " << step;
    ASSERT_EQ(dump(delta->issues), dump(want.issues)) << "step " << step;
  }
  EXPECT_GT(moved, 100u);  // the sequence did exercise the deltas

  // A change of the network settings (or of a node) needs a whole build.
  docs.setNetwork("/ovl/config", "podCIDR: 10.244.0.0/16\nserviceCIDR: 10.96.0.0/16\n");
  EXPECT_FALSE(docs.serviceChanges());
  ClusterLoad rebuilt = docs.build();
  EXPECT_FALSE(docs.changed());
  docs.setNode("/ovl/nodes/n1", "name: n1\nunderlayIP: 192.168.50.1\npodSubnet: 10.244.1.0/24\n");
  EXPECT_FALSE(docs.serviceChanges());
  // And a fatal build is never followed by a delta: the agent did not apply it.
  docs.setNetwork("/ovl/config", "podCIDR: nonsense\n");
  EXPECT_TRUE(docs.build().fatal);
  docs.setService("/ovl/services/default/z",
                  "namespace: default\nname: z\nclusterIP: 10.96.0.20\nports: [{port: 80}]\n");
  EXPECT_FALSE(docs.serviceChanges());
}

}  // namespace
}  // namespace ovl
