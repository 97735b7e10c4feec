#include "cli/ovlctl_app.h"

#include <fmt/format.h>

#include "cli/connectivity_command.h"
#include "cli/diagnose_command.h"
#include "cli/nat_command.h"
#include "cli/network_command.h"
#include "cli/node_command.h"
#include "cli/service_command.h"
#include "cli/status_command.h"
#include "cli/trace_command.h"
#include "common/version.h"

namespace ovl::cli {

void buildApp(CLI::App& app, GlobalOptions& g) {
  requireCommand(app);
  app.set_version_flag("--version", fmt::format("ovlctl {}", ovl::version()));
  app.footer(
      "The global flags (-c, -o, the etcd flags) go before or after the command name: "
      "`ovlctl -o json status` is `ovlctl status -o json`.");
  addGlobalOptions(app, g);
  addStatusCommand(app, g);
  addDiagnoseCommand(app, g);
  addTraceCommand(app, g);
  addConnectivityCommand(app, g);
  addServiceCommand(app, g);
  addNatCommand(app, g);
  addNodeCommand(app, g);
  addNetworkCommand(app, g);
}

}  // namespace ovl::cli
