// cli/connectivity_plan: the targets planned from a cluster, which findings explain a failing
// leg, the matrix and the JSON.
#include "cli/connectivity_plan.h"

#include <gtest/gtest.h>

#include <string>

namespace ovl::cli {
namespace {

Ipv4 ip(const char* s) {
  return *Ipv4::parse(s);
}

OverlayPlan overlay() {
  OverlayPlan p;
  p.nodeName = "node1";
  p.underlayIp = ip("192.168.50.1");
  p.podSubnet = *Ipv4Prefix::parse("10.244.1.0/24");
  p.vtepName = "ovl.1";
  p.peers.push_back(PeerPlan{"node2", ip("10.244.2.0"), MacAddr{}, ip("192.168.50.2"),
                             *Ipv4Prefix::parse("10.244.2.0/24")});
  p.peers.push_back(PeerPlan{"node3", ip("10.244.3.0"), MacAddr{}, ip("192.168.50.3"),
                             *Ipv4Prefix::parse("10.244.3.0/24")});
  return p;
}

svc::Endpoint endpoint(const char* addr, const char* node, bool ready = true) {
  svc::Endpoint e;
  e.ip = ip(addr);
  e.node = node;
  e.ready = ready;
  return e;
}

std::vector<svc::Service> services() {
  svc::Service web;
  web.ns = "default";
  web.name = "web";
  web.type = svc::ServiceType::kNodePort;
  web.clusterIps = {ip("10.96.0.10")};
  web.ports = {svc::ServicePort{"http", svc::Protocol::kTcp, 80, 8080, 30080}};
  web.endpoints = {endpoint("10.244.2.11", "node2"), endpoint("10.244.3.11", "node3", false),
                   endpoint("10.244.1.11", "node1")};
  web.endpoints[0].ports["http"] = 9090;  // overrides targetPort
  svc::Service dns;
  dns.ns = "kube";
  dns.name = "dns";
  dns.clusterIps = {ip("10.96.0.53")};
  dns.ports = {svc::ServicePort{"", svc::Protocol::kUdp, 53, 5353, std::nullopt},
               svc::ServicePort{"sctp", svc::Protocol::kSctp, 99, 0, std::nullopt}};
  svc::Service empty;
  empty.ns = "default";
  empty.name = "empty";
  empty.clusterIps = {ip("10.96.0.11")};
  empty.ports = {svc::ServicePort{"", svc::Protocol::kTcp, 80, 0, std::nullopt}};
  return {web, dns, empty};
}

std::vector<std::string> labels(const ConnectivityPlan& p) {
  std::vector<std::string> out;
  for (const auto& t : p.targets) {
    out.push_back(t.label + " " + t.address());
  }
  return out;
}

TEST(ConnectivityPlan, TargetsFromPeersAndServices) {
  const OverlayPlan o = overlay();
  const auto s = services();
  const auto plan = planConnectivity(PlanInputs{&o, &s, ip("10.244.1.1"), std::nullopt});
  EXPECT_EQ(labels(plan), (std::vector<std::string>{
                              "this node's pod gateway 10.244.1.1 (icmp)",
                              "node2 pod gateway 10.244.2.1 (icmp)",
                              "node2 pod (default/web endpoint) 10.244.2.11:9090/tcp",
                              "node3 pod gateway 10.244.3.1 (icmp)",
                              "default/web cluster IP 10.96.0.10:80/tcp",
                              "default/web NodePort 192.168.50.1:30080/tcp",
                              "kube/dns cluster IP 10.96.0.53:53/udp",
                              "default/empty cluster IP 10.96.0.11:80/tcp",
                          }));
  EXPECT_FALSE(plan.targets[0].fromHost);  // the host holds its own gateway address
  EXPECT_TRUE(plan.targets[1].fromHost);
  EXPECT_EQ(plan.targets[1].peer, "node2");
  EXPECT_EQ(plan.targets[4].endpointNodes, std::vector<std::string>{"node2"});  // node3 not ready
  // This node's endpoint is listed, but is no peer whose findings could explain a failure.
  EXPECT_EQ(plan.targets[4].endpoints,
            (std::vector<std::string>{"10.244.2.11 on node2", "10.244.1.11 on node1"}));
  EXPECT_TRUE(plan.targets[7].endpoints.empty());
  ASSERT_EQ(plan.notes.size(), 2u);
  EXPECT_EQ(plan.notes[0].rfind("node3: nothing is known to listen there", 0), 0u) << plan.notes[0];
  EXPECT_NE(plan.notes[0].find("ICMP only"), std::string::npos);
  EXPECT_EQ(plan.notes[1], "kube/dns port 99/sctp: not probed (SCTP probes are not implemented)");
}

TEST(ConnectivityPlan, AgentPortOnEveryAddressIsAListenerOnEachPeer) {
  const OverlayPlan o = overlay();
  const std::vector<svc::Service> none;
  const auto plan = planConnectivity(PlanInputs{&o, &none, ip("10.244.1.1"), uint16_t{9765}});
  EXPECT_EQ(labels(plan), (std::vector<std::string>{
                              "this node's pod gateway 10.244.1.1 (icmp)",
                              "node2 pod gateway 10.244.2.1 (icmp)",
                              "node2 agent port 10.244.2.1:9765/tcp",
                              "node3 pod gateway 10.244.3.1 (icmp)",
                              "node3 agent port 10.244.3.1:9765/tcp",
                          }));
  EXPECT_TRUE(plan.notes.empty());
}

TEST(ConnectivityPlan, UdpEndpointIsProbedAndOneEndpointPerProtocol) {
  OverlayPlan o = overlay();
  auto s = services();
  s[1].endpoints = {endpoint("10.244.3.20", "node3"), endpoint("10.244.3.21", "node3")};
  const auto plan = planConnectivity(PlanInputs{&o, &s, ip("10.244.1.1"), std::nullopt});
  int udp = 0;
  for (const auto& t : plan.targets) {
    if (t.kind == TargetKind::kPeerEndpoint && t.probe == ProbeKind::kUdp) {
      ++udp;
      EXPECT_EQ(t.address(), "10.244.3.20:5353/udp");
      EXPECT_EQ(t.peer, "node3");
    }
  }
  EXPECT_EQ(udp, 1);
  EXPECT_EQ(plan.notes.size(), 1u);  // only SCTP: node3 has a listener now
}

diag::Finding finding(const char* check, const char* subject, diag::Severity s,
                      const char* evidence = "") {
  diag::Finding f;
  f.check = check;
  f.severity = s;
  f.subject = subject;
  f.title = std::string(check) + " title";
  f.explanation = "why";
  if (*evidence != '\0') {
    f.evidence.push_back({"path", evidence});
  }
  f.fixCommand = "fix it";
  return f;
}

TargetResult failing(const Target& t, const char* podError, const char* hostError) {
  TargetResult r{
      t, LegResult{Outcome::kFail, 1000, podError}, LegResult{Outcome::kFail, 1000, hostError}, {}};
  return r;
}

std::vector<std::string> checksOf(const std::vector<Explanation>& ex) {
  std::vector<std::string> out;
  for (const auto& e : ex) {
    out.push_back(e.source == "probe" ? "probe" : e.check + " " + e.subject);
  }
  return out;
}

TEST(ConnectivityExplain, FindingsThatConcernTheTarget) {
  const OverlayPlan o = overlay();
  const auto s = services();
  const auto plan = planConnectivity(PlanInputs{&o, &s, ip("10.244.1.1"), std::nullopt});
  using diag::Severity;
  const std::vector<diag::Finding> findings = {
      finding("peer_entries", "peer node2", Severity::kError),
      finding("peer_entries", "peer node3", Severity::kError),
      finding("rp_filter", "eth0", Severity::kError,
              "host on node1 -> service -> endpoint on node2"),
      finding("rp_filter", "ovl.1", Severity::kError, "pods of node22 -> pods here"),
      finding("nft_table", "table ip ovl", Severity::kError),
      finding("ip_forward", "net.ipv4.ip_forward", Severity::kError),
      finding("log_martians", "eth0", Severity::kInfo),
      finding("hairpin", "vp1", Severity::kWarning),
  };
  auto node2 = explain(failing(plan.targets[1], "no answer within 1000 ms", ""), findings, "ovl.1");
  EXPECT_EQ(checksOf(node2), (std::vector<std::string>{"peer_entries peer node2", "rp_filter eth0",
                                                       "ip_forward net.ipv4.ip_forward", "probe"}));
  EXPECT_EQ(node2.back().title, "from pod: no answer within 1000 ms; from host: ");
  auto web = explain(failing(plan.targets[4], "connection refused", "connection refused"), findings,
                     "ovl.1");
  EXPECT_EQ(checksOf(web), (std::vector<std::string>{"peer_entries peer node2", "rp_filter eth0",
                                                     "nft_table table ip ovl",
                                                     "ip_forward net.ipv4.ip_forward", "probe"}));
  EXPECT_NE(web.back().explanation.find("reached an endpoint (10.244.2.11 on node2, 10.244.1.11 "
                                        "on node1) where nothing listens"),
            std::string::npos);
  auto local = explain(failing(plan.targets[0], "no answer within 1000 ms", ""), findings, "ovl.1");
  EXPECT_EQ(checksOf(local), (std::vector<std::string>{"hairpin vp1", "probe"}));
}

TEST(ConnectivityExplain, MissingVtepConcernsEveryPeerAndPassingTargetsNeedNothing) {
  const OverlayPlan o = overlay();
  const auto s = services();
  const auto plan = planConnectivity(PlanInputs{&o, &s, ip("10.244.1.1"), std::nullopt});
  const std::vector<diag::Finding> findings = {
      finding("peer_entries", "ovl.1", diag::Severity::kError)};
  EXPECT_EQ(checksOf(explain(failing(plan.targets[3], "x", "y"), findings, "ovl.1")),
            (std::vector<std::string>{"peer_entries ovl.1", "probe"}));
  TargetResult ok{plan.targets[3],
                  LegResult{Outcome::kOk, 1, ""},
                  LegResult{Outcome::kInconclusive, 1000, "no reply"},
                  {}};
  EXPECT_TRUE(explain(ok, findings, "ovl.1").empty());
  diag::Finding fixed = findings[0];
  fixed.fixed = true;
  EXPECT_EQ(checksOf(explain(failing(plan.targets[3], "x", "y"), {fixed}, "ovl.1")),
            std::vector<std::string>{"probe"});
}

TEST(ConnectivityExplain, ServiceWithoutEndpointsIsRejectedOnPurpose) {
  const OverlayPlan o = overlay();
  const auto s = services();
  const auto plan = planConnectivity(PlanInputs{&o, &s, ip("10.244.1.1"), std::nullopt});
  auto ex =
      explain(failing(plan.targets[7], "connection refused", "connection refused"), {}, "ovl.1");
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].subject, "default/empty cluster IP");
  EXPECT_NE(ex[0].explanation.find("default/empty has no ready endpoint"), std::string::npos);
}

TEST(ConnectivityExplain, RefusedEndpointSaysHowItWasRefused) {
  OverlayPlan o = overlay();
  auto s = services();
  s[1].endpoints = {endpoint("10.244.3.20", "node3")};
  const auto plan = planConnectivity(PlanInputs{&o, &s, ip("10.244.1.1"), std::nullopt});
  std::vector<std::string> said;
  for (const auto& t : plan.targets) {
    if (t.kind == TargetKind::kPeerEndpoint) {
      said.push_back(explain(failing(t, "connection refused", "connection refused"), {}, "ovl.1")
                         .back()
                         .explanation);
    }
  }
  EXPECT_EQ(said, (std::vector<std::string>{
                      "10.244.2.11 answered with a TCP reset: the path works, but nothing listens "
                      "on port 9090/tcp",
                      "10.244.3.20 answered with an ICMP port unreachable: the path works, but "
                      "nothing listens on port 5353/udp"}));
}

TEST(ConnectivityExplain, ServiceFailingOnlyFromTheHost) {
  const OverlayPlan o = overlay();
  const auto s = services();
  const auto plan = planConnectivity(PlanInputs{&o, &s, ip("10.244.1.1"), std::nullopt});
  TargetResult r{plan.targets[4],
                 LegResult{Outcome::kOk, 1, ""},
                 LegResult{Outcome::kFail, 1000, "no answer within 1000 ms"},
                 {}};
  auto ex = explain(r, {}, "ovl.1");
  ASSERT_EQ(ex.size(), 1u);
  EXPECT_EQ(ex[0].title, "from host: no answer within 1000 ms");
  EXPECT_EQ(ex[0].explanation.rfind("default/web answers the pod but not the host", 0), 0u)
      << ex[0].explanation;
}

TEST(ConnectivityReport, MultiLineExplanationsStayIndentedAndBothUnsureLegsShareALine) {
  const OverlayPlan o = overlay();
  const auto s = services();
  const auto plan = planConnectivity(PlanInputs{&o, &s, ip("10.244.1.1"), std::nullopt});
  RunReport r;
  r.results.push_back(
      failing(plan.targets[1], "no answer within 1000 ms", "no answer within 1000 ms"));
  diag::Finding f = finding("rp_filter", "eth0", diag::Severity::kError, "endpoint on node2");
  f.explanation = "first line\nsecond line";
  r.results.back().explanations = explain(r.results.back(), {f}, "ovl.1");
  r.results.push_back({plan.targets[6],
                       LegResult{Outcome::kInconclusive, 1000, "silence"},
                       LegResult{Outcome::kInconclusive, 1000, "silence"},
                       {}});
  const std::string m = renderMatrix(r);
  EXPECT_NE(m.find("  * [rp_filter] eth0: rp_filter title\n    first line\n    second line\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("\n? kube/dns cluster IP 10.96.0.53:53/udp from pod and host: silence\n"),
            std::string::npos)
      << m;
}

TEST(ConnectivityExplain, NoPodIsNotAPathProblem) {
  const OverlayPlan o = overlay();
  const auto s = services();
  const auto plan = planConnectivity(PlanInputs{&o, &s, ip("10.244.1.1"), std::nullopt});
  TargetResult r{plan.targets[1],
                 LegResult{Outcome::kFail, 0, "no throwaway pod: no bridge"},
                 LegResult{Outcome::kOk, 1, ""},
                 {}};
  auto ex = explain(r, {finding("peer_entries", "peer node2", diag::Severity::kError)}, "ovl.1");
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[1].title, "from pod: no throwaway pod: no bridge");
  EXPECT_NE(ex[1].explanation.find("the legs from the pod did not run"), std::string::npos);
}

RunReport report() {
  const OverlayPlan o = overlay();
  const auto s = services();
  const auto plan = planConnectivity(PlanInputs{&o, &s, ip("10.244.1.1"), std::nullopt});
  RunReport r;
  r.node = "node1";
  r.podAddress = "10.244.1.2/24";
  r.durationMs = 1040.4;
  r.notes = {"a note"};
  r.results.push_back({plan.targets[0], LegResult{Outcome::kOk, 0.44, ""}, LegResult{}, {}});
  r.results.push_back(
      failing(plan.targets[1], "no answer within 1000 ms", "no answer within 1000 ms"));
  r.results.back().explanations = explain(
      r.results.back(), {finding("peer_entries", "peer node2", diag::Severity::kError)}, "ovl.1");
  r.results.push_back({plan.targets[6],
                       LegResult{Outcome::kOk, 1.26, ""},
                       LegResult{Outcome::kInconclusive, 1000, "no reply"},
                       {}});
  return r;
}

TEST(ConnectivityReport, ExitCodeCountsOnlyFailures) {
  RunReport r = report();
  EXPECT_EQ(r.count(Outcome::kOk), 2u);
  EXPECT_EQ(r.count(Outcome::kFail), 2u);
  EXPECT_EQ(r.count(Outcome::kInconclusive), 1u);
  EXPECT_EQ(r.count(Outcome::kSkipped), 1u);
  EXPECT_EQ(r.exitCode(), 1);
  r.results.erase(r.results.begin() + 1);
  EXPECT_EQ(r.exitCode(), 0);  // inconclusive and skipped legs do not fail a run
  r.leftovers = true;
  EXPECT_EQ(r.exitCode(), 1);  // a pod that could not be removed does
}

TEST(ConnectivityReport, Matrix) {
  const std::string m = renderMatrix(report());
  EXPECT_EQ(m.substr(0, m.find("\n\n")),
            "node node1, throwaway pod 10.244.1.2/24\n"
            "TARGET                   ADDRESS            FROM POD     FROM HOST\n"
            "this node's pod gateway  10.244.1.1 (icmp)  ok 0.4ms     -\n"
            "node2 pod gateway        10.244.2.1 (icmp)  FAIL 1000ms  FAIL 1000ms\n"
            "kube/dns cluster IP      10.96.0.53:53/udp  ok 1.3ms     ? (no reply)");
  EXPECT_NE(m.find("2 legs ok, 2 failed, 1 inconclusive (1040 ms)\nnote: a note\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("\nFAIL node2 pod gateway 10.244.2.1 (icmp)\n"
                   "  * [peer_entries] peer node2: peer_entries title\n    why\n    fix: fix it\n"
                   "  * from pod: no answer within 1000 ms; from host: no answer within 1000 ms\n"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("FAIL kube/dns"), std::string::npos);
  EXPECT_NE(m.find("\n? kube/dns cluster IP 10.96.0.53:53/udp from host: no reply\n"),
            std::string::npos)
      << m;
}

TEST(ConnectivityReport, Json) {
  const auto j = toJson(report());
  EXPECT_EQ(j["schemaVersion"], 1);
  EXPECT_EQ(j["node"], "node1");
  EXPECT_EQ(j["podAddress"], "10.244.1.2/24");
  EXPECT_EQ(j["exitCode"], 1);
  EXPECT_EQ(j["passed"], 2);
  EXPECT_EQ(j["failed"], 2);
  EXPECT_EQ(j["inconclusive"], 1);
  EXPECT_EQ(j["durationMs"], 1040);
  EXPECT_EQ(j["notes"], nlohmann::ordered_json::array({"a note"}));
  ASSERT_EQ(j["targets"].size(), 3u);
  const auto& local = j["targets"][0];
  EXPECT_EQ(local["kind"], "local-gateway");
  EXPECT_EQ(local["probe"], "icmp");
  EXPECT_EQ(local["fromPod"]["result"], "ok");
  EXPECT_EQ(local["fromPod"]["ms"], 0.44);
  EXPECT_EQ(local["fromHost"], (nlohmann::ordered_json{{"result", "skipped"}, {"error", ""}}));
  const auto& peer = j["targets"][1];
  EXPECT_EQ(peer["peer"], "node2");
  EXPECT_EQ(peer["ip"], "10.244.2.1");
  EXPECT_EQ(peer["port"], 0);
  EXPECT_EQ(peer["fromHost"]["error"], "no answer within 1000 ms");
  ASSERT_EQ(peer["explanations"].size(), 2u);
  EXPECT_EQ(peer["explanations"][0]["source"], "diagnose");
  EXPECT_EQ(peer["explanations"][0]["check"], "peer_entries");
  EXPECT_EQ(peer["explanations"][0]["fixCommand"], "fix it");
  EXPECT_EQ(peer["explanations"][1]["source"], "probe");
  const auto& dns = j["targets"][2];
  EXPECT_EQ(dns["service"], "kube/dns");
  EXPECT_EQ(dns["kind"], "cluster-ip");
  EXPECT_EQ(dns["probe"], "udp");
  EXPECT_EQ(dns["port"], 53);
  EXPECT_EQ(dns["fromHost"]["result"], "inconclusive");
}

}  // namespace
}  // namespace ovl::cli
