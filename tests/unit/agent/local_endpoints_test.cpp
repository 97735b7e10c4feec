// The agent's merge of ovl-cni's endpoint registrations into the services.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "agent/local_endpoints.h"

namespace ovl {
namespace {

svc::Service service(const char* ns, const char* name, std::vector<const char*> endpoints) {
  svc::Service s;
  s.ns = ns;
  s.name = name;
  s.clusterIps = {*Ipv4::parse("10.96.0.10")};
  s.ports = {svc::ServicePort{"", svc::Protocol::kTcp, 80, 8080, std::nullopt}};
  for (const char* e : endpoints) {
    svc::Endpoint ep;
    ep.ip = *Ipv4::parse(e);
    ep.node = "node1";
    s.endpoints.push_back(ep);
  }
  return s;
}

LocalEndpoint reg(const char* service, const char* ip, const char* node = "node2") {
  return LocalEndpoint{service, *Ipv4::parse(ip), node, "ctr", "eth0"};
}

const Ipv4Prefix kPodCidr = *Ipv4Prefix::parse("10.244.0.0/16");

TEST(LocalEndpoints, RegistrationsBecomeReadyEndpointsOnTheirNode) {
  std::vector<std::string> problems;
  auto out = mergeLocalEndpoints({service("default", "web", {"10.244.1.11"})},
                                 {reg("default/web", "10.244.2.5")}, kPodCidr, &problems);
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(out[0].endpoints.size(), 2u);
  EXPECT_EQ(out[0].endpoints[1].ip.toString(), "10.244.2.5");
  EXPECT_EQ(out[0].endpoints[1].node, "node2");
  EXPECT_TRUE(out[0].endpoints[1].ready);
  EXPECT_FALSE(out[0].endpoints[1].terminating);
}

TEST(LocalEndpoints, BadRegistrationsAreReportedAndSkipped) {
  std::vector<std::string> problems;
  auto out =
      mergeLocalEndpoints({service("default", "web", {"10.244.1.11"})},
                          {reg("default/nope", "10.244.2.5"), reg("default/web", "192.0.2.1"),
                           reg("default/web", "10.244.1.11"), reg("default/web", "10.244.2.6")},
                          kPodCidr, &problems);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_NE(problems[0].find("no service default/nope"), std::string::npos);
  EXPECT_NE(problems[1].find("outside the pod CIDR"), std::string::npos);
  EXPECT_NE(problems[2].find("already lists"), std::string::npos);
  ASSERT_EQ(out[0].endpoints.size(), 2u);  // the valid one still goes in
  EXPECT_EQ(out[0].endpoints[1].ip.toString(), "10.244.2.6");
}

// The directory ovl-cni writes: new names, old names left by an upgrade, and files whose name is
// not their content's (never trusted: ovl-cni removes registrations by name).
TEST(LocalEndpoints, ReadsNewAndLegacyNamesAndRefusesMismatchedOnes) {
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("ovl-local-endpoints-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto watch = LocalEndpoints::create(dir);
  ASSERT_TRUE(watch) << watch.error().message;
  auto put = [&](const std::string& name, const LocalEndpoint& e) {
    std::ofstream(dir + "/" + name) << e.toJson();
  };
  LocalEndpoint fresh{"default/web", *Ipv4::parse("10.244.1.2"), "node1", "x.y", "z"};
  LocalEndpoint legacy{"default/web", *Ipv4::parse("10.244.1.3"), "node1", "old", "eth0"};
  LocalEndpoint misnamed{"default/web", *Ipv4::parse("10.244.1.4"), "node1", "x", "y.z"};
  put(LocalEndpoint::fileName("x.y", "z"), fresh);
  put("old.eth0.json", legacy);
  put("ctr-9@eth0.json", misnamed);  // another interface's name
  std::ofstream(dir + "/huge@eth0.json") << std::string(kMaxRegistrationBytes + 1, ' ');

  std::vector<std::string> problems;
  auto regs = watch->read(&problems);
  ASSERT_EQ(regs.size(), 2u);
  EXPECT_EQ(regs[0], legacy);  // sorted by file name: "old.eth0.json" < "x.y@z.json"
  EXPECT_EQ(regs[1], fresh);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("ctr-9@eth0.json: holds x/y.z, whose registration is named "
                             "x@y.z.json"),
            std::string::npos)
      << problems[0];
  EXPECT_NE(problems[1].find("huge@eth0.json"), std::string::npos) << problems[1];
  EXPECT_NE(problems[1].find("larger than"), std::string::npos) << problems[1];
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ovl
