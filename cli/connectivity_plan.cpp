#include "cli/connectivity_plan.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace ovl::cli {

namespace {

using nlohmann::ordered_json;

Target makeTarget(TargetKind kind, ProbeKind probe, Ipv4 ip, uint16_t port, std::string label,
                  std::string peer = "", std::string service = "") {
  Target t;
  t.kind = kind;
  t.probe = probe;
  t.ip = ip;
  t.port = port;
  t.label = std::move(label);
  t.peer = std::move(peer);
  t.service = std::move(service);
  return t;
}

uint16_t endpointPort(const svc::Endpoint& e, const svc::ServicePort& p) {
  if (auto it = e.ports.find(p.name); it != e.ports.end()) {
    return it->second;
  }
  return p.targetPort != 0 ? p.targetPort : p.port;
}

std::optional<ProbeKind> probeFor(svc::Protocol p) {
  switch (p) {
    case svc::Protocol::kTcp:
      return ProbeKind::kTcp;
    case svc::Protocol::kUdp:
      return ProbeKind::kUdp;
    case svc::Protocol::kSctp:
      return std::nullopt;
  }
  return std::nullopt;
}

// One endpoint per protocol that is known to listen on `peer`: a ready endpoint of a service.
void addPeerEndpoints(const std::vector<svc::Service>& services, const std::string& peer,
                      std::vector<Target>& out, bool& anyListener) {
  std::set<ProbeKind> done;
  for (const auto& s : services) {
    for (const auto& e : s.endpoints) {
      if (!e.ready || e.node != peer) {
        continue;
      }
      for (const auto& p : s.ports) {
        auto kind = probeFor(p.protocol);
        if (!kind || done.contains(*kind)) {
          continue;
        }
        done.insert(*kind);
        anyListener = true;
        Target t = makeTarget(TargetKind::kPeerEndpoint, *kind, e.ip, endpointPort(e, p),
                              fmt::format("{} pod ({} endpoint)", peer, s.id()), peer, s.id());
        t.endpointNodes = {peer};
        out.push_back(std::move(t));
      }
    }
  }
}

void addPeers(const PlanInputs& in, ConnectivityPlan& plan) {
  for (const auto& peer : in.overlay->peers) {
    const Ipv4 gw{peer.podSubnet.network().value + 1};
    Target icmp = makeTarget(TargetKind::kPeerGateway, ProbeKind::kIcmp, gw, 0,
                             peer.name + " pod gateway", peer.name);
    plan.targets.push_back(icmp);
    bool anyListener = false;
    if (in.peerAgentPort) {
      Target tcp = icmp;
      tcp.probe = ProbeKind::kTcp;
      tcp.port = *in.peerAgentPort;
      tcp.label = peer.name + " agent port";
      plan.targets.push_back(tcp);
      anyListener = true;
    }
    addPeerEndpoints(*in.services, peer.name, plan.targets, anyListener);
    if (!anyListener) {
      plan.notes.push_back(fmt::format(
          "{}: nothing is known to listen there (no ready service endpoint on it, the agents' "
          "health port is not on every address): ICMP only",
          peer.name));
    }
  }
}

void addServices(const PlanInputs& in, ConnectivityPlan& plan) {
  for (const auto& s : *in.services) {
    std::vector<std::string> nodes, endpoints;
    for (const auto& e : s.endpoints) {
      if (!e.ready) {
        continue;
      }
      // This node's name is in every path diagnose reports: only peers tell findings apart.
      const bool peer = !e.node.empty() && e.node != in.overlay->nodeName;
      if (peer && std::find(nodes.begin(), nodes.end(), e.node) == nodes.end()) {
        nodes.push_back(e.node);
      }
      endpoints.push_back(e.node.empty() ? e.ip.toString() : e.ip.toString() + " on " + e.node);
    }
    for (const auto& p : s.ports) {
      auto kind = probeFor(p.protocol);
      if (!kind) {
        plan.notes.push_back(fmt::format(
            "{} port {}/sctp: not probed (SCTP probes are not implemented)", s.id(), p.port));
        continue;
      }
      auto add = [&](TargetKind k, Ipv4 ip, uint16_t port, const std::string& what) {
        Target t = makeTarget(k, *kind, ip, port, s.id() + " " + what, "", s.id());
        t.endpointNodes = nodes;
        t.endpoints = endpoints;
        plan.targets.push_back(std::move(t));
      };
      for (const auto& ip : s.clusterIps) {
        add(TargetKind::kClusterIp, ip, p.port, "cluster IP");
      }
      if (p.nodePort) {
        add(TargetKind::kNodePort, in.overlay->underlayIp, *p.nodePort, "NodePort");
      }
    }
  }
}

bool isWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
}

// `word` occurs in `text` as a whole word ("node2" in "pods of node2 ->", not in "node22").
bool mentions(const std::string& text, const std::string& word) {
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
    const bool before = at == 0 || !isWordChar(text[at - 1]);
    const size_t end = at + word.size();
    // A trailing '.' ends a sentence; it does not extend the name.
    const bool after = end == text.size() || !isWordChar(text[end]) ||
                       (text[end] == '.' && (end + 1 == text.size() || text[end + 1] == ' '));
    if (before && after) {
      return true;
    }
  }
  return false;
}

bool findingMentions(const diag::Finding& f, const std::string& node) {
  if (mentions(f.subject, node) || mentions(f.title, node) || mentions(f.explanation, node)) {
    return true;
  }
  return std::any_of(f.evidence.begin(), f.evidence.end(),
                     [&](const auto& e) { return mentions(e.second, node); });
}

bool concerns(const diag::Finding& f, const Target& t, const std::string& vtepName) {
  if (t.kind == TargetKind::kLocalGateway) {
    return f.check == "hairpin";
  }
  static const std::set<std::string> kOverlayWide = {"ip_forward", "forward_drop", "vxlan_port"};
  if (kOverlayWide.contains(f.check)) {
    return true;
  }
  const bool service = t.kind == TargetKind::kClusterIp || t.kind == TargetKind::kNodePort;
  if (service && f.check == "nft_table") {
    return true;
  }
  std::vector<std::string> nodes = t.endpointNodes;
  if (!t.peer.empty()) {
    nodes.push_back(t.peer);
  }
  for (const auto& n : nodes) {
    if (f.check == "peer_entries" && (f.subject == "peer " + n || f.subject == vtepName)) {
      return true;
    }
    if ((f.check == "rp_filter" || f.check == "route") && findingMentions(f, n)) {
      return true;
    }
  }
  return false;
}

bool failed(const LegResult& l) {
  return l.outcome == Outcome::kFail;
}

// What the probes say by themselves, for the kind of target and how it failed.
std::string probeStatement(const TargetResult& r) {
  const Target& t = r.target;
  const bool refused = r.pod.error.starts_with("connection refused") ||
                       r.host.error.starts_with("connection refused");
  const bool service = t.kind == TargetKind::kClusterIp || t.kind == TargetKind::kNodePort;
  if (r.pod.error.starts_with(kNoPodError) && !failed(r.host)) {
    return "the legs from the pod did not run: the throwaway pod could not be made (see its "
           "error); the legs from the host show that the path itself works";
  }
  if (service && t.endpoints.empty()) {
    return fmt::format(
        "{} has no ready endpoint: ovl rejects its traffic on purpose (TCP reset, "
        "ICMP port unreachable); add an endpoint",
        t.service);
  }
  if (service && refused) {
    return fmt::format(
        "the connection was refused: it reached an endpoint ({}) where nothing "
        "listens on the target port",
        fmt::join(t.endpoints, ", "));
  }
  if (service && r.pod.outcome == Outcome::kOk) {
    return fmt::format(
        "{} answers the pod but not the host: the host's connection carries this node's own "
        "address as its source, so the difference is in how packets from and to that address "
        "travel (reverse-path filtering, masquerading); see the findings above",
        t.service);
  }
  if (service) {
    return fmt::format(
        "no connection to {}: its endpoints ({}) were not reached; see the legs "
        "to their nodes above, and run `ovlctl diagnose` there too",
        t.service, fmt::join(t.endpoints, ", "));
  }
  if (refused) {
    return fmt::format("{} answered with {}: the path works, but nothing listens on port {}/{}",
                       t.ip.toString(),
                       t.probe == ProbeKind::kUdp ? "an ICMP port unreachable" : "a TCP reset",
                       t.port, toString(t.probe));
  }
  if (t.kind == TargetKind::kLocalGateway) {
    return "the throwaway pod cannot reach this node's bridge: its veth or the bridge is broken";
  }
  return fmt::format(
      "packets to {} across the overlay are lost (route/FDB, rp_filter or a "
      "firewall on this node or on {}); run `ovlctl diagnose` on {} too",
      t.peer, t.peer, t.peer);
}

std::string cell(const LegResult& l) {
  switch (l.outcome) {
    case Outcome::kOk:
      return fmt::format("ok {:.1f}ms", l.ms);
    case Outcome::kFail:
      return fmt::format("FAIL {:.0f}ms", l.ms);
    case Outcome::kInconclusive:
      return "? (no reply)";
    case Outcome::kSkipped:
      return "-";
  }
  return "";
}

ordered_json legJson(const LegResult& l) {
  ordered_json j{{"result", toString(l.outcome)}};
  if (l.outcome != Outcome::kSkipped) {
    j["ms"] = std::round(l.ms * 100) / 100;
  }
  j["error"] = l.error;
  return j;
}

// Continuation lines under a bullet's first line.
std::string indented(const std::string& text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') {
      out += "    ";
    }
  }
  return out;
}

// A failing target with its explanations; a target with an inconclusive leg with what can and
// cannot be concluded.
std::string explainedText(const TargetResult& t) {
  std::string out;
  if (!t.explanations.empty()) {
    out += fmt::format("\nFAIL {} {}\n", t.target.label, t.target.address());
  }
  for (const auto& e : t.explanations) {
    if (e.source == "diagnose") {
      out += fmt::format("  * [{}] {}: {}\n    {}\n", e.check, e.subject, e.title,
                         indented(e.explanation));
      if (!e.fixCommand.empty()) {
        out += "    fix: " + e.fixCommand + "\n";
      }
    } else {
      out += fmt::format("  * {}\n    {}\n", e.title, indented(e.explanation));
    }
  }
  const bool podUnsure = t.pod.outcome == Outcome::kInconclusive;
  const bool hostUnsure = t.host.outcome == Outcome::kInconclusive;
  if (podUnsure || hostUnsure) {
    const char* from = podUnsure && hostUnsure ? "pod and host" : podUnsure ? "pod" : "host";
    out += fmt::format("\n? {} {} from {}: {}\n", t.target.label, t.target.address(), from,
                       (podUnsure ? t.pod : t.host).error);
  }
  return out;
}

}  // namespace

std::string toString(ProbeKind k) {
  switch (k) {
    case ProbeKind::kIcmp:
      return "icmp";
    case ProbeKind::kTcp:
      return "tcp";
    case ProbeKind::kUdp:
      return "udp";
  }
  return "";
}

std::string toString(TargetKind k) {
  switch (k) {
    case TargetKind::kLocalGateway:
      return "local-gateway";
    case TargetKind::kPeerGateway:
      return "peer-gateway";
    case TargetKind::kPeerEndpoint:
      return "peer-endpoint";
    case TargetKind::kClusterIp:
      return "cluster-ip";
    case TargetKind::kNodePort:
      return "node-port";
  }
  return "";
}

std::string toString(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kFail:
      return "fail";
    case Outcome::kInconclusive:
      return "inconclusive";
    case Outcome::kSkipped:
      return "skipped";
  }
  return "";
}

std::string Target::address() const {
  if (probe == ProbeKind::kIcmp) {
    return ip.toString() + " (icmp)";
  }
  return fmt::format("{}:{}/{}", ip.toString(), port, toString(probe));
}

ConnectivityPlan planConnectivity(const PlanInputs& in) {
  ConnectivityPlan plan;
  Target local = makeTarget(TargetKind::kLocalGateway, ProbeKind::kIcmp, in.localGateway, 0,
                            "this node's pod gateway");
  local.fromHost = false;  // the host holds this address itself
  plan.targets.push_back(local);
  addPeers(in, plan);
  addServices(in, plan);
  return plan;
}

size_t RunReport::count(Outcome o) const {
  size_t n = 0;
  for (const auto& r : results) {
    n += (r.pod.outcome == o ? 1 : 0) + (r.host.outcome == o ? 1 : 0);
  }
  return n;
}

int RunReport::exitCode() const {
  return count(Outcome::kFail) == 0 && !leftovers ? 0 : 1;
}

std::vector<Explanation> explain(const TargetResult& r, const std::vector<diag::Finding>& findings,
                                 const std::string& vtepName) {
  std::vector<Explanation> out;
  if (!failed(r.pod) && !failed(r.host)) {
    return out;
  }
  for (const auto& f : findings) {
    const bool problem = f.severity != diag::Severity::kInfo && !f.fixed;
    if (problem && concerns(f, r.target, vtepName)) {
      out.push_back(
          Explanation{"diagnose", f.check, f.subject, f.title, f.explanation, f.fixCommand});
    }
  }
  std::vector<std::string> legs;
  if (failed(r.pod)) {
    legs.push_back("from pod: " + r.pod.error);
  }
  if (failed(r.host)) {
    legs.push_back("from host: " + r.host.error);
  }
  out.push_back(Explanation{"probe", "", r.target.label, fmt::format("{}", fmt::join(legs, "; ")),
                            probeStatement(r), ""});
  return out;
}

std::string renderMatrix(const RunReport& r) {
  std::vector<std::array<std::string, 4>> rows{{"TARGET", "ADDRESS", "FROM POD", "FROM HOST"}};
  for (const auto& t : r.results) {
    rows.push_back({t.target.label, t.target.address(), cell(t.pod), cell(t.host)});
  }
  std::array<size_t, 4> width{};
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out = fmt::format("node {}, throwaway pod {}\n", r.node,
                                r.podAddress.empty() ? "(none)" : r.podAddress);
  for (const auto& row : rows) {
    out += fmt::format("{:<{}}  {:<{}}  {:<{}}  {}\n", row[0], width[0], row[1], width[1], row[2],
                       width[2], row[3]);
  }
  out +=
      fmt::format("\n{} legs ok, {} failed, {} inconclusive ({:.0f} ms)\n", r.count(Outcome::kOk),
                  r.count(Outcome::kFail), r.count(Outcome::kInconclusive), r.durationMs);
  for (const auto& n : r.notes) {
    out += "note: " + n + "\n";
  }
  for (const auto& t : r.results) {
    out += explainedText(t);
  }
  return out;
}

ordered_json toJson(const RunReport& r) {
  ordered_json targets = ordered_json::array();
  for (const auto& t : r.results) {
    ordered_json ex = ordered_json::array();
    for (const auto& e : t.explanations) {
      ex.push_back({{"source", e.source},
                    {"check", e.check},
                    {"subject", e.subject},
                    {"title", e.title},
                    {"explanation", e.explanation},
                    {"fixCommand", e.fixCommand}});
    }
    targets.push_back({{"label", t.target.label},
                       {"kind", toString(t.target.kind)},
                       {"probe", toString(t.target.probe)},
                       {"ip", t.target.ip.toString()},
                       {"port", t.target.port},
                       {"peer", t.target.peer},
                       {"service", t.target.service},
                       {"fromPod", legJson(t.pod)},
                       {"fromHost", legJson(t.host)},
                       {"explanations", ex}});
  }
  return {{"schemaVersion", kConnectivitySchemaVersion},
          {"node", r.node},
          {"podAddress", r.podAddress},
          {"exitCode", r.exitCode()},
          {"passed", r.count(Outcome::kOk)},
          {"failed", r.count(Outcome::kFail)},
          {"inconclusive", r.count(Outcome::kInconclusive)},
          {"durationMs", std::round(r.durationMs)},
          {"notes", r.notes},
          {"targets", targets}};
}

}  // namespace ovl::cli
