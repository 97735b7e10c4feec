// The pure parts of diagnostics/: sysctl key naming and the drop-in, the paths a node's packets
// take (which legs arrive where), the report's text and JSON, the nftables analyses on a model
// ruleset, the VXLAN checksum-bug kernel range, and `ovlctl trace`'s service part.
#include <gtest/gtest.h>

#include <linux/netfilter.h>

#include <algorithm>

#include "diagnostics/ethtool.h"
#include "diagnostics/finding.h"
#include "diagnostics/nft_inspect.h"
#include "diagnostics/paths.h"
#include "diagnostics/sysctl.h"
#include "diagnostics/trace.h"
#include "model/config.h"

namespace ovl::diag {
namespace {

Ipv4 ip(const char* s) {
  return *Ipv4::parse(s);
}

// --- sysctl ---------------------------------------------------------------------------------

TEST(SysctlKeys, DotsInInterfaceNamesAreWrittenAsSlashes) {
  EXPECT_EQ(confKey("ovl.1", "rp_filter"), "net.ipv4.conf.ovl/1.rp_filter");
  EXPECT_EQ(confKey("eth0", "rp_filter"), "net.ipv4.conf.eth0.rp_filter");
  EXPECT_EQ(confKey("enp3s0.200", "log_martians"), "net.ipv4.conf.enp3s0/200.log_martians");
  EXPECT_EQ(confPath("ovl.1", "rp_filter"), "sys/net/ipv4/conf/ovl.1/rp_filter");
}

TEST(SysctlKeys, EffectiveRpFilterIsTheMaximumAndSaysWhereItComesFrom) {
  EXPECT_EQ((RpFilter{1, 0}).effective(), 1);
  EXPECT_EQ((RpFilter{1, 2}).effective(), 2);
  EXPECT_EQ((RpFilter{0, 0}).effective(), 0);
  EXPECT_EQ((RpFilter{1, 0}).describe("ovl.1"),
            "strict (1): conf/all=1, conf/ovl.1=0; the higher applies, set by conf/all");
  EXPECT_EQ((RpFilter{0, 2}).describe("eth0"),
            "loose (2): conf/all=0, conf/eth0=2; the higher applies, set by conf/eth0");
}

TEST(SysctlKeys, DropInListsEachInterfaceOnceAndReadsBack) {
  const std::string text = dropInText({"ovl.1", "eth0", "ovl.1"});
  EXPECT_NE(text.find("\nnet.ipv4.conf.eth0.rp_filter = 2\nnet.ipv4.conf.ovl/1.rp_filter = 2\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(dropInInterfaces(text), (std::vector<std::string>{"eth0", "ovl.1"}));
  EXPECT_EQ(dropInInterfaces("# x\nnet.ipv4.ip_forward = 1\nkernel.x=1\n"),
            std::vector<std::string>{});
  // Sorts after systemd's 50-default.conf and Debian's 99-sysctl.conf.
  EXPECT_GT(std::string(kDropInName), "50-default.conf");
  EXPECT_GT(std::string(kDropInName), "99-sysctl.conf");
}

TEST(SysctlKeys, NetstatCounterReadsTheNamedColumn) {
  const std::string netstat =
      "TcpExt: SyncookiesSent IPReversePathFilter TW\n"
      "TcpExt: 0 17 3\n"
      "IpExt: InNoRoutes\n"
      "IpExt: 5\n";
  EXPECT_EQ(netstatCounter(netstat, "TcpExt", "IPReversePathFilter"), 17);
  EXPECT_EQ(netstatCounter(netstat, "IpExt", "InNoRoutes"), 5);
  EXPECT_EQ(netstatCounter(netstat, "TcpExt", "Nope"), std::nullopt);
}

// --- paths ------------------------------------------------------------------------------------

Cluster threeNodes(const std::string& masquerade, bool service, bool nodePort) {
  std::string yaml =
      "network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\n"
      "  masquerade: " +
      masquerade +
      "\nnodes:\n"
      "  - {name: a, underlayIP: 192.168.50.1, podSubnet: 10.244.1.0/24}\n"
      "  - {name: b, underlayIP: 192.168.50.2, podSubnet: 10.244.2.0/24}\n"
      "  - {name: c, underlayIP: 192.168.50.3, podSubnet: 10.244.3.0/24}\n";
  if (service) {
    yaml += "services:\n  - namespace: default\n    name: web\n";
    yaml += nodePort ? "    type: NodePort\n" : "";
    yaml += "    clusterIP: 10.96.0.10\n    ports: [{name: http, port: 80, targetPort: 8080";
    yaml += nodePort ? ", nodePort: 30080}]\n" : "}]\n";
    yaml +=
        "    endpoints:\n      - {ip: 10.244.2.11, node: b, weight: 1}\n"
        "      - {ip: 10.244.3.11, node: c, weight: 3}\n";
  }
  ClusterLoad l = parseCluster(yaml, "cluster.yaml");
  EXPECT_TRUE(l.issues.empty()) << l.issues.front().toString();
  return l.cluster;
}

std::vector<Probe> probesOf(const Cluster& c, const std::string& self,
                            std::optional<Ipv4> client = std::nullopt, size_t maxPeers = 0) {
  auto plan = planOverlay(c, self, PlanNames{"", "ovlbr0"});
  EXPECT_TRUE(plan);
  PathInputs in;
  in.plan = &*plan;
  in.network = c.network;
  in.services = summarize(c.services);
  in.underlayInterface = "eth0";
  in.outsideClient = client;
  in.maxPeers = maxPeers;
  return planProbes(in);
}

bool hasProbe(const std::vector<Probe>& ps, const std::string& iif, const char* src,
              const char* dst) {
  return std::any_of(ps.begin(), ps.end(), [&](const Probe& p) {
    return p.iif == iif && p.src == ip(src) && p.dst == ip(dst);
  });
}

TEST(Paths, PodToPodLegsArriveOnTheVtepAndTheBridge) {
  const auto ps = probesOf(threeNodes("off-cluster", true, false), "a");
  EXPECT_EQ(ps.size(), 4U);  // two legs per peer, no service legs under masquerade
  EXPECT_TRUE(hasProbe(ps, "ovl.1", "10.244.2.2", "10.244.1.2"));
  EXPECT_TRUE(hasProbe(ps, "ovlbr0", "10.244.1.2", "10.244.3.2"));
  EXPECT_EQ(ps[0].command(), "ip route get 10.244.1.2 from 10.244.2.2 iif ovl.1");
  EXPECT_EQ(podAddress(*Ipv4Prefix::parse("10.244.7.0/24")), ip("10.244.7.2"));
}

TEST(Paths, MasqueradeNoneAddsTheHostToServiceRequestAndReply) {
  const auto ps = probesOf(threeNodes("none", true, false), "b");
  // The request from a's host arrives on b's VTEP with a's underlay address...
  EXPECT_TRUE(hasProbe(ps, "ovl.1", "192.168.50.1", "10.244.2.2"));
  // ...and the reply to b's host from c's pod arrives on b's underlay.
  EXPECT_TRUE(hasProbe(ps, "eth0", "10.244.3.2", "192.168.50.2"));
  const auto it = std::find_if(ps.begin(), ps.end(), [](const Probe& p) {
    return p.iif == "eth0" && p.src == ip("10.244.1.2");
  });
  ASSERT_NE(it, ps.end());
  EXPECT_EQ(it->path, "host on b -> service -> endpoint on a (masquerade none)");
  EXPECT_EQ(it->leg, "reply arriving on b");
  // No service with endpoints: no service legs.
  EXPECT_EQ(probesOf(threeNodes("none", false, false), "b").size(), 4U);
}

TEST(Paths, NodePortLegsNeedAnOutsideClientAndTheSampleLimitsPeers) {
  const Cluster c = threeNodes("none", true, true);
  const auto without = probesOf(c, "a");
  const auto with = probesOf(c, "a", ip("192.168.50.254"));
  EXPECT_EQ(with.size(), without.size() + 4);
  EXPECT_TRUE(hasProbe(with, "ovl.1", "192.168.50.254", "10.244.1.2"));
  EXPECT_TRUE(hasProbe(with, "eth0", "192.168.50.254", "10.244.2.2"));
  EXPECT_EQ(probesOf(c, "a", std::nullopt, 1).size(), without.size() / 2);
}

// --- report -----------------------------------------------------------------------------------

Finding finding(const char* check, Severity s, const char* subject, bool fixed = false) {
  Finding f;
  f.check = check;
  f.severity = s;
  f.subject = subject;
  f.title = std::string(check) + " title";
  f.explanation = "why";
  f.evidence = {{"rp_filter", "strict (1)"}};
  f.fixCommand = "sysctl -w x=2";
  f.fixable = true;
  f.fixed = fixed;
  return f;
}

TEST(ReportFormat, ExitCodesFollowProblemsThenChecksThatCouldNotRun) {
  Report r;
  EXPECT_EQ(r.exitCode(), 0);
  r.findings.push_back(finding("log_martians", Severity::kInfo, "eth0"));
  EXPECT_EQ(r.exitCode(), 0);
  r.notChecked.push_back("nftables: EPERM");
  EXPECT_EQ(r.exitCode(), 2);
  r.findings.push_back(finding("mtu", Severity::kWarning, "vp1"));
  EXPECT_EQ(r.exitCode(), 1);
  r.findings.back().fixed = true;
  EXPECT_EQ(r.exitCode(), 2);
  EXPECT_EQ(r.problems(), 0U);
}

TEST(ReportFormat, HumanTextGroupsBySeverityThenFixed) {
  Report r;
  r.node = "node2";
  r.checksRun = {"rp_filter", "mtu"};
  r.findings = {finding("mtu", Severity::kWarning, "vp1"),
                finding("rp_filter", Severity::kError, "ovl.1"),
                finding("rp_filter", Severity::kError, "eth0", true)};
  r.actions = {"net.ipv4.conf.eth0.rp_filter = 2 (was 1)"};
  const std::string text = formatHuman(r);
  EXPECT_EQ(text.rfind("ovl diagnose on node node2: 2 check(s) run, 2 problem(s)\n", 0), 0U)
      << text;
  const auto err = text.find("\nERROR (1)\n* [rp_filter] ovl.1: rp_filter title\n");
  const auto warn = text.find("\nWARNING (1)\n* [mtu] vp1: mtu title\n");
  const auto fixed = text.find("\nFIXED (1)\n* [rp_filter] eth0: rp_filter title (was: error)\n");
  ASSERT_NE(err, std::string::npos) << text;
  ASSERT_NE(warn, std::string::npos) << text;
  ASSERT_NE(fixed, std::string::npos) << text;
  EXPECT_LT(err, warn);
  EXPECT_LT(warn, fixed);
  EXPECT_NE(text.find("    fix: sysctl -w x=2   (or: ovlctl diagnose --fix)\n"), std::string::npos);
  EXPECT_NE(text.find("\nCHANGED (1)\n* net.ipv4.conf.eth0.rp_filter = 2 (was 1)\n"),
            std::string::npos);
}

TEST(ReportFormat, LongExplanationsAreWrapped) {
  Report r;
  Finding f = finding("mtu", Severity::kError, "x");
  f.explanation = std::string(60, 'a') + " " + std::string(60, 'b');
  r.findings.push_back(f);
  const std::string text = formatHuman(r);
  EXPECT_NE(text.find("    " + std::string(60, 'a') + "\n    " + std::string(60, 'b') + "\n"),
            std::string::npos)
      << text;
}

TEST(ReportFormat, JsonHasEveryDocumentedField) {
  Report r;
  r.node = "n";
  r.checksRun = {"rp_filter"};
  r.findings = {finding("rp_filter", Severity::kError, "ovl.1")};
  const auto j = toJson(r);
  EXPECT_EQ(j["schemaVersion"], 1);
  EXPECT_EQ(j["exitCode"], 1);
  EXPECT_EQ(j["problems"], 1);
  for (const char* k : {"node", "checksRun", "findings", "notChecked", "actions"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  const auto& f = j["findings"][0];
  EXPECT_EQ(f["severity"], "error");
  EXPECT_EQ(f["evidence"][0]["name"], "rp_filter");
  EXPECT_EQ(f["evidence"][0]["value"], "strict (1)");
  for (const char* k :
       {"check", "subject", "title", "explanation", "fixCommand", "fixable", "fixed"}) {
    EXPECT_TRUE(f.contains(k)) << k;
  }
  EXPECT_EQ(f.size(), 9U);  // no undocumented field (additionalProperties: false)
}

// --- nftables analyses --------------------------------------------------------------------------

NftChain chain(const char* table, uint32_t hook, uint32_t policy, std::vector<NftRule> rules) {
  NftChain c;
  c.family = "inet";
  c.table = table;
  c.name = "c";
  c.hook = hook;
  c.type = "filter";
  c.policy = policy;
  c.rules = std::move(rules);
  return c;
}

NftRule rule(Verdict v, std::optional<uint8_t> proto = std::nullopt,
             std::optional<uint16_t> dport = std::nullopt) {
  NftRule r;
  // Appended, not assigned: GCC 12 at -O3 (a Release build) reports a false -Wrestrict in the
  // inlined operator=(const char*) (GCC bugs 105329, 105651).
  r.family.append("inet");
  r.table.append("t");
  r.chain.append("c");
  r.verdict = v;
  r.l4proto = proto;
  r.dport = dport;
  return r;
}

TEST(NftAnalysis, VxlanPortDropsAndPolicyDrop) {
  NftRuleset rs;
  rs.chains.push_back(chain("t", NF_INET_LOCAL_IN, NF_ACCEPT, {rule(Verdict::kDrop, 17, 4789)}));
  auto f = vxlanPortDrops(rs, 4789, "ovl");
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].severity, Severity::kError);
  EXPECT_EQ(f[0].fixCommand, "nft insert rule inet t c udp dport 4789 accept");
  // Another port, or TCP: not ours.
  rs.chains[0].rules = {rule(Verdict::kDrop, 17, 53), rule(Verdict::kDrop, 6, 4789)};
  EXPECT_TRUE(vxlanPortDrops(rs, 4789, "ovl").empty());
  // Policy drop: only an accept of the port before it helps.
  rs.chains[0].policy = NF_DROP;
  EXPECT_EQ(vxlanPortDrops(rs, 4789, "ovl").size(), 1U);
  rs.chains[0].rules.insert(rs.chains[0].rules.begin(), rule(Verdict::kAccept, 17, 4789));
  EXPECT_TRUE(vxlanPortDrops(rs, 4789, "ovl").empty());
  // ovl's own table is never reported; nor an output chain.
  rs.chains = {chain("t", NF_INET_LOCAL_OUT, NF_DROP, {})};
  EXPECT_TRUE(vxlanPortDrops(rs, 4789, "ovl").empty());
}

TEST(NftAnalysis, ForwardDrops) {
  NftRuleset rs;
  rs.chains.push_back(chain("t", NF_INET_FORWARD, NF_DROP, {}));
  EXPECT_EQ(
      forwardDrops(rs, *Ipv4Prefix::parse("10.244.0.0/16"), {"ovl.1", "ovlbr0"}, "ovl").size(), 1U);
  NftRule accept = rule(Verdict::kAccept);
  accept.ifnames = {"ovlbr0"};
  rs.chains[0].rules = {accept};
  EXPECT_TRUE(
      forwardDrops(rs, *Ipv4Prefix::parse("10.244.0.0/16"), {"ovl.1", "ovlbr0"}, "ovl").empty());
  NftRule other = rule(Verdict::kDrop);
  other.addrs = {*Ipv4Prefix::parse("172.17.0.0/16")};
  rs.chains[0] = chain("t", NF_INET_FORWARD, NF_ACCEPT, {other});
  EXPECT_TRUE(
      forwardDrops(rs, *Ipv4Prefix::parse("10.244.0.0/16"), {"ovl.1", "ovlbr0"}, "ovl").empty());
  rs.chains[0].rules = {rule(Verdict::kDrop)};  // unconditional drop
  EXPECT_EQ(forwardDrops(rs, *Ipv4Prefix::parse("10.244.0.0/16"), {"ovl.1"}, "ovl").size(), 1U);
}

TEST(NftAnalysis, OwnTableComparison) {
  OwnTable want, have;
  want.exists = have.exists = true;
  want.keys["services"] = {"10.96.0.10 . tcp . 80", "10.96.0.11 . tcp . 80"};
  have.keys["services"] = {"10.96.0.10 . tcp . 80", "10.96.0.99 . tcp . 80"};
  auto f = compareOwnTable(want, have, "ovl");
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].subject, "table ip ovl set services");
  EXPECT_EQ(f[0].title, "out of step with the datastore: 1 element(s) missing, 1 extra");
  have.exists = false;
  EXPECT_EQ(compareOwnTable(want, have, "ovl")[0].title, "ovl's nftables table is missing");
  EXPECT_TRUE(compareOwnTable(want, want, "ovl").empty());
}

// --- kernel range of the VXLAN checksum bug ----------------------------------------------------

TEST(Ethtool, VxlanChecksumBugKernels) {
  EXPECT_TRUE(kernelHasVxlanChecksumBug("5.4.0-150-generic"));
  EXPECT_TRUE(kernelHasVxlanChecksumBug("4.19.0-25-amd64"));
  EXPECT_TRUE(kernelHasVxlanChecksumBug("3.10.0-1160.el7.x86_64"));
  EXPECT_FALSE(kernelHasVxlanChecksumBug("5.7.0"));
  EXPECT_FALSE(kernelHasVxlanChecksumBug("6.1.0-18-amd64"));
  EXPECT_FALSE(kernelHasVxlanChecksumBug("garbage"));
}

// --- trace ---------------------------------------------------------------------------------------

TEST(Trace, ParsesFlowsAndNamesWhatIsWrong) {
  auto f = parseFlow("10.244.1.2", "10.96.0.10:80/udp");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->toString(), "10.244.1.2 -> 10.96.0.10:80/udp");
  EXPECT_EQ(parseFlow("10.244.1.2", "10.96.0.10:80")->protocol, svc::Protocol::kTcp);
  EXPECT_EQ(parseFlow("x", "10.96.0.10:80").error().message, "SRC 'x': expected an IPv4 address");
  EXPECT_EQ(parseFlow("10.0.0.1", "10.96.0.10:0").error().message,
            "DST '10.96.0.10:0': port '0' is not in 1..65535");
  EXPECT_EQ(parseFlow("10.0.0.1", "10.96.0.10:80/icmp").error().message,
            "DST '10.96.0.10:80/icmp': protocol 'icmp' is not tcp, udp or sctp");
}

TEST(Trace, ServiceEndpointsProbabilitiesAndMasquerade) {
  const Cluster c = threeNodes("off-cluster", true, true);
  auto plan = planOverlay(c, "a", PlanNames{"", "ovlbr0"});
  ASSERT_TRUE(plan);
  auto tp = planTrace(c, *plan, *parseFlow("192.168.50.1", "10.96.0.10:80"), false);
  EXPECT_EQ(tp.match, "service default/web:http");
  EXPECT_EQ(tp.verdict, "balance");
  ASSERT_EQ(tp.endpoints.size(), 2U);
  EXPECT_EQ(tp.endpoints[0].node, "b");
  EXPECT_DOUBLE_EQ(tp.endpoints[0].probability, 0.25);
  EXPECT_EQ(tp.endpoints[1].node, "c");
  EXPECT_DOUBLE_EQ(tp.endpoints[1].probability, 0.75);
  EXPECT_EQ(tp.endpoints[1].port, 8080);
  EXPECT_TRUE(tp.masquerade);  // a host address, off the pod network
  // From a pod: not masqueraded.
  EXPECT_FALSE(planTrace(c, *plan, *parseFlow("10.244.1.5", "10.96.0.10:80"), false).masquerade);
  // The NodePort, on a local address: external traffic policy Cluster masquerades.
  tp = planTrace(c, *plan, *parseFlow("203.0.113.7", "192.168.50.1:30080"), true);
  EXPECT_EQ(tp.match, "service default/web:http (NodePort 30080)");
  EXPECT_TRUE(tp.masquerade);
  // Nothing matches: routed as is.
  EXPECT_TRUE(planTrace(c, *plan, *parseFlow("10.244.1.5", "10.96.0.10:81"), false).match.empty());
}

TEST(AgentConfigRpFilter, ModesAndErrors) {
  auto ok = parseAgentConfig("nodeName: a\nclusterFile: c.yaml\nrpFilter: warn\n", "agent.yaml");
  EXPECT_TRUE(ok.issues.empty());
  EXPECT_EQ(ok.config.rpFilter, "warn");
  EXPECT_EQ(parseAgentConfig("nodeName: a\nclusterFile: c.yaml\n", "agent.yaml").config.rpFilter,
            "fix");
  auto bad = parseAgentConfig("nodeName: a\nclusterFile: c.yaml\nrpFilter: loose\n", "agent.yaml");
  ASSERT_EQ(bad.issues.size(), 1U);
  EXPECT_EQ(bad.issues[0].toString(),
            "agent.yaml:3:11: rpFilter: unknown mode 'loose'; expected one of fix, warn, off");
}

}  // namespace
}  // namespace ovl::diag

namespace ovl::diag {
namespace {

TEST(SysctlDirectives, GlobsAllDefaultAndSlashedNamesMatch) {
  const std::string text =
      "# systemd 50-default.conf\n"
      "net.ipv4.conf.default.rp_filter = 2\n"
      "net.ipv4.conf.*.rp_filter = 2\n"
      "-net.ipv4.conf.all.rp_filter\n"
      "net.ipv4.conf.all.rp_filter = 1\n"
      "net.ipv4.conf.eth*.rp_filter = 1\n"
      "net.ipv4.conf.ovl/1.rp_filter = 2\n"
      "net/ipv4/conf/ovl.1/rp_filter = 2\n"
      "net.ipv4.conf.ovl/1.log_martians = 1\n";
  std::vector<std::string> lines;
  for (const auto& d : sysctlDirectives(text, "f.conf", "ovl.1", "rp_filter")) {
    lines.push_back(d.toString());
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"f.conf:2: net.ipv4.conf.default.rp_filter = 2",
                                             "f.conf:3: net.ipv4.conf.*.rp_filter = 2",
                                             "f.conf:5: net.ipv4.conf.all.rp_filter = 1",
                                             "f.conf:7: net.ipv4.conf.ovl/1.rp_filter = 2",
                                             "f.conf:8: net/ipv4/conf/ovl.1/rp_filter = 2"}));
  EXPECT_EQ(sysctlDirectives(text, "f.conf", "eth0", "rp_filter").size(), 4U);
}

}  // namespace
}  // namespace ovl::diag
