// What an ovlctl command on a node knows without the agent: agent.yaml, the cluster file it
// names and the overlay plan made from them, parsed exactly as the agent parses them.
#pragma once

#include <string>
#include <vector>

#include "agent/cluster.h"
#include "agent/config.h"
#include "agent/overlay_plan.h"
#include "common/result.h"

namespace ovl::cli {

inline constexpr const char* kDefaultAgentConfig = "/etc/ovl/agent.yaml";

struct LocalNode {
  AgentConfig agent;
  Cluster cluster;
  OverlayPlan plan;
  std::vector<std::string> issues;  // the cluster file's non-fatal issues (rejected entries)
};

// Errors list every configuration issue (file:line:column: field: ...).
Result<LocalNode> loadLocalNode(const std::string& agentConfigPath);

}  // namespace ovl::cli
