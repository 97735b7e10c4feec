// agent/: ovl-agent, the node daemon, and nothing else: main, start-up (this header), the run
// loop (agent_loop.h), the health endpoint (health.h, served by http_server.h), the Prometheus
// metrics (metrics.h; counting_kernel.h counts the overlay kernel's refusals), the diagnostics
// watch, ovl-cni's registrations on this node and systemd's notifications (systemd_notifier.h). It
// may include every library of ovl (common, model, netlink, overlay, rules, etcd, datastore,
// diagnostics); none includes it.
//
// runAgent() reads agent.yaml, takes the node's lock, opens the kernel handles and the datastore,
// and runs the loop until a stop signal.
#pragma once

#include <string>

namespace ovl {

struct AgentOptions {
  std::string configPath;
  bool cleanup = false;            // remove everything ovl made, then exit
  std::string logLevel;            // overrides agent.yaml when set (agent/logging.h's kLogLevels)
  std::string logFormat = "text";  // text | json (agent/logging.h)
};

// Exit codes: 0 clean stop, 1 runtime failure, 2 invalid configuration.
int runAgent(const AgentOptions& options);

}  // namespace ovl
