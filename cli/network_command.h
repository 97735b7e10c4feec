// ovlctl network: the cluster's network settings stored in etcd (the `config` key): `show`, and
// `apply -f FILE`, which checks the file, and the stored nodes and services against it, before
// writing anything.
#pragma once

#include <CLI/CLI.hpp>

namespace ovl::cli {

void addNetworkCommand(CLI::App& app);

}  // namespace ovl::cli
