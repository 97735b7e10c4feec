// ovlctl network: the cluster's network settings stored in etcd (the `config` key): `show`, and
// `apply -f FILE`, which checks the file, and the stored nodes and services against it, before
// writing anything.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/global_options.h"

namespace ovl::cli {

void addNetworkCommand(CLI::App& app, GlobalOptions& g);

}  // namespace ovl::cli
