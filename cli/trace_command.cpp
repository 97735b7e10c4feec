#include "cli/trace_command.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "cli/exit_code.h"
#include "cli/global_options.h"
#include "cli/local_node.h"
#include "diagnostics/checker.h"
#include "diagnostics/trace.h"

namespace ovl::cli {

namespace {

struct TraceOptions {
  std::string config = kDefaultAgentConfig;
  std::string src;
  std::string dst;
};

int runTrace(const TraceOptions& o) {
  auto flow = diag::parseFlow(o.src, o.dst);
  if (!flow) {
    std::cerr << "ovlctl trace: " << flow.error().message << "\n";
    return 2;
  }
  auto node = loadLocalNode(o.config);
  if (!node) {
    std::cerr << "ovlctl trace: " << node.error().message << "\n";
    return 2;
  }
  for (const auto& i : node->issues) {
    std::cerr << "ovlctl trace: warning: " << i << " (left out, as the agent leaves it out)\n";
  }
  auto netlink = nl::Netlink::create();
  if (!netlink) {
    std::cerr << "ovlctl trace: " << netlink.error().message << "\n";
    return 2;
  }
  const std::string underlay = diag::underlayInterface(*netlink, node->agent, node->plan);
  std::cout << diag::explainTrace(*netlink, node->cluster, node->plan, underlay, *flow);
  return 0;
}

}  // namespace

void addTraceCommand(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<TraceOptions>();
  CLI::App* cmd = app.add_subcommand("trace", "explain one flow from this node");
  cmd->add_option("SRC", opts->src, "source address")->required();
  cmd->add_option("DST", opts->dst, "destination as IP:PORT[/tcp|udp|sctp]")->required();
  selectable(*cmd, g, Uses{}, [opts, &g] {
    opts->config = g.config;
    return runTrace(*opts);
  });
}

}  // namespace ovl::cli
