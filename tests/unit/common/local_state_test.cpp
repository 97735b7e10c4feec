// The node's local state files shared by ovl-agent and ovl-cni (common/local_state.h).
#include "common/local_state.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace ovl {
namespace {

const Ipv4Prefix kSubnet = *Ipv4Prefix::parse("10.244.1.0/24");
const Ipv4 kGateway = *Ipv4::parse("10.244.1.1");

Ipv4 ip(const char* s) {
  return *Ipv4::parse(s);
}

TEST(LocalState, NodeStateRoundTripAndErrors) {
  NodeState n{"node1", kSubnet, kGateway, 1450, "ovlbr0", "/run/ovl/endpoints"};
  auto back = NodeState::parse(n.toJson(), "node.json");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, n);
  auto bad = NodeState::parse(
      R"({"node":"n","subnet":"10.244.1.0/24","gateway":"10.9.9.9","mtu":1450,"bridge":"b",
          "endpointsDir":"/e"})",
      "node.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("gateway"), std::string::npos);
  EXPECT_FALSE(NodeState::parse(R"({"node":"n"})", "node.json"));
}

TEST(LocalState, EndpointRoundTripAndServiceNames) {
  LocalEndpoint e{"default/web", ip("10.244.1.7"), "node1", "ovl-t1", "eth0"};
  auto back = LocalEndpoint::parse(e.toJson(), "e.json");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, e);
  EXPECT_EQ(checkServiceName("default/web"), "");
  EXPECT_NE(checkServiceName("web"), "");
  EXPECT_NE(checkServiceName("Default/web"), "");
  EXPECT_NE(checkServiceName("default/-web"), "");
  EXPECT_NE(checkServiceName("a/b/c"), "");
}

TEST(LocalState, RegistrationNamesNeverCollide) {
  EXPECT_EQ(LocalEndpoint::fileName("ovl-t1", "eth0"), "ovl-t1@eth0.json");
  // The old names collided: "x.y"+"z" and "x"+"y.z" were both "x.y.z.json".
  EXPECT_EQ(LocalEndpoint::legacyFileName("x.y", "z"), LocalEndpoint::legacyFileName("x", "y.z"));
  EXPECT_NE(LocalEndpoint::fileName("x.y", "z"), LocalEndpoint::fileName("x", "y.z"));
  // '@' is allowed in interface names; in an ID (never from the plugin) it is escaped.
  EXPECT_NE(LocalEndpoint::fileName("a@b", "c"), LocalEndpoint::fileName("a", "b@c"));
  EXPECT_EQ(LocalEndpoint::fileName("a@b%", "c"), "a%40b%25@c.json");
  EXPECT_NE(LocalEndpoint::fileName("a%40b", "c"), LocalEndpoint::fileName("a@b", "c"));

  LocalEndpoint e{"default/web", ip("10.244.1.7"), "node1", "x.y", "z"};
  EXPECT_TRUE(e.namedBy("x.y@z.json"));
  EXPECT_TRUE(e.namedBy("x.y.z.json"));  // the legacy name is still its own
  EXPECT_FALSE(e.namedBy("x@y.z.json"));
  EXPECT_FALSE(e.namedBy("other@z.json"));
}

TEST(LocalState, DeepOrHugeFilesAreRefused) {
  const std::string deep =
      R"({"service":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  auto r = LocalEndpoint::parse(deep, "/run/ovl/endpoints/e.json");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("deeper than 64"), std::string::npos) << r.error().message;
  EXPECT_FALSE(NodeState::parse(deep, "node.json"));

  // A long bad value is quoted by its first 64 bytes only.
  auto longBad =
      LocalEndpoint::parse(R"({"service":[")" + std::string(100000, 'a') + R"("]})", "e.json");
  ASSERT_FALSE(longBad);
  EXPECT_LT(longBad.error().message.size(), 200u) << longBad.error().message.size();

  // A device, a FIFO: refused at once, never read.
  auto dev = readFile("/dev/zero");
  ASSERT_FALSE(dev);
  EXPECT_EQ(dev.error().code, EINVAL);
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("ovl-local-state-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_EQ(::mkfifo((dir + "/fifo").c_str(), 0600), 0);
  auto fifo = readFile(dir + "/fifo");
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().code, EINVAL);
  // A regular file over the limit: EFBIG; at the limit: read.
  std::ofstream(dir + "/big") << std::string(1000, 'x');
  auto big = readFile(dir + "/big", 999);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, EFBIG);
  auto fits = readFile(dir + "/big", 1000);
  ASSERT_TRUE(fits);
  EXPECT_EQ(fits->size(), 1000u);
  EXPECT_EQ(readFile(dir + "/missing").error().code, ENOENT);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ovl
