#include "cli/connectivity_cluster.h"

#include <fmt/format.h>
#include <unistd.h>

#include "cli/etcd_options.h"
#include "model/agent_config.h"
#include "model/cluster_documents.h"

namespace ovl::cli {

namespace {

std::string issuesText(const std::vector<ConfigIssue>& issues) {
  std::string text;
  for (const auto& line : issueLines(issues)) {
    text += "\n  " + line;
  }
  return text;
}

}  // namespace

ClusterLoad clusterFromEtcd(const EtcdKeys& keys, const std::vector<etcd::KeyValue>& kvs) {
  ClusterDocuments docs(keys.config());
  for (const auto& kv : kvs) {
    switch (keys.kindOf(kv.key)) {
      case EtcdKeys::Kind::kConfig:
        docs.setNetwork(kv.key, kv.value);
        break;
      case EtcdKeys::Kind::kNode:
        docs.setNode(kv.key, kv.value);
        break;
      case EtcdKeys::Kind::kService:
        docs.setService(kv.key, kv.value);
        break;
      case EtcdKeys::Kind::kSubnet:
      case EtcdKeys::Kind::kOther:
        break;
    }
  }
  return docs.build();
}

Result<LocalNode> loadClusterNode(const std::string& agentConfigPath,
                                  const EtcdOptions& etcdFlags) {
  // OVL_* overrides as every ovlctl command reads agent.yaml; its warnings are printed once, by
  // loadLocalNode or connectEtcd, which read it again.
  AgentConfigResult acr = loadAgentConfig(agentConfigPath, ovlEnvironment(environ));
  if (acr.issues.empty() && acr.config.datastore != "etcd") {
    return loadLocalNode(agentConfigPath);
  }
  if (!acr.issues.empty()) {
    return Error::msg(fmt::format("{}: not usable:{}", agentConfigPath, issuesText(acr.issues)));
  }
  EtcdOptions etcd = etcdFlags;
  etcd.config = agentConfigPath;
  auto conn = connectEtcd(etcd);
  if (!conn) {
    return conn.error();
  }
  auto snapshot = conn->client->rangePrefix(conn->keys.all());
  if (!snapshot) {
    return snapshot.error().withContext("read the cluster from etcd");
  }
  LocalNode n;
  n.agent = std::move(acr.config);
  ClusterLoad load = clusterFromEtcd(conn->keys, snapshot->kvs);
  const std::string where = fmt::format("etcd {}", conn->keys.all());
  if (load.fatal) {
    return Error::msg(fmt::format("{}: not usable:{}", where, issuesText(load.issues)));
  }
  n.cluster = std::move(load.cluster);
  auto plan =
      planOverlay(n.cluster, n.agent.nodeName, PlanNames{n.agent.vtepName, n.agent.bridgeName});
  if (!plan) {
    return Error::msg(fmt::format("{}: {}", where, plan.error().message));
  }
  n.plan = std::move(*plan);
  n.issues = issueLines(load.issues);
  return n;
}

}  // namespace ovl::cli
