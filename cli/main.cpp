// cli/: ovlctl, the operator CLI. Each command group lives in cli/<group>_command.{h,cpp} and adds
// itself here. It may include every library of ovl except agent/ (it works without the agent, and
// links neither its HTTP server nor libsystemd).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/connectivity_command.h"
#include "cli/diagnose_command.h"
#include "cli/exit_code.h"
#include "cli/network_command.h"
#include "cli/node_command.h"
#include "cli/service_command.h"
#include "cli/status_command.h"
#include "cli/trace_command.h"
#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"ovlctl: operate an ovl node and cluster"};
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("ovlctl {}", ovl::version()));
  ovl::cli::addStatusCommand(app);
  ovl::cli::addDiagnoseCommand(app);
  ovl::cli::addTraceCommand(app);
  ovl::cli::addServiceCommand(app);
  ovl::cli::addNodeCommand(app);
  ovl::cli::addNetworkCommand(app);
  ovl::cli::addConnectivityCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const ovl::cli::ExitCode& e) {
    return e.code;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return ovl::cli::exitCode();
}
