#include "cli/local_node.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace ovl::cli {

AgentConfigResult readAgentConfig(const std::string& path) {
  AgentConfigResult acr = loadAgentConfig(path, ovlEnvironment(environ));
  for (const auto& w : acr.warnings) {
    std::fprintf(stderr, "ovlctl: warning: %s\n", w.c_str());
  }
  return acr;
}

Result<LocalNode> loadLocalNode(const std::string& agentConfigPath) {
  LocalNode n;
  AgentConfigResult acr = readAgentConfig(agentConfigPath);
  std::string problems;
  for (const auto& line : issueLines(acr.issues)) {
    problems += "\n  " + line;
  }
  if (!problems.empty()) {
    return Error::msg(fmt::format("{}: not usable:{}", agentConfigPath, problems));
  }
  n.agent = std::move(acr.config);
  ClusterLoad load = loadClusterFile(n.agent.clusterFile);
  for (const auto& line : issueLines(load.issues)) {
    problems += "\n  " + line;
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
  n.issues = issueLines(load.issues);
  return n;
}

}  // namespace ovl::cli
