// Where `ovlctl connectivity` learns the cluster: the cluster file, read as `ovlctl diagnose`
// reads it, or with `datastore: etcd` a read-only snapshot of the etcd prefix (nothing is
// registered, claimed or written), checked as the agents check it.
#pragma once

#include <string>
#include <vector>

#include "cli/etcd_options.h"
#include "cli/local_node.h"
#include "common/result.h"
#include "datastore/etcd_keys.h"
#include "etcd/client.h"
#include "model/cluster_file.h"

namespace ovl::cli {

// Errors list every configuration issue, or say why etcd could not be read. `etcdFlags` are
// ovlctl's etcd flags, over agent.yaml's etcd section.
Result<LocalNode> loadClusterNode(const std::string& agentConfigPath, const EtcdOptions& etcdFlags);

// Pure: the snapshot of the prefix (the network settings, node records and services) as one
// cluster, checked together; other keys (subnet claims) are ignored.
ClusterLoad clusterFromEtcd(const EtcdKeys& keys, const std::vector<etcd::KeyValue>& kvs);

}  // namespace ovl::cli
