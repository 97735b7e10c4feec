// ovl-cni's IPAM: allocation order, reserved addresses, release, garbage collection, the
// on-disk format, and the store under concurrent writers.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include <fmt/format.h>

#include "cni/ipam.h"

namespace ovl::cni {
namespace {

const Ipv4Prefix kSubnet = *Ipv4Prefix::parse("10.244.1.0/24");
const Ipv4 kGateway = *Ipv4::parse("10.244.1.1");

Ipv4 ip(const char* s) {
  return *Ipv4::parse(s);
}

// "c<i>". Formatted, not "c" + std::to_string(i): GCC 12 at -O3 (a Release build) reports a
// false -Wrestrict in that operator+ (GCC bugs 105329, 105651).
std::string containerId(int i) {
  return fmt::format("c{}", i);
}

TEST(Ipam, SkipsNetworkGatewayAndBroadcast) {
  IpamState s;
  auto a = allocate(s, kSubnet, kGateway, {"c1", "eth0"});
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, ip("10.244.1.2"));
  std::set<Ipv4> seen{*a};
  for (int i = 2; i <= 253; ++i) {
    auto next = allocate(s, kSubnet, kGateway, {containerId(i), "eth0"});
    ASSERT_TRUE(next) << i;
    EXPECT_TRUE(seen.insert(*next).second) << next->toString();
  }
  EXPECT_EQ(seen.size(), 253u);  // .2 .. .254
  EXPECT_FALSE(seen.contains(ip("10.244.1.0")));
  EXPECT_FALSE(seen.contains(ip("10.244.1.1")));
  EXPECT_FALSE(seen.contains(ip("10.244.1.255")));
  auto full = allocate(s, kSubnet, kGateway, {"one-too-many", "eth0"});
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ENOSPC);
}

TEST(Ipam, SameHolderGetsItsAddressAgain) {
  IpamState s;
  auto a = allocate(s, kSubnet, kGateway, {"c1", "eth0"});
  auto b = allocate(s, kSubnet, kGateway, {"c1", "eth0"});
  auto c = allocate(s, kSubnet, kGateway, {"c1", "net1"});
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_EQ(findAllocation(s, {"c1", "net1"}), *c);
}

TEST(Ipam, FreedAddressesAreNotReusedAtOnce) {
  IpamState s;
  auto a = allocate(s, kSubnet, kGateway, {"c1", "eth0"});
  ASSERT_TRUE(a);
  EXPECT_EQ(release(s, {"c1", "eth0"}), std::vector<Ipv4>{*a});
  EXPECT_TRUE(release(s, {"c1", "eth0"}).empty());  // idempotent
  auto b = allocate(s, kSubnet, kGateway, {"c2", "eth0"});
  ASSERT_TRUE(b);
  EXPECT_NE(*a, *b);  // round robin from the last one handed out
  // ... and it wraps around to the start.
  s.last = ip("10.244.1.254");
  auto c = allocate(s, kSubnet, kGateway, {"c3", "eth0"});
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, ip("10.244.1.2"));
}

TEST(Ipam, GarbageCollectionKeepsOnlyValidAttachments) {
  IpamState s;
  ASSERT_TRUE(allocate(s, kSubnet, kGateway, {"keep", "eth0"}));
  ASSERT_TRUE(allocate(s, kSubnet, kGateway, {"gone", "eth0"}));
  ASSERT_TRUE(allocate(s, kSubnet, kGateway, {"keep", "net1"}));
  auto freed = collectGarbage(s, {{"keep", "eth0"}, {"keep", "net1"}});
  ASSERT_EQ(freed.size(), 1u);
  EXPECT_EQ(freed[0].second.containerId, "gone");
  EXPECT_EQ(s.allocations.size(), 2u);
}

TEST(Ipam, JsonRoundTripAndErrors) {
  IpamState s;
  ASSERT_TRUE(allocate(s, kSubnet, kGateway, {"c1", "eth0"}));
  auto back = IpamState::parse(s.toJson(), "x.json");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
  auto bad = IpamState::parse(R"({"allocations":{"10.0.0.300":{"containerID":"a","ifname":"b"}}})",
                              "x.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("x.json"), std::string::npos);
}

TEST(Ipam, RecordsTheNamespaceOfEachAddressAndForgetsItOnRelease) {
  IpamState s;
  auto a = allocate(s, kSubnet, kGateway, {"c1", "eth0"});
  auto b = allocate(s, kSubnet, kGateway, {"c2", "eth0"});
  ASSERT_TRUE(a && b);
  s.sandboxes[*a] = "4:4026532300";
  s.sandboxes[*b] = "4:4026532301";
  auto back = IpamState::parse(s.toJson(), "x.json");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
  EXPECT_EQ(back->sandboxes.at(*a), "4:4026532300");
  release(s, {"c1", "eth0"});
  EXPECT_FALSE(s.sandboxes.contains(*a));
  collectGarbage(s, {});
  EXPECT_TRUE(s.sandboxes.empty());
  // Allocations written before the record existed still parse, without one.
  auto old = IpamState::parse(
      R"({"allocations":{"10.244.1.2":{"containerID":"a","ifname":"eth0"}}})", "x.json");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->allocations.size(), 1u);
  EXPECT_TRUE(old->sandboxes.empty());
}

class IpamStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ovl-ipam-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(IpamStoreTest, StateSurvivesReopening) {
  {
    auto store = IpamStore::open(dir_, "net");
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->update([](IpamState& s) -> Status {
      auto a = allocate(s, kSubnet, kGateway, {"c1", "eth0"});
      return a ? okStatus() : Status(a.error());
    }));
  }
  auto store = IpamStore::open(dir_, "net");
  ASSERT_TRUE(store);
  auto s = store->read();
  ASSERT_TRUE(s);
  EXPECT_EQ(findAllocation(*s, {"c1", "eth0"}), ip("10.244.1.2"));
}

TEST_F(IpamStoreTest, TwentyProcessesNeverShareAnAddress) {
  constexpr int kWriters = 20;
  std::vector<pid_t> children;
  for (int i = 0; i < kWriters; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = IpamStore::open(dir_, "net");
      bool ok = store && store->update([&](IpamState& s) -> Status {
        auto a = allocate(s, kSubnet, kGateway, {containerId(i), "eth0"});
        return a ? okStatus() : Status(a.error());
      });
      ::_exit(ok ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto store = IpamStore::open(dir_, "net");
  ASSERT_TRUE(store);
  auto s = store->read();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->allocations.size(), static_cast<size_t>(kWriters));  // one each, none lost
}

}  // namespace
}  // namespace ovl::cni
