#include "cli/local_node.h"

#include <fmt/format.h>

namespace ovl::cli {

Result<LocalNode> loadLocalNode(const std::string& agentConfigPath) {
  LocalNode n;
  AgentConfigResult acr = loadAgentConfig(agentConfigPath);
  std::string problems;
  for (const auto& i : acr.issues) {
    problems += "\n  " + i.toString();
  }
  if (!problems.empty()) {
    return Error::msg(fmt::format("{}: not usable:{}", agentConfigPath, problems));
  }
  n.agent = std::move(acr.config);
  ClusterLoad load = loadClusterFile(n.agent.clusterFile);
  for (const auto& i : load.issues) {
    problems += "\n  " + i.toString();
  }
  if (load.fatal) {
    return Error::msg(fmt::format("{}: not usable:{}", n.agent.clusterFile, problems));
  }
  n.cluster = std::move(load.cluster);
  auto plan =
      planOverlay(n.cluster, n.agent.nodeName, PlanNames{n.agent.vtepName, n.agent.bridgeName});
  if (!plan) {
    return Error::msg(fmt::format("{}: {}{}", n.agent.clusterFile, plan.error().message, problems));
  }
  n.plan = std::move(*plan);
  for (const auto& i : load.issues) {
    n.issues.push_back(i.toString());
  }
  return n;
}

}  // namespace ovl::cli
