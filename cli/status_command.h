// ovlctl status: this node at a glance, from the agent's health endpoint (/readyz) and the
// kernel, and working when the agent is down (then it says so): agent up and ready, version,
// datastore and its state, the last converged pass and its duration, peers, services and
// endpoints programmed, findings, the VTEP and the bridge with their MTU.
#pragma once

#include <CLI/CLI.hpp>

namespace ovl::cli {

struct GlobalOptions;
void addStatusCommand(CLI::App& app, GlobalOptions& g);

}  // namespace ovl::cli
