// `ovlctl diagnose`: runs every check of diagnostics/ on this node and reports (text or JSON);
// with --fix applies the narrow fixes, with --persist writes the sysctl.d drop-in.
// Exit status: 0 healthy, 1 problems found, 2 could not check.
#pragma once

namespace CLI {
class App;
}

namespace ovl::cli {

struct GlobalOptions;
void addDiagnoseCommand(CLI::App& app, GlobalOptions& g);

}  // namespace ovl::cli
