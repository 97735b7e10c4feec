// The fixture of the kernel tests of diagnostics/: a node in a throwaway namespace, programmed
// with the agent's own reconciler (VTEP, bridge, two peers, underlay eth0) and its nftables
// table, and the Checker run on it. Each test creates one fault, and checks that the Checker
// reports it, and, where the fix is safe, that --fix repairs exactly it (iproute2, sysctl, nft
// and ethtool as the witnesses).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "diagnostics/checker.h"
#include "model/config.h"
#include "overlay/netlink_overlay_kernel.h"
#include "overlay/overlay_reconciler.h"
#include "rules/nat_planner.h"
#include "rules/nat_table.h"
#include "tests/netns/netns_fixture.h"

namespace ovl::diag::test {

inline std::string clusterYaml(const std::string& masquerade) {
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

class DiagnosticsTest : public ovl::test::NetnsTest {
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
    // As the agent programs it: the services and the VXLAN allow-list of the cluster's nodes.
    nft::DesiredIndex want = nft::DesiredIndex::of(nat::planNat(
        cluster_.services, nat::planInputs(cluster_.network, "node1", plan_.podSubnet)));
    want.setVxlanAllow(nat::planVxlanAllow(cluster_));
    ASSERT_TRUE(table->sync(want));
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

}  // namespace ovl::diag::test
