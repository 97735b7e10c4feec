// ovlctl service apply|delete|list: the services stored in etcd (<prefix>/services/<ns>/<name>).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/global_options.h"

namespace ovl::cli {

void addServiceCommand(CLI::App& app, GlobalOptions& g);

}  // namespace ovl::cli
