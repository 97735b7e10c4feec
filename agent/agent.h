// ovl-agent's run loop: level-triggered. A change of the cluster file, a kernel notification
// that may mean drift, a retry or the resync timer only wake the loop; each pass converges the
// kernel to the full plan.
#pragma once

#include <string>

namespace ovl {

struct AgentOptions {
  std::string configPath;
  bool cleanup = false;  // remove everything ovl made, then exit
  std::string logLevel;  // overrides agent.yaml when set
};

// Exit codes: 0 clean stop, 1 runtime failure, 2 invalid configuration.
int runAgent(const AgentOptions& options);

}  // namespace ovl
