// ClientIP session affinity against the real kernel, with real TCP: a "pod" namespace behind a
// veth pair holds three endpoints (10.244.1.11-13, one listening socket each); the test
// namespace (10.244.1.1) is the client. `nft list table ip ovl` is the witness that the affinity
// objects are present and that the installed nft can print every rule.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "rules/nat_table.h"
#include "tests/netns/netns_fixture.h"

namespace ovl::nat {
namespace {

constexpr std::array<const char*, 3> kEndpoints = {"10.244.1.11", "10.244.1.12", "10.244.1.13"};
constexpr uint16_t kEndpointPort = 8080;
constexpr const char* kVip = "10.96.0.10";
constexpr uint16_t kVipPort = 80;
constexpr uint16_t kNodePort = 30080;
constexpr const char* kNodeAddr = "10.244.1.1";  // the test namespace's own address

Ipv4 ip(const char* text) {
  return *Ipv4::parse(text);
}

// web: ClusterIP kVip:kVipPort/tcp and NodePort kNodePort/tcp over the endpoints (by default
// all three).
NatPlan affinityPlan(uint32_t affinityTimeout,
                     std::vector<const char*> endpoints = {kEndpoints.begin(), kEndpoints.end()}) {
  NatPlan p;
  Target target;
  target.kind = Target::Kind::kBalance;
  target.slots = static_cast<uint32_t>(endpoints.size());
  target.affinityTimeout = affinityTimeout;
  p.slotCounts.insert(target.slots);

  VipEntry v;
  v.ip = ip(kVip);
  v.port = kVipPort;
  v.target = target;
  v.comment = "default/web:http";
  p.vips.push_back(v);

  NodePortEntry n;
  n.port = kNodePort;
  n.target = target;
  n.comment = "default/web:http";
  p.nodePorts.push_back(n);

  for (uint32_t i = 0; i < endpoints.size(); ++i) {
    SlotEntry e;
    e.port = kVipPort;
    e.vip = v.ip;
    e.slot = i;
    e.endpoint = ip(endpoints[i]);
    e.endpointPort = kEndpointPort;
    e.comment = v.comment + " -> " + endpoints[i];
    p.slots.push_back(e);
    e.vip = Ipv4{};  // NodePort: 0.0.0.0 . tcp . nodePort . slot
    e.port = kNodePort;
    p.slots.push_back(e);
  }
  std::sort(p.slots.begin(), p.slots.end());
  p.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  return p;
}

// Three listening sockets in namespace `ns` (one per endpoint address), accepting until stop();
// counts the connections each one accepted.
class Endpoints {
 public:
  explicit Endpoints(const std::string& ns) {
    std::promise<bool> ready;
    auto readyFuture = ready.get_future();
    thread_ = std::thread([this, ns, &ready] { run(ns, ready); });
    ok_ = readyFuture.get();
  }
  ~Endpoints() { stop(); }
  bool ok() const { return ok_; }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  // Accepted connections per endpoint address, after stop().
  std::map<std::string, int> counts() const { return counts_; }

 private:
  void run(const std::string& ns, std::promise<bool>& ready) {
    const int nsFd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsFd < 0 || setns(nsFd, CLONE_NEWNET) != 0) {
      ready.set_value(false);
      return;
    }
    close(nsFd);
    std::array<pollfd, kEndpoints.size()> fds{};
    bool good = true;
    for (size_t i = 0; i < kEndpoints.size(); ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(kEndpointPort);
      inet_pton(AF_INET, kEndpoints[i], &sa.sin_addr);
      good = good && bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 &&
             listen(fd, 64) == 0;
      fds[i] = pollfd{fd, POLLIN, 0};
    }
    ready.set_value(good);
    while (good && !stop_) {
      if (poll(fds.data(), fds.size(), 50) <= 0) {
        continue;
      }
      for (size_t i = 0; i < fds.size(); ++i) {
        if ((fds[i].revents & POLLIN) != 0) {
          const int c = accept(fds[i].fd, nullptr, nullptr);
          if (c >= 0) {
            ++counts_[kEndpoints[i]];
            close(c);
          }
        }
      }
    }
    for (const pollfd& p : fds) {
      close(p.fd);
    }
  }

  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool ok_ = false;
  std::map<std::string, int> counts_;
};

std::string describe(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [addr, n] : counts) {
    out += addr + ": " + std::to_string(n) + "  ";
  }
  return out;
}

class AffinityTest : public test::NetnsTest {
 protected:
  void SetUp() override {
    test::NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    pod_ = addPod({kEndpoints[0], kEndpoints[1], kEndpoints[2]});
  }

  // n connections to addr:port; returns the accepted connections per endpoint.
  std::map<std::string, int> connectMany(const char* addr, uint16_t port, int n) {
    Endpoints eps(pod_);
    EXPECT_TRUE(eps.ok());
    int failed = 0;
    for (int i = 0; i < n; ++i) {
      failed += test::connectTo(addr, port) != 0 ? 1 : 0;
    }
    EXPECT_EQ(failed, 0);
    // Let the server accept what is queued before stopping it.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    eps.stop();
    auto counts = eps.counts();
    int total = 0;
    for (const auto& [a, c] : counts) {
      total += c;
    }
    EXPECT_EQ(total, n) << describe(counts);
    return counts;
  }

  std::string list() { return sh("nft list table ip ovl"); }
  static bool has(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
  }

  std::string pod_;
};

TEST_F(AffinityTest, WithoutAffinityConnectionsSpread) {
  auto t = NatTable::create();
  ASSERT_TRUE(t) << t.error().message;
  Status s = t->sync(affinityPlan(0));
  ASSERT_TRUE(s) << s.error().message;
  const std::string l = list();
  EXPECT_TRUE(has(l, "10.96.0.10 . tcp . 80 comment \"default/web:http\" : goto lb_3")) << l;

  const auto counts = connectMany(kVip, kVipPort, 50);
  EXPECT_GE(counts.size(), 2u) << describe(counts);  // all 50 on one of 3: p = 3^-49
}

TEST_F(AffinityTest, ClientIpAffinityKeepsTheClientOnOneEndpoint) {
  auto t = NatTable::create();
  ASSERT_TRUE(t) << t.error().message;
  Status s = t->sync(affinityPlan(10));
  ASSERT_TRUE(s) << s.error().message;

  // Every rule lists with the installed nft, and the affinity objects are there.
  ASSERT_EQ(shStatus("nft list table ip ovl"), 0);
  std::string l = list();
  for (const char* want : {
           "map affinity {",
           "flags dynamic,timeout",
           "10.96.0.10 . tcp . 80 comment \"default/web:http\" : goto lbaff_3",
           "tcp . 30080 comment \"default/web:http\" : goto nplbaff_3",
           "dnat ip to ip saddr . ip daddr . meta l4proto . th dport map @affinity",
           "numgen random mod 3 map @endpoints comment \"ovl: lbaff_3 dnat #",
           "10.96.0.10 . tcp . 80 comment \"default/web:http\" : goto affrec_10",
           "update @affinity { ip saddr . ct original ip daddr . meta l4proto . ct original "
           "proto-dst timeout 10s : ip daddr . tcp dport }",
           "jump affinity_record",
       }) {
    EXPECT_TRUE(has(l, want)) << want << "\n" << l;
  }

  // ClusterIP: 50 connections from one client address land on one endpoint.
  auto counts = connectMany(kVip, kVipPort, 50);
  EXPECT_EQ(counts.size(), 1u) << describe(counts);
  ASSERT_FALSE(counts.empty());
  const std::string chosen = counts.begin()->first;

  ASSERT_EQ(shStatus("nft list table ip ovl"), 0);
  ASSERT_EQ(shStatus("nft -j list table ip ovl >/dev/null"), 0);
  l = list();
  EXPECT_TRUE(has(l, "10.244.1.1 . 10.96.0.10 . tcp . 80 timeout 10s expires")) << l;
  EXPECT_TRUE(has(l, ": " + chosen + " . 8080")) << l;

  // NodePort on the node's own address: likewise (recorded with 0.0.0.0 for the address).
  counts = connectMany(kNodeAddr, kNodePort, 50);
  EXPECT_EQ(counts.size(), 1u) << describe(counts);
  ASSERT_EQ(shStatus("nft list table ip ovl"), 0);
  l = list();
  EXPECT_TRUE(has(l, "10.244.1.1 . 0.0.0.0 . tcp . 30080 timeout 10s expires")) << l;

  // Back to no affinity: the same client spreads again.
  s = t->sync(affinityPlan(0));
  ASSERT_TRUE(s) << s.error().message;
  counts = connectMany(kVip, kVipPort, 50);
  EXPECT_GE(counts.size(), 2u) << describe(counts);
  EXPECT_EQ(shStatus("nft list table ip ovl"), 0);
}

// kube-proxy's affinity lists go with the endpoint's chain; ovl's entries live in one map the
// kernel fills, so the sync that removes an endpoint deletes the entries that point at it.
// Without that, the client below would stay on the removed endpoint (whose socket still
// answers here) for the whole timeout.
TEST_F(AffinityTest, ClientsOfARemovedEndpointAreLetGo) {
  auto t = NatTable::create();
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE(t->sync(affinityPlan(600)));
  auto counts = connectMany(kVip, kVipPort, 20);
  ASSERT_EQ(counts.size(), 1u) << describe(counts);
  const std::string chosen = counts.begin()->first;
  counts = connectMany(kNodeAddr, kNodePort, 20);
  ASSERT_EQ(counts.size(), 1u) << describe(counts);
  const std::string chosenNodePort = counts.begin()->first;

  // Another client address, whose entries must stay: its endpoint is kept.
  std::vector<const char*> rest;
  for (const char* e : kEndpoints) {
    if (e != chosen) {
      rest.push_back(e);
    }
  }
  std::string l = sh("nft list map ip ovl affinity");
  EXPECT_TRUE(has(l, ": " + chosen + " . 8080")) << l;
  ASSERT_EQ(shStatus(std::string("nft add element ip ovl affinity { 10.244.1.99 . ") + kVip +
                     " . tcp . 80 timeout 600s : " + rest[0] + " . 8080 }"),
            0);

  Status s = t->sync(affinityPlan(600, rest));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_GE(t->lastSync().affinityCleared, 1u) << t->lastSync().affinityProblem;
  EXPECT_TRUE(t->lastSync().affinityProblem.empty()) << t->lastSync().affinityProblem;
  l = sh("nft list map ip ovl affinity");
  EXPECT_FALSE(has(l, ": " + chosen + " . 8080")) << l;
  EXPECT_TRUE(has(l, std::string("10.244.1.99 . ") + kVip + " . tcp . 80")) << l;

  // The client moves to one of the endpoints left, and stays there.
  counts = connectMany(kVip, kVipPort, 20);
  EXPECT_EQ(counts.size(), 1u) << describe(counts);
  EXPECT_EQ(counts.count(chosen), 0u) << describe(counts);
  if (chosenNodePort == chosen) {
    counts = connectMany(kNodeAddr, kNodePort, 20);
    EXPECT_EQ(counts.size(), 1u) << describe(counts);
    EXPECT_EQ(counts.count(chosen), 0u) << describe(counts);
  }
  // Nothing else to clear, and the table's own view is still trusted (no read-back).
  auto again = t->clearStaleAffinity(nft::DesiredIndex::of(affinityPlan(600, rest)));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(*again, 0u);
  ASSERT_TRUE(t->sync(affinityPlan(600, rest)));
  EXPECT_FALSE(t->lastSync().readBack);
  EXPECT_EQ(t->lastSync().operations, 0u);
}

// The service deleted (no affinity in use any more) and created again with other endpoints:
// the entries of the deleted service went with it, so its clients are balanced anew.
TEST_F(AffinityTest, EntriesOfADeletedServiceGoWithIt) {
  auto t = NatTable::create();
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE(t->sync(affinityPlan(600, {kEndpoints[0]})));
  auto counts = connectMany(kVip, kVipPort, 5);
  ASSERT_EQ(counts.count(kEndpoints[0]), 1u) << describe(counts);
  std::string l = sh("nft list map ip ovl affinity");
  ASSERT_TRUE(has(l, std::string(": ") + kEndpoints[0] + " . 8080")) << l;

  NatPlan none;
  none.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  Status s = t->sync(none);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_GE(t->lastSync().affinityCleared, 1u) << t->lastSync().affinityProblem;
  l = sh("nft list map ip ovl affinity");
  EXPECT_FALSE(has(l, std::string(": ") + kEndpoints[0] + " . 8080")) << l;

  ASSERT_TRUE(t->sync(affinityPlan(600, {kEndpoints[1], kEndpoints[2]})));
  counts = connectMany(kVip, kVipPort, 10);
  EXPECT_EQ(counts.count(kEndpoints[0]), 0u) << describe(counts);
  EXPECT_EQ(counts.size(), 1u) << describe(counts);
}

TEST_F(AffinityTest, ReadBackFindsNothingToDo) {
  auto t = NatTable::create();
  ASSERT_TRUE(t) << t.error().message;
  const NatPlan plan = affinityPlan(10);
  ASSERT_TRUE(t->sync(plan));
  auto t2 = NatTable::create();
  ASSERT_TRUE(t2);
  Status s = t2->sync(plan);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(t2->lastSync().readBack);
  EXPECT_FALSE(t2->lastSync().rebuilt);
  EXPECT_EQ(t2->lastSync().operations, 0u);
  // Another timeout: only the affinity element and the record chains change.
  s = t2->sync(affinityPlan(30));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE(t2->lastSync().rebuilt);
  EXPECT_EQ(t2->lastSync().elementsAdded, 2u);  // affinity_services, affinity_nodeports
  const std::string l = list();
  EXPECT_TRUE(has(l, "goto affrec_30")) << l;
  EXPECT_TRUE(has(l, "timeout 30s")) << l;
  EXPECT_FALSE(has(l, "affrec_10")) << l;
}

}  // namespace
}  // namespace ovl::nat
