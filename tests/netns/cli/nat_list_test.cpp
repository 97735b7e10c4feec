// `ovlctl nat list` against the real kernel: services planned by the real planner and
// programmed by the real NatTable in the test's namespace, then read back (cli/kernel_services.h)
// and listed by the ovlctl binary itself (`ip netns exec NS ovlctl nat list -o json`), with
// `nft list` as the independent witness that the table holds what the listing says.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/kernel_services.h"
#include "cli/nat_command.h"
#include "rules/nat_planner.h"
#include "rules/nat_table.h"
#include "rules/nft_socket.h"
#include "tests/netns/netns_fixture.h"

namespace ovl::cli {
namespace {

Ipv4 ip(const char* text) {
  return *Ipv4::parse(text);
}

svc::Endpoint endpoint(const char* address, const char* node, std::optional<uint32_t> weight) {
  svc::Endpoint e;
  e.ip = ip(address);
  e.node = node;
  e.weight = weight;
  return e;
}

// web: a NodePort service with an external IP and two weighted endpoints (2:1); sticky: ClientIP
// affinity of 300 s; empty: no endpoint (rejected).
std::vector<svc::Service> services() {
  svc::Service web;
  web.ns = "default";
  web.name = "web";
  web.type = svc::ServiceType::kNodePort;
  web.clusterIps = {ip("10.96.0.10")};
  web.externalIps = {ip("192.0.2.10")};
  web.ports = {svc::ServicePort{"http", svc::Protocol::kTcp, 80, 8080, 30080}};
  web.endpoints = {endpoint("10.244.1.5", "node1", 2), endpoint("10.244.2.7", "node2", 1)};
  svc::Service sticky;
  sticky.ns = "shop";
  sticky.name = "sticky";
  sticky.clusterIps = {ip("10.96.0.20")};
  sticky.ports = {svc::ServicePort{"", svc::Protocol::kTcp, 443, 8443, std::nullopt}};
  sticky.affinityClientIp = true;
  sticky.affinityTimeoutSeconds = 300;
  sticky.endpoints = {endpoint("10.244.1.6", "node1", std::nullopt)};
  svc::Service empty;
  empty.ns = "kube-system";
  empty.name = "dns";
  empty.clusterIps = {ip("10.96.0.53")};
  empty.ports = {svc::ServicePort{"dns", svc::Protocol::kUdp, 53, 53, std::nullopt}};
  return {web, sticky, empty};
}

class NatListTest : public test::NetnsTest {
 protected:
  void program() {
    nat::PlanInputs in;
    in.selfNode = "node1";
    in.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
    in.selfSubnet = *Ipv4Prefix::parse("10.244.1.0/24");
    auto table = nat::NatTable::create();
    ASSERT_TRUE(table) << table.error().message;
    Status s = table->sync(nat::planNat(services(), in));
    ASSERT_TRUE(s) << s.error().message;
  }
  std::string ovlctl(const std::string& args) {
    return sh("ip netns exec " + ns() + " " OVL_OVLCTL_BIN " " + args);
  }
};

TEST_F(NatListTest, ListsWhatTheKernelHoldsPerFrontend) {
  program();
  const std::string witness = sh("nft list map ip ovl endpoints");
  EXPECT_NE(witness.find("10.244.1.5 . 8080"), std::string::npos) << witness;

  auto sock = nft::NftSocket::create();
  ASSERT_TRUE(sock);
  auto t = readKernelTable(*sock, "ovl");
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE(t->exists);
  const auto frontends = groupFrontends(*t);
  ASSERT_EQ(frontends.size(), 5u);

  // Sorted by service: default/web (2 IPs, then the NodePort), kube-system/dns, shop/sticky.
  const KernelFrontend& vip = frontends[0];
  EXPECT_EQ(vip.service, "default/web");
  EXPECT_EQ(vip.port, "http");
  EXPECT_EQ(vip.action, "balance");
  EXPECT_EQ(vip.slots, 3u);
  ASSERT_EQ(vip.endpoints.size(), 2u);
  EXPECT_EQ(vip.endpoints[0].address, "10.244.1.5:8080");
  EXPECT_EQ(vip.endpoints[0].slots, 2u);
  EXPECT_EQ(vip.endpoints[1].address, "10.244.2.7:8080");
  EXPECT_EQ(vip.endpoints[1].slots, 1u);
  std::vector<std::string> webFrontends;
  for (size_t i = 0; i < 3; ++i) {
    webFrontends.push_back(frontends[i].frontend);
    EXPECT_EQ(frontends[i].service, "default/web");
  }
  EXPECT_EQ(webFrontends[2], "*:30080/tcp");
  EXPECT_TRUE(frontends[2].nodePort);
  EXPECT_TRUE(frontends[2].masquerade);  // NodePort, externalTrafficPolicy Cluster
  EXPECT_EQ(frontends[2].endpoints.size(), 2u);
  EXPECT_NE(std::find(webFrontends.begin(), webFrontends.end(), "10.96.0.10:80/tcp"),
            webFrontends.end());
  EXPECT_NE(std::find(webFrontends.begin(), webFrontends.end(), "192.0.2.10:80/tcp"),
            webFrontends.end());

  EXPECT_EQ(frontends[3].service, "kube-system/dns");
  EXPECT_EQ(frontends[3].frontend, "10.96.0.53:53/udp");
  EXPECT_EQ(frontends[3].action, "reject");
  EXPECT_TRUE(frontends[3].endpoints.empty());

  EXPECT_EQ(frontends[4].service, "shop/sticky");
  EXPECT_EQ(frontends[4].frontend, "10.96.0.20:443/tcp");
  EXPECT_EQ(frontends[4].affinitySeconds, std::optional<uint32_t>(300));
  ASSERT_EQ(frontends[4].endpoints.size(), 1u);
  EXPECT_EQ(frontends[4].endpoints[0].address, "10.244.1.6:8443");
}

// The binary, as an operator runs it: JSON records, the table, and the alias.
TEST_F(NatListTest, OvlctlPrintsJsonAndTable) {
  program();
  const auto records = nlohmann::json::parse(ovlctl("nat list -o json"));
  ASSERT_TRUE(records.is_array());
  ASSERT_EQ(records.size(), 5u);
  const auto& sticky = records[4];
  EXPECT_EQ(sticky["service"], "shop/sticky");
  EXPECT_EQ(sticky["type"], "IP");
  EXPECT_EQ(sticky["action"], "balance");
  EXPECT_EQ(sticky["affinitySeconds"], 300);
  EXPECT_EQ(sticky["endpoints"][0]["address"], "10.244.1.6:8443");
  EXPECT_EQ(records[2]["type"], "NodePort");
  EXPECT_EQ(records[2]["masquerade"], "always");
  EXPECT_EQ(records[3]["action"], "reject");
  EXPECT_TRUE(records[3]["affinitySeconds"].is_null());

  const std::string table = ovlctl("nat list");
  EXPECT_NE(table.find("SERVICE"), std::string::npos) << table;
  EXPECT_NE(table.find("10.244.1.5:8080(x2),10.244.2.7:8080"), std::string::npos) << table;
  EXPECT_NE(table.find("ClientIP 300s"), std::string::npos) << table;
  EXPECT_EQ(ovlctl("service list --kernel -o json"), ovlctl("-o json nat list"));
  EXPECT_NE(ovlctl("nat list -o yaml").find("service: shop/sticky"), std::string::npos);
}

// No table: said so, exit 1.
TEST_F(NatListTest, NoTableIsExitOne) {
  EXPECT_EQ(shStatus("ip netns exec " + ns() + " " OVL_OVLCTL_BIN " nat list"), 1);
}

}  // namespace
}  // namespace ovl::cli
