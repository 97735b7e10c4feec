// ovlctl nat list (and ovlctl service list --kernel): what this node's nftables table `ip ovl`
// holds, per service frontend (cluster and external IPs, NodePorts) with its action, ClientIP
// affinity, masquerading and endpoints, in the spirit of `cilium-dbg service list`. It reads
// only the kernel, so it works with any datastore and without the agent.
// Exit status: 0 listed, 1 the table does not exist, 2 could not read it.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/global_options.h"
#include "cli/kernel_services.h"

namespace ovl::cli {

void addNatCommand(CLI::App& app, GlobalOptions& g);
// Runs the listing with g's -o (also for `service list --kernel`).
int listKernelServices(const GlobalOptions& g);
// The records -o json|yaml prints, one per frontend (pure).
nlohmann::ordered_json frontendsToJson(const std::vector<KernelFrontend>& frontends);

}  // namespace ovl::cli
