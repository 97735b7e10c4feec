#include "cli/diagnose_command.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "cli/exit_code.h"
#include "cli/global_options.h"
#include "cli/local_node.h"
#include "diagnostics/checker.h"
#include "diagnostics/finding.h"
#include "diagnostics/sysctl.h"

namespace ovl::cli {

namespace {

struct DiagnoseOptions {
  std::string config = kDefaultAgentConfig;
  std::string output = "text";
  bool fix = false;
  bool persist = false;
  std::string sysctlDir = diag::kDefaultSysctlDir;
};

int runDiagnose(const DiagnoseOptions& o) {
  auto node = loadLocalNode(o.config);
  if (!node) {
    std::cerr << "ovlctl diagnose: " << node.error().message << "\n";
    return 2;
  }
  for (const auto& i : node->issues) {
    std::cerr << "ovlctl diagnose: warning: " << i << " (left out, as the agent leaves it out)\n";
  }
  auto netlink = nl::Netlink::create();
  if (!netlink) {
    std::cerr << "ovlctl diagnose: " << netlink.error().message << "\n";
    return 2;
  }
  diag::ProcFs fs;
  diag::Checker checker(*netlink, fs);
  const auto model = diag::NodeModel::of(node->agent, node->plan, node->cluster);
  diag::Report report = checker.run(model);
  if (o.fix) {
    checker.fix(report, model);
    if (o.persist) {
      if (Status s = checker.persist(report, o.sysctlDir); !s) {
        report.notChecked.push_back("persist: " + s.error().message);
      }
    }
  }
  if (o.output == "json") {
    std::cout << diag::toJson(report).dump(2) << "\n";
  } else {
    std::cout << diag::formatHuman(report);
  }
  return report.exitCode();
}

}  // namespace

void addDiagnoseCommand(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<DiagnoseOptions>();
  CLI::App* cmd = app.add_subcommand(
      "diagnose",
      "check this node for what drops overlay traffic (rp_filter first); exit 0 healthy, 1 "
      "problems, 2 could not check");
  cmd->add_flag("--fix", opts->fix,
                "apply the narrow fixes (rp_filter loose on exactly the interfaces that need it, "
                "hairpin on bridge ports, tx checksum off on affected kernels)");
  auto* persist = cmd->add_flag("--persist", opts->persist,
                                "with --fix: also write the rp_filter fix to a sysctl.d drop-in");
  cmd->add_option("--sysctl-dir", opts->sysctlDir, "where --persist writes its drop-in")
      ->capture_default_str();
  persist->needs(cmd->get_option("--fix"));
  // Its text is its table: -o table is taken as text. JSON schema: docs/diagnose-json.md.
  selectable(*cmd, g, Uses{{"text", "json", "table"}, false}, [opts, &g] {
    opts->config = g.config;
    opts->output = g.output == "json" ? "json" : "text";
    return runDiagnose(*opts);
  });
}

}  // namespace ovl::cli
