// `ovlctl trace SRC DST:PORT/PROTO`: explains one flow from this node (service, endpoints and
// probabilities, route/VTEP/FDB, addresses after DNAT and masquerade, rp_filter verdict).
#pragma once

namespace CLI {
class App;
}

namespace ovl::cli {

struct GlobalOptions;
void addTraceCommand(CLI::App& app, GlobalOptions& g);

}  // namespace ovl::cli
