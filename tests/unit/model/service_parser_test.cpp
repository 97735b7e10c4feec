// The services section of the cluster file: parsing into svc::Service and the validation of every
// field. A bad service is rejected with issues naming it; the others are kept; never fatal.
#include <gtest/gtest.h>

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>

#include "model/cluster_file.h"
#include "tests/unit/model/config_issues.h"
#include "tests/unit/model/test_inputs.h"

namespace ovl {
namespace {

using test::dump;
using test::hasIssue;
using test::ids;
using test::service;
using test::withServices;

constexpr const char* kFile = "cluster.yaml";

// Parses `services` under a valid network; a service issue is never fatal.
ClusterLoad parseServices(const std::string& services) {
  auto load = parseCluster(withServices(services), kFile);
  EXPECT_FALSE(load.fatal) << dump(load.issues);
  return load;
}

Ipv4 ip(std::string_view text) {
  return *Ipv4::parse(text);
}

// ---------- the valid cases ----------

TEST(ServiceConfig, ValidFileParsesIntoTheExpectedModel) {
  auto load = parseCluster(R"(network:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  masquerade: all
services:
  - namespace: default
    name: web
    type: ClusterIP
    clusterIP: 10.96.0.10
    sessionAffinity: ClientIP
    sessionAffinityTimeoutSeconds: 600
    internalTrafficPolicy: Local
    ports:
      - name: http
        protocol: TCP
        port: 80
        targetPort: 8080
      - name: dns
        protocol: udp
        port: 53
    endpoints:
      - ip: 10.244.1.11
        node: node1
        weight: 3
        ports: {http: 8081}
      - ip: 10.244.2.11
        node: node2
        ready: false
        serving: true
        terminating: true
        weight: 0
  - namespace: shop
    name: front-end
    type: NodePort
    clusterIPs: [10.96.1.20, 10.96.1.21]
    externalIPs: [192.168.50.100]
    externalTrafficPolicy: Local
    ports:
      - port: 443
        protocol: SCTP
        nodePort: 30443
  - namespace: shop
    name: lb
    type: LoadBalancer
    clusterIP: 10.96.1.30
    externalIPs:
      - 192.168.50.101
      - 203.0.113.7
    ports:
      - name: a
        port: 80
        targetPort: 8080
        nodePort: 30080
      - name: b
        port: 80
        protocol: UDP
    endpoints:
      - ip: 10.244.3.5
        ready: false
)",
                           kFile);
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_FALSE(load.fatal);
  EXPECT_EQ(load.cluster.network.masquerade, svc::MasqueradeMode::kAll);
  ASSERT_EQ(load.cluster.services.size(), 3u);

  svc::Service web;
  web.ns = "default";
  web.name = "web";
  web.type = svc::ServiceType::kClusterIP;
  web.clusterIps = {ip("10.96.0.10")};
  web.affinityClientIp = true;
  web.affinityTimeoutSeconds = 600;
  web.internalTrafficPolicy = svc::TrafficPolicy::kLocal;
  web.externalTrafficPolicy = svc::TrafficPolicy::kCluster;
  web.ports = {svc::ServicePort{"http", svc::Protocol::kTcp, 80, 8080, std::nullopt},
               svc::ServicePort{"dns", svc::Protocol::kUdp, 53, 53, std::nullopt}};
  web.endpoints = {
      svc::Endpoint{ip("10.244.1.11"), "node1", true, true, false, 3, {{"http", 8081}}},
      svc::Endpoint{ip("10.244.2.11"), "node2", false, true, true, 0, {}}};
  EXPECT_EQ(load.cluster.services[0], web);
  EXPECT_EQ(load.cluster.services[0].mark.toString(), "cluster.yaml:6:5");

  svc::Service front;
  front.ns = "shop";
  front.name = "front-end";
  front.type = svc::ServiceType::kNodePort;
  front.clusterIps = {ip("10.96.1.20"), ip("10.96.1.21")};
  front.externalIps = {ip("192.168.50.100")};
  front.externalTrafficPolicy = svc::TrafficPolicy::kLocal;
  front.ports = {svc::ServicePort{"", svc::Protocol::kSctp, 443, 443, 30443}};
  EXPECT_EQ(load.cluster.services[1], front);
  EXPECT_EQ(load.cluster.services[1].mark.toString(), "cluster.yaml:32:5");
  EXPECT_TRUE(load.cluster.services[1].endpoints.empty());
  EXPECT_FALSE(load.cluster.services[1].affinityClientIp);
  EXPECT_EQ(load.cluster.services[1].affinityTimeoutSeconds, 10800u);

  svc::Service lb;
  lb.ns = "shop";
  lb.name = "lb";
  lb.type = svc::ServiceType::kLoadBalancer;
  lb.clusterIps = {ip("10.96.1.30")};
  lb.externalIps = {ip("192.168.50.101"), ip("203.0.113.7")};
  lb.ports = {svc::ServicePort{"a", svc::Protocol::kTcp, 80, 8080, 30080},
              svc::ServicePort{"b", svc::Protocol::kUdp, 80, 80, std::nullopt}};
  // serving defaults to ready
  lb.endpoints = {svc::Endpoint{ip("10.244.3.5"), "", false, false, false, std::nullopt, {}}};
  EXPECT_EQ(load.cluster.services[2], lb);
}

TEST(ServiceConfig, Defaults) {
  auto load = parseServices(service("web") + "    endpoints:\n      - ip: 10.244.1.11\n");
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  ASSERT_EQ(load.cluster.services.size(), 1u);
  const svc::Service& s = load.cluster.services[0];
  EXPECT_EQ(s.type, svc::ServiceType::kClusterIP);
  EXPECT_TRUE(s.externalIps.empty());
  EXPECT_FALSE(s.affinityClientIp);
  EXPECT_EQ(s.affinityTimeoutSeconds, 10800u);
  EXPECT_EQ(s.internalTrafficPolicy, svc::TrafficPolicy::kCluster);
  EXPECT_EQ(s.externalTrafficPolicy, svc::TrafficPolicy::kCluster);
  ASSERT_EQ(s.ports.size(), 1u);
  EXPECT_EQ(s.ports[0], (svc::ServicePort{"", svc::Protocol::kTcp, 80, 80, std::nullopt}));
  ASSERT_EQ(s.endpoints.size(), 1u);
  EXPECT_EQ(s.endpoints[0],
            (svc::Endpoint{ip("10.244.1.11"), "", true, true, false, std::nullopt, {}}));
  EXPECT_EQ(load.cluster.network.masquerade, svc::MasqueradeMode::kOffCluster);
}

TEST(ServiceConfig, NoServicesIsValid) {
  for (const char* services : {"", "services:\n", "services: []\n"}) {
    auto load = parseCluster(std::string("network:\n  podCIDR: 10.244.0.0/16\n") + services, kFile);
    EXPECT_TRUE(load.issues.empty()) << services << dump(load.issues);
    EXPECT_TRUE(load.cluster.services.empty());
  }
}

TEST(ServiceConfig, MasqueradeModes) {
  using svc::MasqueradeMode;
  for (auto [text, mode] :
       {std::pair{"off-cluster", MasqueradeMode::kOffCluster},
        std::pair{"all", MasqueradeMode::kAll}, std::pair{"none", MasqueradeMode::kNone}}) {
    auto load = parseCluster(
        std::string("network:\n  podCIDR: 10.244.0.0/16\n  masquerade: ") + text + "\n", kFile);
    ASSERT_TRUE(load.issues.empty()) << text << dump(load.issues);
    EXPECT_EQ(load.cluster.network.masquerade, mode) << text;
  }
  // NetworkConfig equality sees it.
  NetworkConfig a;
  NetworkConfig b;
  b.masquerade = MasqueradeMode::kNone;
  EXPECT_NE(a, b);
}

TEST(ServiceConfig, UnknownMasqueradeModeIsFatal) {
  for (const char* bad : {"yes", "All", "[all]"}) {
    auto load = parseCluster(
        std::string("network:\n  podCIDR: 10.244.0.0/16\n  masquerade: ") + bad + "\n", kFile);
    EXPECT_TRUE(load.fatal) << bad;
    std::string shown = bad[0] == '[' ? "a sequence" : std::string("'") + bad + "'";
    EXPECT_TRUE(hasIssue(load.issues, "network.masquerade", 3, {shown, "off-cluster, all, none"}));
  }
}

TEST(ServiceConfig, ProtocolIsCaseInsensitive) {
  auto load = parseServices(
      "  - namespace: default\n    name: web\n    clusterIP: 10.96.0.10\n    ports:\n"
      "      - {name: a, port: 1, protocol: tcp}\n"
      "      - {name: b, port: 1, protocol: Udp}\n"
      "      - {name: c, port: 1, protocol: sctp}\n");
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  ASSERT_EQ(load.cluster.services.size(), 1u);
  const auto& p = load.cluster.services[0].ports;
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].protocol, svc::Protocol::kTcp);
  EXPECT_EQ(p[1].protocol, svc::Protocol::kUdp);
  EXPECT_EQ(p[2].protocol, svc::Protocol::kSctp);
  EXPECT_EQ(svc::toString(p[2].protocol), "sctp");
}

TEST(ServiceConfig, ExternalTrafficPolicyLocalWithoutExternalAddressesIsAllowed) {
  auto load = parseServices(service("web") + "    externalTrafficPolicy: Local\n");
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  ASSERT_EQ(load.cluster.services.size(), 1u);
  EXPECT_EQ(load.cluster.services[0].externalTrafficPolicy, svc::TrafficPolicy::kLocal);
}

TEST(ServiceConfig, SamePortOnOtherProtocolsOrAddressesIsNoConflict) {
  auto load =
      parseServices(service("a", "10.96.0.10", "53") +
                    "  - namespace: default\n    name: b\n    clusterIP: 10.96.0.10\n    ports:\n"
                    "      - {port: 53, protocol: UDP}\n" +
                    service("c", "10.96.0.11", "53") + service("d", "10.96.0.10", "54"));
  EXPECT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_EQ(load.cluster.services.size(), 4u);
}

// ---------- bad services: rejected, the others kept ----------

TEST(ServiceConfig, ClusterIpOutsideServiceCidr) {
  auto load = parseServices(service("web", "10.200.0.1"));
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].clusterIP", 7,
                       {"cluster IP 10.200.0.1 is outside network.serviceCIDR 10.96.0.0/12",
                        "expected an address inside it", "service default/web is rejected"}));
}

TEST(ServiceConfig, ClusterIpsAreEachChecked) {
  auto load = parseServices(
      "  - namespace: default\n    name: web\n    clusterIPs: [10.96.0.1, 10.97.0.1, "
      "10.112.0.1]\n    ports:\n      - port: 80\n");
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].clusterIPs[2]", 7,
                       {"cluster IP 10.112.0.1 is outside network.serviceCIDR 10.96.0.0/12"}));
  EXPECT_EQ(load.issues.size(), 1u) << dump(load.issues);
}

TEST(ServiceConfig, ClusterIpNeedsAServiceCidr) {
  auto load =
      parseCluster("network:\n  podCIDR: 10.244.0.0/16\nservices:\n" + service("web"), kFile);
  EXPECT_FALSE(load.fatal);
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].clusterIP", 6,
                       {"10.96.0.10", "network.serviceCIDR is not set", "set it"}));
}

TEST(ServiceConfig, ClusterIpIsRequiredOnceAndValid) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    ports: [{port: 80}]\n"                      // 5-7
      "  - namespace: default\n    name: b\n    clusterIP: 10.96.0.1\n"                     // 8-10
      "    clusterIPs: [10.96.0.2]\n    ports: [{port: 80}]\n"                              // 11-12
      "  - namespace: default\n    name: c\n    clusterIPs: []\n    ports: [{port: 80}]\n"  // 13-16
      "  - namespace: default\n    name: d\n    clusterIP: 10.96.0.300\n"                   // 17-19
      "    ports: [{port: 80}]\n");
  EXPECT_TRUE(load.cluster.services.empty()) << dump(load.issues);
  EXPECT_TRUE(hasIssue(load.issues, "services[0].clusterIP", 5,
                       {"missing required field 'clusterIP'", "clusterIPs"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].clusterIPs", 11,
                       {"both clusterIP (at cluster.yaml:10:16) and clusterIPs are given"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[2].clusterIPs", 15, {"an empty sequence"}));
  EXPECT_TRUE(
      hasIssue(load.issues, "services[3].clusterIP", 19, {"'10.96.0.300' is not an IPv4 address"}));
}

TEST(ServiceConfig, PortOutOfRange) {
  auto load = parseServices(
      service("a", "10.96.0.1", "0") + service("b", "10.96.0.2", "65536") +
      "  - namespace: default\n    name: c\n    clusterIP: 10.96.0.3\n    type: NodePort\n"
      "    ports:\n      - port: 80\n        targetPort: 0\n        nodePort: 70000\n" +
      service("ok", "10.96.0.4"));
  EXPECT_EQ(ids(load), std::vector<std::string>{"default/ok"});
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[0].port", 9,
                       {"0 is out of range; expected an integer in 1..65535"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].ports[0].port", 14,
                       {"65536 is out of range; expected an integer in 1..65535"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[2].ports[0].targetPort", 21,
                       {"0 is out of range; expected an integer in 1..65535"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[2].ports[0].nodePort", 22,
                       {"70000 is out of range; expected an integer in 1..65535"}));
}

TEST(ServiceConfig, PortIsRequired) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    clusterIP: 10.96.0.1\n    ports:\n"
      "      - targetPort: 80\n");
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[0].port", 9,
                       {"missing required field 'port'", "1..65535"}));
}

TEST(ServiceConfig, UnknownProtocol) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    clusterIP: 10.96.0.1\n    ports:\n"
      "      - port: 80\n        protocol: ICMP\n" +
      service("b", "10.96.0.2"));
  EXPECT_EQ(ids(load), std::vector<std::string>{"default/b"});
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[0].protocol", 10,
                       {"unknown protocol 'ICMP'", "TCP, UDP, SCTP (in any case)"}));
}

TEST(ServiceConfig, TwoServicesOnOneAddressPortAndProtocol) {
  auto load = parseServices(service("a", "10.96.0.10", "80") + service("b", "10.96.0.10", "80") +
                            service("c", "10.96.0.11", "80"));
  EXPECT_EQ(ids(load), (std::vector<std::string>{"default/a", "default/c"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].clusterIP", 12,
                       {"10.96.0.10:80/tcp (ports[0]) is already used by service 'default/a' at "
                        "cluster.yaml:5:5",
                        "service default/b is rejected"}));
}

TEST(ServiceConfig, ExternalIpsShareTheAddressSpaceWithOtherServices) {
  auto load =
      parseServices(service("a", "10.96.0.10") + "    externalIPs: [192.168.50.100]\n" +  // 5-10
                    service("b", "10.96.0.11") + "    externalIPs: [192.168.50.100]\n" +  // 11-16
                    service("c", "10.96.0.12", "81") + "    externalIPs: [192.168.50.100]\n");
  EXPECT_EQ(ids(load), (std::vector<std::string>{"default/a", "default/c"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].externalIPs[0]", 16,
                       {"192.168.50.100:80/tcp (ports[0]) is already used by service "
                        "'default/a' at cluster.yaml:5:5"}));
}

TEST(ServiceConfig, AnAddressGivenTwiceInOneService) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    clusterIPs: [10.96.0.1, 10.96.0.1]\n"
      "    externalIPs: [192.168.50.1, 192.168.50.1]\n    ports: [{port: 80}]\n");
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].clusterIPs[1]", 7,
                       {"10.96.0.1 is already given as services[0].clusterIPs[0]"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].externalIPs[1]", 8,
                       {"192.168.50.1 is already given as services[0].externalIPs[0]"}));
}

TEST(ServiceConfig, TwoServicesOnOneNodePortAndProtocol) {
  auto nodePortService = [](const std::string& name, const std::string& ip,
                            const std::string& protocol) {
    return "  - namespace: default\n    name: " + name +
           "\n    type: NodePort\n    clusterIP: " + ip +
           "\n    ports:\n      - port: 80\n        protocol: " + protocol +
           "\n        nodePort: 30080\n";  // 8 lines
  };
  auto load = parseServices(nodePortService("a", "10.96.0.1", "TCP") +
                            nodePortService("b", "10.96.0.2", "TCP") +  // 13-20
                            nodePortService("c", "10.96.0.3", "UDP"));
  EXPECT_EQ(ids(load), (std::vector<std::string>{"default/a", "default/c"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].ports[0].nodePort", 20,
                       {"nodePort 30080/tcp is already used by service 'default/a' at "
                        "cluster.yaml:5:5"}));
}

TEST(ServiceConfig, NodePortOnlyForNodePortAndLoadBalancer) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    clusterIP: 10.96.0.1\n    ports:\n"
      "      - port: 80\n        nodePort: 30080\n"
      "  - namespace: default\n    name: b\n    type: LoadBalancer\n    clusterIP: 10.96.0.2\n"
      "    ports:\n      - port: 80\n        nodePort: 30081\n"
      "  - namespace: default\n    name: c\n    type: NodePort\n    clusterIP: 10.96.0.3\n"
      "    ports:\n      - port: 80\n");  // nodePort stays optional
  EXPECT_EQ(ids(load), (std::vector<std::string>{"default/b", "default/c"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[0].nodePort", 10,
                       {"nodePort 30080 is given on a ClusterIP service",
                        "expected type NodePort or LoadBalancer"}));
}

TEST(ServiceConfig, EndpointThatIsNotAnAddressRejectsTheService) {
  auto load =
      parseServices(service("a") + "    endpoints:\n      - ip: 10.244.1.11\n      - ip: pod-b\n" +
                    service("b", "10.96.0.11"));
  EXPECT_EQ(ids(load), std::vector<std::string>{"default/b"});
  EXPECT_TRUE(hasIssue(load.issues, "services[0].endpoints[1].ip", 12,
                       {"'pod-b' is not an IPv4 address", "service default/a is rejected"}));
}

TEST(ServiceConfig, EndpointIpIsRequiredAndNotSpecial) {
  auto load = parseServices(service("a") +
                            "    endpoints:\n      - node: node1\n      - ip: 127.0.0.1\n"
                            "      - ip: 224.0.0.1\n      - ip: [10.244.1.1]\n");
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(
      hasIssue(load.issues, "services[0].endpoints[0].ip", 11, {"missing required field 'ip'"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].endpoints[1].ip", 12,
                       {"endpoint 127.0.0.1 is a loopback address"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].endpoints[2].ip", 13,
                       {"endpoint 224.0.0.1 is a multicast address"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].endpoints[3].ip", 14,
                       {"expected an IPv4 address", "got a sequence"}));
}

TEST(ServiceConfig, EndpointListedTwice) {
  auto load = parseServices(service("a") +
                            "    endpoints:\n      - ip: 10.244.1.11\n      - ip: 10.244.1.11\n");
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].endpoints[1].ip", 12,
                       {"endpoint 10.244.1.11 is already listed as services[0].endpoints[0]"}));
}

TEST(ServiceConfig, WeightMustBeANonNegativeInteger) {
  for (const char* bad : {"-1", "1.5", "abc", "4294967296"}) {
    auto load = parseServices(service("a") + "    endpoints:\n      - ip: 10.244.1.11\n" +
                              "        weight: " + bad + "\n" + service("b", "10.96.0.11"));
    EXPECT_EQ(ids(load), std::vector<std::string>{"default/b"}) << bad;
    EXPECT_TRUE(
        hasIssue(load.issues, "services[0].endpoints[0].weight", 12, {bad, "0..4294967295"}))
        << bad;
  }
  auto load =
      parseServices(service("a") + "    endpoints:\n      - ip: 10.244.1.11\n        weight: 0\n");
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_EQ(load.cluster.services[0].endpoints[0].weight, 0u);
}

TEST(ServiceConfig, DuplicateNamespaceAndName) {
  auto load = parseServices(service("web", "10.96.0.10") + service("web", "10.96.0.11") +
                            "  - namespace: other\n    name: web\n    clusterIP: 10.96.0.12\n"
                            "    ports: [{port: 80}]\n");
  EXPECT_EQ(ids(load), (std::vector<std::string>{"default/web", "other/web"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].name", 11,
                       {"service 'default/web' is already defined by the entry at "
                        "cluster.yaml:5:5"}));
}

TEST(ServiceConfig, NamespaceAndNameAreRequiredDnsLabels) {
  auto load = parseServices(
      "  - name: a\n    clusterIP: 10.96.0.1\n    ports: [{port: 80}]\n"   // 5-7
      "  - namespace: Default\n    name: a_b\n    clusterIP: 10.96.0.2\n"  // 8-10
      "    ports: [{port: 80}]\n");
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].namespace", 5,
                       {"missing required field 'namespace'", "this service is rejected"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].namespace", 8,
                       {"invalid namespace 'Default'", "lower-case letters"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].name", 9, {"invalid service name 'a_b'"}));
}

TEST(ServiceConfig, UnknownFieldsAnywhereInAService) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    clusterIp: 10.96.0.1\n"  // 5-7
      "    clusterIP: 10.96.0.1\n    ports:\n"                           // 8-9
      "      - port: 80\n        tagetPort: 8080\n"                      // 10-11
      "    endpoints:\n      - ip: 10.244.1.1\n        wieght: 2\n");    // 12-14
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].clusterIp", 7,
                       {"unknown field 'clusterIp'", "clusterIP, clusterIPs"}));
  EXPECT_TRUE(
      hasIssue(load.issues, "services[0].ports[0].tagetPort", 11,
               {"unknown field 'tagetPort'", "name, protocol, port, targetPort, nodePort"}));
  EXPECT_TRUE(
      hasIssue(load.issues, "services[0].endpoints[0].wieght", 14,
               {"unknown field 'wieght'", "ip, node, ready, serving, terminating, weight, ports"}));
}

TEST(ServiceConfig, WrongTypes) {
  auto load = parseServices(
      "  - namespace: [default]\n    name: a\n    clusterIP: {ip: 10.96.0.1}\n"  // 5-7
      "    ports: {port: 80}\n"                                                  // 8
      "    externalIPs: 192.168.50.1\n    sessionAffinityTimeoutSeconds: abc\n"  // 9-10
      "    endpoints: 10.244.1.1\n"                                              // 11
      "  - namespace: default\n    name: b\n    clusterIP: 10.96.0.2\n"          // 12-14
      "    ports: [80]\n"                                                        // 15
      "    endpoints:\n      - ip: 10.244.1.1\n        ready: maybe\n"           // 16-18
      "        ports: [8080]\n      - 10.244.1.2\n");                            // 19-20
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].namespace", 5, {"got a sequence"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].clusterIP", 7, {"got a map"}));
  EXPECT_TRUE(
      hasIssue(load.issues, "services[0].ports", 8, {"expected a sequence of ports", "got a map"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].externalIPs", 9,
                       {"expected a sequence of IPv4 addresses", "'192.168.50.1'"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].sessionAffinityTimeoutSeconds", 10,
                       {"expected an integer in 1..86400, got 'abc'"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].endpoints", 11,
                       {"expected a sequence of endpoints", "'10.244.1.1'"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].ports[0]", 15, {"expected a map", "'80'"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].endpoints[0].ready", 18,
                       {"unknown boolean 'maybe'", "false, true"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].endpoints[0].ports", 19,
                       {"expected a map of port name to port", "got a sequence"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].endpoints[1]", 20, {"expected a map"}));
}

TEST(ServiceConfig, ServicesNotASequenceIsNotFatal) {
  auto load = parseServices("  namespace: default\n");
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services", 5, {"expected a sequence of service entries"}));
}

TEST(ServiceConfig, ServiceEntryNotAMap) {
  auto load = parseServices("  - web\n" + service("ok"));
  EXPECT_EQ(ids(load), std::vector<std::string>{"default/ok"});
  EXPECT_TRUE(hasIssue(load.issues, "services[0]", 5, {"expected a map", "'web'"}));
}

TEST(ServiceConfig, UnknownKeywords) {
  auto load = parseServices(service("a") +
                            "    type: External\n    sessionAffinity: clientip\n"  // 10-11
                            "    internalTrafficPolicy: local\n"                   // 12
                            "    externalTrafficPolicy: Nearby\n");                // 13
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].type", 10,
                       {"unknown service type 'External'", "ClusterIP, NodePort, LoadBalancer"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].sessionAffinity", 11,
                       {"unknown session affinity 'clientip'", "None, ClientIP"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].internalTrafficPolicy", 12,
                       {"unknown traffic policy 'local'", "Cluster, Local"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].externalTrafficPolicy", 13,
                       {"unknown traffic policy 'Nearby'"}));
}

TEST(ServiceConfig, AffinityTimeout) {
  auto load = parseServices(
      service("a", "10.96.0.1") + "    sessionAffinity: ClientIP\n" +          // 5-10
      "    sessionAffinityTimeoutSeconds: 86401\n" +                           // 11
      service("b", "10.96.0.2") + "    sessionAffinityTimeoutSeconds: 60\n" +  // 12-17
      service("c", "10.96.0.3") + "    sessionAffinity: ClientIP\n" +          // 18-23
      "    sessionAffinityTimeoutSeconds: 86400\n");
  EXPECT_EQ(ids(load), std::vector<std::string>{"default/c"});
  EXPECT_TRUE(hasIssue(load.issues, "services[0].sessionAffinityTimeoutSeconds", 11,
                       {"86401 is out of range; expected an integer in 1..86400"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].sessionAffinityTimeoutSeconds", 17,
                       {"sessionAffinity is None", "expected sessionAffinity: ClientIP"}));
  EXPECT_EQ(load.cluster.services[0].affinityTimeoutSeconds, 86400u);
}

TEST(ServiceConfig, PortsAreRequired) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    clusterIP: 10.96.0.1\n"
      "  - namespace: default\n    name: b\n    clusterIP: 10.96.0.2\n    ports: []\n");
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports", 5, {"missing required field 'ports'"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].ports", 11, {"got an empty sequence"}));
}

TEST(ServiceConfig, PortNames) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    clusterIP: 10.96.0.1\n    ports:\n"  // 5-8
      "      - port: 80\n      - name: https\n        port: 443\n"                   // 9-11
      "      - name: https\n        port: 8443\n"                                    // 12-13
      "      - name: Not_A_Name\n        port: 9000\n"                               // 14-15
      "      - name: much-too-long-name\n        port: 9001\n");                     // 16-17
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[0].name", 9,
                       {"missing required field 'name'", "more than one port"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[2].name", 12,
                       {"port name 'https' is already used by services[0].ports[1]"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[3].name", 14,
                       {"invalid port name 'Not_A_Name'", "at most 15 characters"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[4].name", 16, {"'much-too-long-name'"}));
}

TEST(ServiceConfig, PortAndProtocolOnceWithinAService) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    type: NodePort\n    clusterIP: 10.96.0.1\n"
      "    ports:\n"                                      // 9
      "      - {name: a, port: 80, nodePort: 30080}\n"    // 10
      "      - {name: b, port: 80, protocol: TCP}\n"      // 11
      "      - {name: c, port: 81, nodePort: 30080}\n");  // 12
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[1].port", 11,
                       {"port 80/tcp is already defined by services[0].ports[0]"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[2].nodePort", 12,
                       {"nodePort 30080/tcp is already used by services[0].ports[0]"}));
}

TEST(ServiceConfig, EndpointPortOverridesNameExistingPorts) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    clusterIP: 10.96.0.1\n    ports:\n"
      "      - {name: http, port: 80}\n      - {name: https, port: 443}\n"                // 9-10
      "    endpoints:\n      - ip: 10.244.1.1\n        ports: {htps: 8443, http: 0}\n" +  // 11-13
      service("b", "10.96.0.2") +
      "    endpoints:\n      - ip: 10.244.1.1\n" +  // 14-20
      "        ports: {http: 8080}\n");             // 21
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].endpoints[0].ports.htps", 13,
                       {"no port named 'htps' in this service", "one of http, https"}));
  EXPECT_TRUE(
      hasIssue(load.issues, "services[0].endpoints[0].ports.http", 13, {"0 is out of range"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[1].endpoints[0].ports.http", 21,
                       {"no port named 'http'", "its ports have no names"}));
}

TEST(ServiceConfig, EndpointNodeIsANodeName) {
  auto load = parseServices(service("a") + "    endpoints:\n      - ip: 10.244.1.1\n" +
                            "        node: Node_1\n");
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(
      hasIssue(load.issues, "services[0].endpoints[0].node", 12, {"invalid node name 'Node_1'"}));
}

TEST(ServiceConfig, ExternalIpsOutsideThePodAndServiceRanges) {
  auto load = parseServices(
      service("a") +
      "    externalIPs: [10.244.1.1, 10.96.5.5, 127.0.0.1, 0.0.0.0, 169.254.1.1, 10.0.0.1]\n");
  EXPECT_TRUE(load.cluster.services.empty());
  EXPECT_TRUE(hasIssue(load.issues, "services[0].externalIPs[0]", 10,
                       {"external IP 10.244.1.1 is inside network.podCIDR 10.244.0.0/16"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].externalIPs[1]", 10,
                       {"external IP 10.96.5.5 is inside network.serviceCIDR 10.96.0.0/12"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].externalIPs[2]", 10, {"loopback"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].externalIPs[3]", 10, {"0.0.0.0/8"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].externalIPs[4]", 10, {"link-local"}));
  EXPECT_EQ(load.issues.size(), 5u) << dump(load.issues);
}

TEST(ServiceConfig, OneBadServiceAmongTwoGoodOnesKeepsTheGoodOnes) {
  auto load = parseServices(service("first", "10.96.0.1") + service("bad", "10.96.0.2", "0") +
                            service("last", "10.96.0.3"));
  EXPECT_EQ(ids(load), (std::vector<std::string>{"default/first", "default/last"}));
  ASSERT_EQ(load.issues.size(), 1u) << dump(load.issues);
  EXPECT_EQ(load.issues[0].toString(),
            "cluster.yaml:14:15: services[1].ports[0].port: 0 is out of range; expected an "
            "integer in 1..65535 (service default/bad is rejected)");
}

TEST(ServiceConfig, EveryProblemOfAServiceIsReportedInFileOrder) {
  auto load = parseServices(
      "  - namespace: default\n    name: a\n    clusterIP: 10.200.0.1\n"  // 5-7
      "    ports:\n      - port: 0\n        protocol: icmp\n");           // 8-10
  ASSERT_EQ(load.issues.size(), 3u) << dump(load.issues);
  EXPECT_EQ(load.issues[0].field, "services[0].clusterIP");
  EXPECT_EQ(load.issues[1].field, "services[0].ports[0].port");
  EXPECT_EQ(load.issues[2].field, "services[0].ports[0].protocol");
  for (const auto& i : load.issues) {
    EXPECT_NE(i.message.find("service default/a is rejected"), std::string::npos) << i.toString();
  }
}

TEST(ServiceConfig, ServicesAreStillCheckedWhenTheNetworkIsInvalid) {
  auto load = parseCluster("network:\n  podCIDR: bad\n  serviceCIDR: 10.96.0.0/12\nservices:\n" +
                               service("a", "10.96.0.1", "0"),
                           kFile);
  EXPECT_TRUE(load.fatal);
  EXPECT_TRUE(hasIssue(load.issues, "network.podCIDR", 2, {"'bad'"}));
  EXPECT_TRUE(hasIssue(load.issues, "services[0].ports[0].port", 9, {"0 is out of range"}));
}

TEST(ServiceConfig, OddDocumentsNeverThrow) {
  for (const char* services :
       {"services: [[], {}, ~, 1, {name: [x]}]\n", "services:\n  - &s {namespace: a}\n  - *s\n",
        "services:\n  - {namespace: a, name: b, clusterIP: 10.96.0.1, ports: [~, [], {port: ~}]}\n",
        "services:\n  - {namespace: a, name: b, clusterIP: 10.96.0.1, ports: [{port: 1}], "
        "endpoints: [~, [], {ip: ~}, {ip: 10.244.0.1, ports: {[a]: 1, ~: 2}}]}\n",
        "services:\n  - {? [a] : 1}\n"}) {
    ClusterLoad load;
    EXPECT_NO_THROW(
        load = parseCluster(std::string("network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: "
                                        "10.96.0.0/12\n") +
                                services,
                            kFile))
        << services;
    EXPECT_FALSE(load.issues.empty()) << services;
    EXPECT_FALSE(load.fatal) << services << dump(load.issues);
    EXPECT_TRUE(load.cluster.services.empty()) << services;
    for (const auto& i : load.issues) {
      EXPECT_FALSE(i.message.empty()) << services;
    }
  }
}

// The documented example keeps its services valid.
TEST(ServiceConfig, ExampleFileServices) {
  auto path = std::filesystem::path(OVL_SOURCE_DIR) / "examples/cluster.yaml";
  auto load = loadClusterFile(path.string());
  ASSERT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_EQ(load.cluster.network.masquerade, svc::MasqueradeMode::kOffCluster);
  EXPECT_EQ(ids(load), (std::vector<std::string>{"default/web", "default/dns", "shop/frontend"}));
}

}  // namespace
}  // namespace ovl
