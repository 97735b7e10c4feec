// ovlctl node list: the nodes registered in etcd, with their subnet, underlay IP, the time left
// on their lease and whether their agent is ready.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/global_options.h"

namespace ovl::cli {

void addNodeCommand(CLI::App& app, GlobalOptions& g);

}  // namespace ovl::cli
