// ovl-agent: the per-node daemon. Parses the command line and hands over to runAgent().
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "agent/agent.h"
#include "agent/logging.h"
#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"ovl-agent: builds and keeps the VXLAN overlay of this node"};
  ovl::AgentOptions opts;
  app.add_option("-c,--config", opts.configPath, "agent configuration (agent.yaml)")->required();
  app.add_flag("--cleanup", opts.cleanup,
               "remove the VTEP and pod bridge ovl made (with their entries), then exit");
  app.add_option("--log-level", opts.logLevel, "trace|debug|info|warn|error (overrides the file)")
      ->transform(CLI::IsMember(ovl::kLogLevels, CLI::ignore_case));
  app.add_option("--log-format", opts.logFormat, "text (default) or json, one object per line")
      ->transform(CLI::IsMember(ovl::kLogFormats, CLI::ignore_case));
  app.set_version_flag("--version", fmt::format("ovl-agent {}", ovl::version()));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return ovl::runAgent(opts);
}
