// `ovlctl trace SRC DST:PORT/PROTO`: explains one flow from this node (service, endpoints and
// probabilities, route/VTEP/FDB, addresses after DNAT and masquerade, rp_filter verdict).
#pragma once

namespace CLI {
class App;
}

namespace ovl::cli {

void addTraceCommand(CLI::App& app);

}  // namespace ovl::cli
