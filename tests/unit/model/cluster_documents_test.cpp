// A cluster assembled from separately stored documents (model/cluster_documents.h), as the etcd
// datastore keeps it: bad documents named by key and skipped, service files, and the service
// changes that stand for a build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "model/cluster_documents.h"
#include "tests/unit/model/config_issues.h"

namespace ovl {
namespace {

using test::dump;
using test::hasIssue;

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
