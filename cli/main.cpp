// ovlctl: the operator CLI of ovl. Each command group lives in its own cli/<group>_command file.
#include <CLI/CLI.hpp>

#include "cli/exit_code.h"
#include "cli/node_command.h"
#include "cli/service_command.h"

int main(int argc, char** argv) {
  CLI::App app{"ovlctl: operate an ovl cluster"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ovlctl 0.1.0");
  ovl::cli::addServiceCommand(app);
  ovl::cli::addNodeCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return ovl::cli::exitCode();
}
