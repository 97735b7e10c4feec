// `ovlctl connectivity`: an active test run on one node, in the spirit of `cilium connectivity
// test`. A throwaway pod (cli/connectivity_pod.h) probes every peer's pod gateway across the
// overlay, the endpoints known to listen there and every service's cluster IP ports and
// NodePorts; the host probes the same. Progress on stderr, then a matrix with each failing leg
// explained (diagnose's findings where one matches), or JSON (docs/connectivity-json.md).
// Exit status: 0 every leg passed, 1 some failed, 2 usage or configuration error, 128+N when
// signal N (SIGINT, SIGTERM, SIGHUP) stopped it (after removing the pod).
#pragma once

namespace CLI {
class App;
}

namespace ovl::cli {

struct GlobalOptions;

void addConnectivityCommand(CLI::App& app, GlobalOptions& g);

}  // namespace ovl::cli
