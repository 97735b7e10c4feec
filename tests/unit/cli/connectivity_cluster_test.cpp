// cli/connectivity_cluster: a snapshot of the etcd prefix read as one cluster, as the agents
// read it.
#include "cli/connectivity_cluster.h"

#include <gtest/gtest.h>

#include <string>

namespace ovl::cli {
namespace {

etcd::KeyValue kv(std::string key, std::string value) {
  etcd::KeyValue k;
  k.key = std::move(key);
  k.value = std::move(value);
  return k;
}

TEST(ConnectivityCluster, EtcdSnapshotIsOneCluster) {
  const EtcdKeys keys{"/ovl"};
  const std::vector<etcd::KeyValue> kvs = {
      kv("/ovl/config", "{podCIDR: 10.244.0.0/16, subnetLength: 24, serviceCIDR: 10.96.0.0/12}"),
      kv("/ovl/nodes/node1", encodeNodeRecord("node1", *Ipv4::parse("192.168.50.1"),
                                              *Ipv4Prefix::parse("10.244.1.0/24"), true)),
      kv("/ovl/nodes/node2", encodeNodeRecord("node2", *Ipv4::parse("192.168.50.2"),
                                              *Ipv4Prefix::parse("10.244.2.0/24"), false)),
      kv("/ovl/subnets/10.244.1.0-24", "node1"),
      kv("/ovl/services/default/web",
         "{namespace: default, name: web, clusterIP: 10.96.0.10, ports: [{port: 80, "
         "targetPort: 8080}], endpoints: [{ip: 10.244.2.11, node: node2}]}"),
      kv("/ovl/services/default/bad", "{namespace: default, name: bad, clusterIP: nonsense}"),
      kv("/ovl/unrelated", "x"),
  };
  const ClusterLoad load = clusterFromEtcd(keys, kvs);
  ASSERT_FALSE(load.fatal);
  ASSERT_EQ(load.cluster.nodes.size(), 2u);
  EXPECT_EQ(load.cluster.nodes[1].name, "node2");
  ASSERT_EQ(load.cluster.services.size(), 1u);
  EXPECT_EQ(load.cluster.services[0].id(), "default/web");
  ASSERT_FALSE(load.issues.empty());
  for (const auto& i : load.issues) {  // the bad service is skipped, named by its key
    EXPECT_EQ(i.toString().rfind("/ovl/services/default/bad:", 0), 0u) << i.toString();
  }
}

TEST(ConnectivityCluster, WithoutNetworkSettingsItIsNotUsable) {
  const ClusterLoad load = clusterFromEtcd(EtcdKeys{"/ovl"}, {});
  EXPECT_TRUE(load.fatal);
  ASSERT_FALSE(load.issues.empty());
  EXPECT_NE(load.issues[0].toString().find("/ovl/config"), std::string::npos)
      << load.issues[0].toString();
}

}  // namespace
}  // namespace ovl::cli
