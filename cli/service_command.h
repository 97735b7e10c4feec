// ovlctl service apply|delete|list: the services stored in etcd (<prefix>/services/<ns>/<name>).
#pragma once

#include <CLI/CLI.hpp>

namespace ovl::cli {

void addServiceCommand(CLI::App& app);

}  // namespace ovl::cli
