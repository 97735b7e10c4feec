// What an ovlctl command on a node knows without the agent: agent.yaml, the cluster file it
// names and the overlay plan made from them, parsed exactly as the agent parses them.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "model/cluster.h"
#include "model/config.h"
#include "overlay/overlay_plan.h"

namespace ovl::cli {

inline constexpr const char* kDefaultAgentConfig = "/etc/ovl/agent.yaml";

struct LocalNode {
  AgentConfig agent;
  Cluster cluster;
  OverlayPlan plan;
  std::vector<std::string> issues;  // the cluster file's non-fatal issues (rejected entries)
};

// agent.yaml as the agent reads it: the file, with this process's OVL_* environment variables
// over it (model/agent_config.h). Unknown OVL_* variables are warned about on stderr.
AgentConfigResult readAgentConfig(const std::string& path);

// Errors list every configuration issue (file:line:column: field: ...).
Result<LocalNode> loadLocalNode(const std::string& agentConfigPath);

}  // namespace ovl::cli
