// The pure part of `ovlctl connectivity`: which targets a run probes (planned from the overlay
// plan and the services), what each leg found, how a failing leg is explained (the findings of
// diagnostics/ that concern it, else a plain statement), and the two ways a run is shown (the
// matrix and the JSON of docs/connectivity-json.md). No kernel access here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/ip.h"
#include "diagnostics/finding.h"
#include "model/service.h"
#include "overlay/overlay_plan.h"

namespace ovl::cli {

enum class ProbeKind { kIcmp, kTcp, kUdp };
std::string toString(ProbeKind k);  // "icmp" | "tcp" | "udp"

// What a target is; decides which findings can explain its failure.
enum class TargetKind { kLocalGateway, kPeerGateway, kPeerEndpoint, kClusterIp, kNodePort };
std::string toString(TargetKind k);  // "local-gateway", "peer-gateway", ...

struct Target {
  TargetKind kind = TargetKind::kPeerGateway;
  ProbeKind probe = ProbeKind::kIcmp;
  Ipv4 ip;
  uint16_t port = 0;    // 0 for ICMP
  std::string label;    // "node2 pod gateway", "default/web cluster IP"
  std::string peer;     // the node the traffic crosses to ("" for services and this node)
  std::string service;  // "namespace/name" of service targets
  std::vector<std::string> endpointNodes;  // peers holding the service's ready endpoints
  std::vector<std::string> endpoints;      // "ip:port on node" of those endpoints
  bool fromHost = true;                    // false: the host leg does not apply
  std::string address() const;             // "10.96.0.10:80/tcp", "10.244.2.1 (icmp)"
};

struct PlanInputs {
  const OverlayPlan* overlay = nullptr;
  const std::vector<svc::Service>* services = nullptr;
  Ipv4 localGateway;                      // this node's bridge address
  std::optional<uint16_t> peerAgentPort;  // the agents' health port when they listen on every
                                          // address (0.0.0.0): known to listen on each gateway
};

struct ConnectivityPlan {
  std::vector<Target> targets;
  std::vector<std::string> notes;  // e.g. "node3: nothing known to listen: ICMP only"
};

// This node's gateway (from the pod only), then per peer: its pod gateway (ICMP), the agent's
// port there (TCP) when known to listen, one ready endpoint of each protocol on that peer
// (TCP connect / UDP probe); then per service: every cluster IP port and NodePort (on this
// node's underlay address). SCTP ports are listed in notes, not probed.
ConnectivityPlan planConnectivity(const PlanInputs& in);

enum class Outcome { kOk, kFail, kInconclusive, kSkipped };
std::string toString(Outcome o);  // "ok" | "fail" | "inconclusive" | "skipped"

// The error of every pod leg when the throwaway pod could not be made (then they do not run).
inline constexpr const char* kNoPodError = "no throwaway pod: ";

struct LegResult {
  Outcome outcome = Outcome::kSkipped;
  double ms = 0;      // until the answer (or the timeout)
  std::string error;  // what failed: "no answer within 1000 ms", "connection refused", ...
};

// Why a leg failed: a finding of diagnose that concerns it, or the probe's own statement.
struct Explanation {
  std::string source;  // "diagnose" | "probe"
  std::string check;   // the finding's check id ("" for probe statements)
  std::string subject;
  std::string title;
  std::string explanation;
  std::string fixCommand;
};

struct TargetResult {
  Target target;
  LegResult pod;
  LegResult host;
  std::vector<Explanation> explanations;  // set when a leg failed
};

struct RunReport {
  std::string node;
  std::string podAddress;  // the throwaway pod's address ("" when it could not be made)
  double durationMs = 0;
  std::vector<TargetResult> results;
  std::vector<std::string> notes;
  bool leftovers = false;         // the throwaway pod could not be removed (notes say what is left)
  size_t count(Outcome o) const;  // legs with outcome o
  // 0 every leg passed (inconclusive UDP legs and skipped legs do not fail) and the pod was
  // removed, else 1.
  int exitCode() const;
};

// The findings that concern a failing target (by check, the peer node and the service's
// endpoint nodes), then what the probes themselves say.
std::vector<Explanation> explain(const TargetResult& r, const std::vector<diag::Finding>& findings,
                                 const std::string& vtepName);

// The matrix (rows: targets; columns: from pod, from host) and the failing legs explained.
std::string renderMatrix(const RunReport& r);
// schemaVersion 1, docs/connectivity-json.md.
inline constexpr int kConnectivitySchemaVersion = 1;
nlohmann::ordered_json toJson(const RunReport& r);

}  // namespace ovl::cli
