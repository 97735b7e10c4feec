// cli/: ovlctl, the operator CLI. Each command group lives in cli/<group>_command.{h,cpp} and adds
// itself in cli/ovlctl_app.cpp; the global flags are in cli/global_options.h. It may include every
// library of ovl except agent/ (it works without the agent, and links neither its HTTP server nor
// libsystemd).
#include <CLI/CLI.hpp>

#include <algorithm>

#include "cli/exit_code.h"
#include "cli/global_options.h"
#include "cli/ovlctl_app.h"

int main(int argc, char** argv) {
  CLI::App app{"ovlctl: operate an ovl node and cluster"};
  ovl::cli::GlobalOptions globals;
  ovl::cli::buildApp(app, globals);
  try {
    app.parse(argc, argv);
    const int code = globals.run ? globals.run() : 0;
    return std::max(code, ovl::cli::exitCode());
  } catch (const ovl::cli::ExitCode& e) {
    return e.code;
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
}
