// The checks of diagnostics/ against the real kernel: each test programs a node in a throwaway
// namespace with the agent's own reconciler (VTEP, bridge, two peers, underlay eth0), creates one
// fault, and checks that the Checker reports it, and, where the fix is safe, that --fix
// repairs exactly it (iproute2, sysctl, nft and ethtool as the witnesses).
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "diagnostics/checker.h"
#include "model/config.h"
#include "overlay/netlink_overlay_kernel.h"
#include "overlay/overlay_reconciler.h"
#include "rules/nat_planner.h"
#include "rules/nat_table.h"
#include "tests/netns/netns_fixture.h"

namespace ovl::diag {
namespace {

std::string clusterYaml(const std::string& masquerade) {
  return "network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\n  masquerade: " +
         masquerade +
         "\nnodes:\n"
         "  - {name: node1, underlayIP: 192.168.50.1, podSubnet: 10.244.1.0/24}\n"
         "  - {name: node2, underlayIP: 192.168.50.2, podSubnet: 10.244.2.0/24}\n"
         "  - {name: node3, underlayIP: 192.168.50.3, podSubnet: 10.244.3.0/24}\n"
         "services:\n"
         "  - namespace: default\n    name: web\n    clusterIP: 10.96.0.10\n"
         "    ports: [{name: http, port: 80, targetPort: 8080}]\n"
         "    endpoints: [{ip: 10.244.2.11, node: node2}, {ip: 10.244.1.11, node: node1}]\n";
}

// A HostFs that answers some paths itself and reads the rest from the real procfs.
class OverlayFs final : public HostFs {
 public:
  std::map<std::string, std::string> fake;
  Result<std::string> read(const std::string& p) override {
    auto it = fake.find(p);
    return it != fake.end() ? Result<std::string>(it->second) : real_.read(p);
  }
  Status write(const std::string& p, const std::string& v) override { return real_.write(p, v); }

 private:
  ProcFs real_;
};

class DiagnosticsTest : public test::NetnsTest {
 protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    sh("ip -n " + ns() + " link add eth0 type veth peer name ul0");
    sh("ip -n " + ns() + " addr add 192.168.50.1/24 dev eth0");
    sh("ip -n " + ns() + " link set eth0 up && ip -n " + ns() + " link set ul0 up");
    sh("ip -n " + ns() + " route add default via 192.168.50.254 dev eth0");
    sh("ip netns exec " + ns() + " sysctl -qw net.ipv4.ip_forward=1");
    agent_.nodeName = "node1";
    agent_.underlayInterface = "eth0";
    load("none");
  }

  // (Re)loads the cluster with this masquerade mode and converges the kernel to it.
  void load(const std::string& masquerade) {
    ClusterLoad l = parseCluster(clusterYaml(masquerade), "cluster.yaml");
    ASSERT_TRUE(l.issues.empty()) << l.issues.front().toString();
    cluster_ = l.cluster;
    auto plan = planOverlay(cluster_, "node1", PlanNames{"", "ovlbr0"});
    ASSERT_TRUE(plan) << plan.error().message;
    plan_ = *plan;
    auto kernel = NetlinkOverlayKernel::create();
    ASSERT_TRUE(kernel) << kernel.error().message;
    OverlayReconciler rec(*kernel, "eth0");
    auto r = rec.reconcile(plan_, true);
    ASSERT_TRUE(r.ok()) << r.errors.front().message;
    auto table = nat::NatTable::create();
    ASSERT_TRUE(table) << table.error().message;
    ASSERT_TRUE(table->sync(nat::planNat(
        cluster_.services, nat::planInputs(cluster_.network, "node1", plan_.podSubnet))));
  }

  NodeModel model() const { return NodeModel::of(agent_, plan_, cluster_); }

  Report diagnose(CheckerConfig cfg = {}, HostFs* fs = nullptr) {
    auto netlink = nl::Netlink::create();
    EXPECT_TRUE(netlink);
    ProcFs proc;
    Checker c(*netlink, fs != nullptr ? *fs : proc, cfg);
    return c.run(model());
  }

  Report diagnoseAndFix(const std::string& sysctlDir = "") {
    auto netlink = nl::Netlink::create();
    EXPECT_TRUE(netlink);
    ProcFs proc;
    Checker c(*netlink, proc);
    Report r = c.run(model());
    c.fix(r, model());
    if (!sysctlDir.empty()) {
      EXPECT_TRUE(c.persist(r, sysctlDir));
    }
    return r;
  }

  std::string sysctl(const std::string& key) {
    std::string out = sh("ip netns exec " + ns() + " sysctl -n " + key);
    while (!out.empty() && out.back() == '\n') {
      out.pop_back();
    }
    return out;
  }
  void setSysctl(const std::string& key, const std::string& value) {
    sh("ip netns exec " + ns() + " sysctl -qw " + key + "=" + value);
  }
  void nft(const std::string& args) { sh("ip netns exec " + ns() + " nft " + args); }

  static const Finding* find(const Report& r, const std::string& check,
                             const std::string& subject = "") {
    for (const auto& f : r.findings) {
      if (f.check == check && (subject.empty() || f.subject == subject)) {
        return &f;
      }
    }
    return nullptr;
  }
  static std::string dump(const Report& r) { return formatHuman(r); }

  AgentConfig agent_;
  Cluster cluster_;
  OverlayPlan plan_;
};

TEST_F(DiagnosticsTest, HealthyNodeHasNoProblems) {
  Report r = diagnose();
  EXPECT_EQ(r.problems(), 0U) << dump(r);
  EXPECT_EQ(r.exitCode(), 0) << dump(r);
  for (const char* check : {"ip_forward", "rp_filter", "peer_entries", "mtu", "vxlan_port",
                            "forward_drop", "nft_table"}) {
    EXPECT_NE(std::find(r.checksRun.begin(), r.checksRun.end(), check), r.checksRun.end()) << check;
  }
}

TEST_F(DiagnosticsTest, StrictRpFilterIsReportedAndFixedOnExactlyThoseInterfaces) {
  for (const char* i : {"all", "default", "lo", "eth0", "ul0", "ovl/1", "ovlbr0"}) {
    setSysctl(std::string("net.ipv4.conf.") + i + ".rp_filter", "1");
  }
  Report r = diagnose();
  EXPECT_EQ(r.exitCode(), 1) << dump(r);
  const Finding* vtep = find(r, "rp_filter", "ovl.1");
  const Finding* ul = find(r, "rp_filter", "eth0");
  ASSERT_NE(vtep, nullptr) << dump(r);
  ASSERT_NE(ul, nullptr) << dump(r);
  EXPECT_EQ(find(r, "rp_filter", "ovlbr0"), nullptr) << dump(r);
  EXPECT_TRUE(vtep->fixable);
  EXPECT_EQ(vtep->fixCommand, "sysctl -w net.ipv4.conf.ovl/1.rp_filter=2");
  const auto hasEvidence = [](const Finding* f, const std::string& name, const std::string& part) {
    return std::any_of(f->evidence.begin(), f->evidence.end(), [&](const auto& e) {
      return e.first == name && e.second.find(part) != std::string::npos;
    });
  };
  EXPECT_TRUE(hasEvidence(vtep, "rp_filter", "strict (1)")) << dump(r);
  EXPECT_TRUE(hasEvidence(vtep, "kernel answer",
                          "ip route get 10.244.1.2 from 192.168.50.2 iif ovl.1 -> E"))
      << dump(r);
  EXPECT_TRUE(hasEvidence(ul, "path", "reply arriving on node1")) << dump(r);
  EXPECT_TRUE(hasEvidence(ul, "IPReversePathFilter", "packets dropped so far")) << dump(r);
  // log_martians is off: the note says the drops leave no trace.
  EXPECT_NE(find(r, "log_martians"), nullptr) << dump(r);

  const std::string dir = testing::TempDir() + "ovl-sysctl-" + std::to_string(getpid());
  Report fixed = diagnoseAndFix(dir);
  EXPECT_EQ(fixed.exitCode(), 0) << dump(fixed);
  EXPECT_EQ(sysctl("net.ipv4.conf.ovl/1.rp_filter"), "2");
  EXPECT_EQ(sysctl("net.ipv4.conf.eth0.rp_filter"), "2");
  for (const char* i : {"all", "default", "lo", "ul0", "ovlbr0"}) {
    EXPECT_EQ(sysctl(std::string("net.ipv4.conf.") + i + ".rp_filter"), "1") << i;
  }
  std::ifstream in(dir + "/" + kDropInName);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\nnet.ipv4.conf.eth0.rp_filter = 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nnet.ipv4.conf.ovl/1.rp_filter = 2\n"), std::string::npos) << text;
  std::filesystem::remove_all(dir);
  // The same route query, asked by iproute2, is accepted now.
  EXPECT_EQ(
      shStatus("ip netns exec " + ns() + " ip route get 10.244.1.2 from 192.168.50.2 iif ovl.1"),
      0);
}

TEST_F(DiagnosticsTest, MasqueradeOffClusterHasNoServicePathsToBreak) {
  load("off-cluster");
  for (const char* i : {"all", "eth0", "ovl/1"}) {
    setSysctl(std::string("net.ipv4.conf.") + i + ".rp_filter", "1");
  }
  Report r = diagnose();
  EXPECT_EQ(find(r, "rp_filter"), nullptr) << dump(r);
}

TEST_F(DiagnosticsTest, IpForwardOffIsReported) {
  setSysctl("net.ipv4.ip_forward", "0");
  Report r = diagnose();
  const Finding* f = find(r, "ip_forward");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->fixCommand, "sysctl -w net.ipv4.ip_forward=1");
  EXPECT_FALSE(f->fixable);  // host-wide: left to the operator
  EXPECT_EQ(r.exitCode(), 1);
}

TEST_F(DiagnosticsTest, MissingOrWrongPeerEntriesAreReported) {
  sh("ip -n " + ns() + " route del 10.244.3.0/24 dev ovl.1");
  sh("ip -n " + ns() +
     " neigh replace 10.244.2.0 lladdr 02:00:00:00:00:99 dev ovl.1 nud permanent");
  const std::string mac3 = MacAddr::fromIdentity("node3").toString();
  sh("bridge -n " + ns() + " fdb del " + mac3 + " dev ovl.1 dst 192.168.50.3 self");
  Report r = diagnose();
  std::map<std::string, std::string> titles;
  for (const auto& f : r.findings) {
    if (f.check == "peer_entries") {
      titles[f.subject + " " + f.title] = f.fixCommand;
    }
  }
  EXPECT_TRUE(titles.contains("peer node3 route entry on ovl.1 is missing")) << dump(r);
  EXPECT_TRUE(titles.contains("peer node2 neighbour entry on ovl.1 is wrong")) << dump(r);
  EXPECT_TRUE(titles.contains("peer node3 FDB entry on ovl.1 is missing")) << dump(r);
  EXPECT_EQ(titles["peer node3 route entry on ovl.1 is missing"],
            "ip route replace 10.244.3.0/24 via 10.244.3.0 dev ovl.1 onlink");
  EXPECT_EQ(r.exitCode(), 1);
}

TEST_F(DiagnosticsTest, MtuAboveUnderlayAndPodMtuAboveVtepAreReported) {
  // The kernel refuses a VXLAN MTU above its lower device's - 50; the underlay's MTU going
  // down later (a new NIC, a VPN) is how it happens.
  sh("ip -n " + ns() + " link set eth0 mtu 1400");
  sh("ip -n " + ns() + " link add vp1 mtu 1500 type veth peer name pod1");
  sh("ip -n " + ns() + " link set vp1 master ovlbr0");
  Report r = diagnose();
  const Finding* vtep = find(r, "mtu", "ovl.1");
  ASSERT_NE(vtep, nullptr) << dump(r);
  EXPECT_EQ(vtep->severity, Severity::kError);
  const Finding* pod = find(r, "mtu", "vp1");
  ASSERT_NE(pod, nullptr) << dump(r);
  EXPECT_EQ(pod->title, "pod interface MTU 1500 is above the VTEP's 1450");
  EXPECT_EQ(vtep->title, "VTEP MTU 1450 is above the underlay's 1400 - 50");
}

TEST_F(DiagnosticsTest, VxlanPortDroppedByAnotherTableOrIptablesIsReported) {
  nft("add table inet fw");
  nft("'add chain inet fw input { type filter hook input priority 0; policy accept; }'");
  nft("add rule inet fw input udp dport 4789 counter drop");
  Report r = diagnose();
  const Finding* f = find(r, "vxlan_port", "table inet fw chain input");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->severity, Severity::kError);
  nft("delete table inet fw");

  // Policy drop with no accept for the port.
  nft("add table ip guard");
  nft("'add chain ip guard in { type filter hook input priority 0; policy drop; }'");
  nft("add rule ip guard in tcp dport 22 accept");
  r = diagnose();
  f = find(r, "vxlan_port", "table ip guard chain in");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_NE(f->title.find("policy drop"), std::string::npos);
  nft("insert rule ip guard in udp dport 4789 accept");
  EXPECT_EQ(find(diagnose(), "vxlan_port", "table ip guard chain in"), nullptr);
  nft("delete table ip guard");

  // iptables-nft writes nftables rules: seen.
  sh("ip netns exec " + ns() + " iptables-nft -A INPUT -p udp --dport 4789 -j DROP");
  r = diagnose();
  f = find(r, "vxlan_port", "table ip filter chain INPUT");
  ASSERT_NE(f, nullptr) << dump(r);
  sh("ip netns exec " + ns() + " iptables-nft -F INPUT");

  // iptables-legacy is invisible to nftables: read through libip4tc.
  sh("ip netns exec " + ns() + " iptables-legacy -A INPUT -p udp --dport 4789 -j DROP");
  r = diagnose();
  f = find(r, "vxlan_port", "iptables-legacy table filter chain INPUT");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->severity, Severity::kError);
  EXPECT_EQ(f->fixCommand, "iptables-legacy -t filter -I INPUT -p udp --dport 4789 -j ACCEPT");
  sh("ip netns exec " + ns() + " iptables-legacy -F INPUT");
  EXPECT_EQ(find(diagnose(), "vxlan_port"), nullptr);
  sh("ip netns exec " + ns() + " iptables-legacy -P FORWARD DROP");
  sh("ip netns exec " + ns() + " iptables-legacy -A FORWARD -p tcp --dport 22 -j ACCEPT");
  r = diagnose();
  f = find(r, "forward_drop", "iptables-legacy table filter chain FORWARD");
  ASSERT_NE(f, nullptr) << dump(r);
  sh("ip netns exec " + ns() + " iptables-legacy -I FORWARD -s 10.244.0.0/16 -j ACCEPT");
  EXPECT_EQ(find(diagnose(), "forward_drop"), nullptr) << dump(diagnose());
  sh("ip netns exec " + ns() + " iptables-legacy -P FORWARD ACCEPT");
}

TEST_F(DiagnosticsTest, ForwardChainDroppingPodTrafficIsReported) {
  nft("add table ip filter2");
  nft("'add chain ip filter2 forwarding { type filter hook forward priority 0; policy drop; }'");
  Report r = diagnose();
  const Finding* f = find(r, "forward_drop", "table ip filter2 chain forwarding");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_NE(f->title.find("policy drop"), std::string::npos);
  nft("add rule ip filter2 forwarding ip saddr 10.244.0.0/16 accept");
  EXPECT_EQ(find(diagnose(), "forward_drop"), nullptr);
  nft("flush chain ip filter2 forwarding");
  nft("'add chain ip filter2 forwarding { policy accept; }'");
  nft("add rule ip filter2 forwarding ip daddr 10.244.2.0/24 drop");
  r = diagnose();
  f = find(r, "forward_drop", "table ip filter2 chain forwarding");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->title, "a FORWARD rule drops pod traffic");
}

TEST_F(DiagnosticsTest, TxChecksumOffloadOnAffectedKernelIsReportedAndTurnedOff) {
  CheckerConfig fixed;
  fixed.kernelRelease = "6.1.0-18-amd64";
  EXPECT_EQ(find(diagnose(fixed), "tx_checksum"), nullptr);

  sh("ip netns exec " + ns() + " ethtool -K ovl.1 tx on");
  CheckerConfig old;
  old.kernelRelease = "5.4.0-150-generic";  // before the fix: the check applies
  auto netlink = nl::Netlink::create();
  ASSERT_TRUE(netlink);
  ProcFs proc;
  Checker c(*netlink, proc, old);
  Report r = c.run(model());
  const Finding* f = find(r, "tx_checksum", "ovl.1");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_TRUE(f->fixable);
  c.fix(r, model());
  EXPECT_TRUE(find(r, "tx_checksum", "ovl.1")->fixed) << dump(r);
  EXPECT_NE(sh("ip netns exec " + ns() + " ethtool -k ovl.1").find("tx-checksumming: off"),
            std::string::npos);
}

TEST_F(DiagnosticsTest, ConntrackAlmostFullIsReported) {
  // nf_conntrack_max is read-only outside the host's own namespace, and filling 262,144
  // entries is no test: the counters are handed in, the rest of the host is real.
  OverlayFs fs;
  fs.fake["sys/net/netfilter/nf_conntrack_count"] = "950";
  fs.fake["sys/net/netfilter/nf_conntrack_max"] = "1000";
  Report r = diagnose({}, &fs);
  const Finding* f = find(r, "conntrack");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->title, "the conntrack table is 95% full");
  EXPECT_EQ(f->fixCommand, "sysctl -w net.netfilter.nf_conntrack_max=2000");
  fs.fake["sys/net/netfilter/nf_conntrack_count"] = "900";
  EXPECT_EQ(find(diagnose({}, &fs), "conntrack"), nullptr);
}

TEST_F(DiagnosticsTest, OwnTableMissingOrOutOfStepIsReported) {
  EXPECT_EQ(find(diagnose(), "nft_table"), nullptr);
  nft("delete element ip ovl services '{ 10.96.0.10 . tcp . 80 }'");
  Report r = diagnose();
  const Finding* f = find(r, "nft_table", "table ip ovl set services");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->title, "out of step with the datastore: 1 element(s) missing, 0 extra");
  EXPECT_EQ(r.exitCode(), 1);

  nft("delete table ip ovl");
  r = diagnose();
  f = find(r, "nft_table", "table ip ovl");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->title, "ovl's nftables table is missing");
}

TEST_F(DiagnosticsTest, LogMartiansOnSilencesTheNote) {
  for (const char* i : {"all", "eth0", "ovl/1"}) {
    setSysctl(std::string("net.ipv4.conf.") + i + ".rp_filter", "1");
  }
  ASSERT_NE(find(diagnose(), "log_martians"), nullptr);
  setSysctl("net.ipv4.conf.all.log_martians", "1");
  Report r = diagnose();
  EXPECT_NE(find(r, "rp_filter"), nullptr) << dump(r);
  EXPECT_EQ(find(r, "log_martians"), nullptr) << dump(r);
}

TEST_F(DiagnosticsTest, BridgePortWithoutHairpinUnderBrNetfilterIsReportedAndFixed) {
  if (shStatus("test -e /proc/sys/net/bridge/bridge-nf-call-iptables") != 0) {
    // br_netfilter is not loaded on this host (loading a module would change the host).
    if (std::getenv("CI") != nullptr) {
      FAIL() << "br_netfilter not loaded: the hairpin check cannot be tested (CI is set)";
    }
    GTEST_SKIP() << "br_netfilter not loaded: no bridge-nf-call-iptables";
  }
  setSysctl("net.bridge.bridge-nf-call-iptables", "1");
  sh("ip -n " + ns() + " link add vp1 mtu 1450 type veth peer name pod1");
  sh("ip -n " + ns() + " link set vp1 master ovlbr0");
  Report r = diagnose();
  const Finding* f = find(r, "hairpin", "vp1");
  ASSERT_NE(f, nullptr) << dump(r);
  EXPECT_EQ(f->fixCommand, "bridge link set dev vp1 hairpin on");
  Report fixed = diagnoseAndFix();
  EXPECT_TRUE(find(fixed, "hairpin", "vp1")->fixed) << dump(fixed);
  EXPECT_NE(sh("bridge -n " + ns() + " -d link show dev vp1").find("hairpin on"),
            std::string::npos);
}

}  // namespace
}  // namespace ovl::diag
