// ovlctl's command tree: the global flags (cli/global_options.h) and every command group, built
// on an app that main() parses (and the unit tests, which parse without running).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/global_options.h"

namespace ovl::cli {

// Adds the global flags, --version and every command to `app`; g receives the parse.
void buildApp(CLI::App& app, GlobalOptions& g);

}  // namespace ovl::cli
