// NatTable against the real kernel: the table read back with `nft` as the witness, drift repair,
// coexistence with other tables and iptables, all-or-nothing batches, and real TCP through the
// DNAT path (a veth pair to a "pod" namespace with a server in it).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <iterator>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "rules/nat_state.h"
#include "rules/nat_table.h"
#include "tests/netns/netns_fixture.h"

namespace ovl::nat {
namespace {

Ipv4 ip(const char* text) {
  return *Ipv4::parse(text);
}

// A ClusterIP service on vip:port/tcp with endpoints (ip, port); none = reject.
struct Svc {
  std::string name;
  const char* vip;
  uint16_t port;
  std::vector<std::pair<const char*, uint16_t>> endpoints;
};

NatPlan makePlan(const std::vector<Svc>& services) {
  NatPlan p;
  for (const Svc& s : services) {
    VipEntry v;
    v.ip = ip(s.vip);
    v.port = s.port;
    v.comment = "default/" + s.name + ":http";
    if (s.endpoints.empty()) {
      v.target.kind = Target::Kind::kReject;
    } else {
      v.target.kind = Target::Kind::kBalance;
      v.target.slots = static_cast<uint32_t>(s.endpoints.size());
      p.slotCounts.insert(v.target.slots);
    }
    for (uint32_t i = 0; i < s.endpoints.size(); ++i) {
      SlotEntry e;
      e.vip = v.ip;
      e.port = s.port;
      e.slot = i;
      e.endpoint = ip(s.endpoints[i].first);
      e.endpointPort = s.endpoints[i].second;
      e.comment = v.comment + " -> " + s.endpoints[i].first;
      p.slots.push_back(e);
    }
    p.vips.push_back(v);
  }
  std::sort(p.vips.begin(), p.vips.end());
  std::sort(p.slots.begin(), p.slots.end());
  p.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  return p;
}

std::vector<Svc> basicServices() {
  return {{"web", "10.96.0.10", 80, {{"10.244.1.11", 8080}, {"10.244.1.12", 8080}}},
          {"api", "10.96.0.20", 443, {{"10.244.2.5", 8443}}},
          {"empty", "10.96.0.30", 80, {}}};
}

class NatTableTest : public test::NetnsTest {
 protected:
  std::string list() { return sh("nft list table ip ovl"); }
  std::string json() { return sh("nft -j list table ip ovl"); }
  static bool has(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
  }
};

TEST_F(NatTableTest, FirstSyncCreatesEverythingSecondSendsNothing) {
  auto t = NatTable::create();
  ASSERT_TRUE(t) << t.error().message;
  const NatPlan plan = makePlan(basicServices());
  Status s = t->sync(plan);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_GT(t->lastSync().operations, 0u);
  EXPECT_EQ(t->lastSync().elementsAdded, 2u + 3u + 1u);  // services, endpoints, reject

  const std::string j = json();
  for (const char* chain :
       {"\"lb_1\"", "\"lb_2\"", "\"nplb_2\"", "\"svc_reject\"", "\"nat_prerouting\"",
        "\"nat_output\"", "\"nat_postrouting\"", "\"filter_prerouting\"", "\"filter_output\""}) {
    EXPECT_TRUE(has(j, chain)) << chain << "\n" << j;
  }
  const std::string l = list();
  EXPECT_TRUE(has(l, "10.96.0.10 . tcp . 80 comment \"default/web:http\" : goto lb_2")) << l;
  EXPECT_TRUE(has(l, "10.96.0.30 . tcp . 80 comment \"default/empty:http\" : goto svc_reject"))
      << l;
  EXPECT_TRUE(has(l, "comment \"default/web:http -> 10.244.1.12\" : 10.244.1.12 . 8080")) << l;
  EXPECT_TRUE(has(l, "numgen random mod 2 map @endpoints comment \"ovl: lb_2 dnat #")) << l;
  EXPECT_TRUE(has(l, "ip saddr != 10.244.0.0/16 masquerade")) << l;
  EXPECT_TRUE(has(l, "ct mark & 0x00000002 == 0x00000002 masquerade")) << l;

  s = t->sync(plan);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(t->lastSync().operations, 0u);
  EXPECT_EQ(t->lastSync().batchBytes, 0u);
  EXPECT_FALSE(t->lastSync().readBack);  // the acknowledged view is still the kernel's

  // A fresh NatTable (an agent restart) reads the table back and finds nothing to do.
  auto t2 = NatTable::create();
  ASSERT_TRUE(t2);
  s = t2->sync(plan);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(t2->lastSync().readBack);
  EXPECT_EQ(t2->lastSync().operations, 0u);
  EXPECT_EQ(list(), l);
}

TEST_F(NatTableTest, OneServiceChangedTouchesOnlyItsElements) {
  auto t = NatTable::create();
  ASSERT_TRUE(t);
  auto services = basicServices();
  ASSERT_TRUE(t->sync(makePlan(services)));
  services[1].endpoints.push_back({"10.244.3.7", 8443});  // api: 1 -> 2 endpoints
  Status s = t->sync(makePlan(services));
  ASSERT_TRUE(s) << s.error().message;
  // services: api's element replaced (goto lb_1 -> lb_2); endpoints: one added; lb_1 deleted.
  EXPECT_EQ(t->lastSync().elementsAdded, 2u);
  EXPECT_EQ(t->lastSync().elementsDeleted, 1u);
  EXPECT_EQ(t->lastSync().chainsDeleted, 2u);  // lb_1, nplb_1
  EXPECT_EQ(t->lastSync().rulesAdded, 0u);
  const std::string l = list();
  EXPECT_TRUE(has(l, "10.96.0.20 . tcp . 443 comment \"default/api:http\" : goto lb_2")) << l;
  EXPECT_TRUE(has(l, ": 10.244.3.7 . 8443")) << l;
  EXPECT_FALSE(has(l, "chain lb_1 ")) << l;

  // Comment-only change: replaced too.
  services[0].name = "web2";
  ASSERT_TRUE(t->sync(makePlan(services)));
  EXPECT_EQ(t->lastSync().elementsAdded, 3u);  // 1 service + 2 endpoints
  EXPECT_TRUE(has(list(), "comment \"default/web2:http\"")) << list();
}

TEST_F(NatTableTest, RepairsDrift) {
  auto t = NatTable::create();
  ASSERT_TRUE(t);
  const NatPlan plan = makePlan(basicServices());
  ASSERT_TRUE(t->sync(plan));
  const std::string good = list();

  sh("nft delete element ip ovl services '{ 10.96.0.10 . tcp . 80 }'");
  sh("nft flush chain ip ovl nat_output");
  sh("nft add element ip ovl endpoints '{ 10.96.0.99 . tcp . 80 . 0x0 : 1.2.3.4 . 5 }'");
  Status s = t->sync(plan);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(t->lastSync().readBack);
  EXPECT_EQ(t->lastSync().chainsRefilled, 1u);
  EXPECT_EQ(t->lastSync().elementsAdded, 1u);
  EXPECT_EQ(t->lastSync().elementsDeleted, 1u);
  EXPECT_EQ(list(), good);

  // An edited rule (someone's rule appended to our chain) is removed.
  sh("nft add rule ip ovl nat_prerouting counter");
  ASSERT_TRUE(t->sync(plan));
  EXPECT_EQ(list(), good);

  sh("nft delete table ip ovl");
  s = t->sync(plan);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(list(), good);

  // A base chain's policy set to drop would drop every new connection on the node.
  sh("nft add chain ip ovl nat_prerouting '{ policy drop; }'");
  s = t->sync(plan);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(list(), good);

  // A set with the wrong shape: the table is rebuilt in one batch.
  sh("nft delete table ip ovl");
  sh("nft add table ip ovl");
  sh("nft add map ip ovl services '{ type ipv4_addr : verdict; }'");
  s = t->sync(plan);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(t->lastSync().rebuilt);
  EXPECT_EQ(list(), good);
}

TEST_F(NatTableTest, LeavesOtherTablesAndIptablesAlone) {
  sh("nft add table ip other");
  sh("nft add chain ip other c '{ type filter hook output priority 0; }'");
  sh("nft add rule ip other c ip daddr 10.9.9.9 counter accept comment keep");
  sh("iptables -t nat -A OUTPUT -d 10.1.2.3 -j ACCEPT");
  const std::string other = sh("nft list table ip other");
  const std::string ipt = sh("iptables -t nat -S OUTPUT");

  auto t = NatTable::create();
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->sync(makePlan(basicServices())));
  t->invalidate();
  ASSERT_TRUE(t->sync(makePlan({})));
  EXPECT_EQ(sh("nft list table ip other"), other);
  EXPECT_EQ(sh("iptables -t nat -S OUTPUT"), ipt);
  ASSERT_TRUE(t->remove());
  EXPECT_NE(shStatus("nft list table ip ovl"), 0);
  EXPECT_EQ(sh("nft list table ip other"), other);
  EXPECT_EQ(sh("iptables -t nat -S OUTPUT"), ipt);
  EXPECT_TRUE(t->remove());  // already gone: fine
}

TEST_F(NatTableTest, FailedBatchAppliesNothingAndNamesTheElementThenRebuilds) {
  // The planner cannot make a plan the kernel refuses (keys are unique by construction), so
  // someone else sets a trap the read-back does not look at: the hairpin set re-created with
  // room for one element, everything else of the table gone.
  auto t = NatTable::create();
  ASSERT_TRUE(t);
  auto services = basicServices();
  services.push_back({"second", "10.96.0.41", 80, {{"10.244.1.21", 80}}});
  NatPlan plan = makePlan(services);
  plan.hairpin = {Ipv4::parse("10.244.1.11").value(), Ipv4::parse("10.244.1.21").value()};
  sh("nft add table ip ovl && nft add set ip ovl hairpin "
     "'{ type ipv4_addr . ipv4_addr; size 1; }'");
  const std::string before = list();

  Status s = t->sync(plan);
  ASSERT_FALSE(s);
  EXPECT_TRUE(has(s.error().message, "to set hairpin")) << s.error().message;
  EXPECT_TRUE(has(s.error().message, "batch refused, nothing applied")) << s.error().message;
  EXPECT_EQ(list(), before) << "nothing of the batch applied";
  EXPECT_GE(t->totals().failures, 1u);

  // The next attempt reads the table back and, since the refusal is not explained by what it
  // reads, deletes and re-creates the table in its one batch.
  s = t->sync(plan);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(t->lastSync().readBack);
  EXPECT_TRUE(t->lastSync().rebuilt);
  EXPECT_TRUE(has(list(), "10.96.0.41 . tcp . 80")) << list();
  EXPECT_FALSE(has(list(), "size 1")) << list();
}

// `nft -j list` as a sorted list of its objects, without handles (which differ between two
// tables with the same content) and with elements sorted.
std::vector<std::string> canonical(const std::string& text) {
  nlohmann::json doc = nlohmann::json::parse(text);
  std::vector<std::string> out;
  for (auto& obj : doc["nftables"]) {
    if (obj.contains("metainfo")) {
      continue;
    }
    for (auto& [kind, body] : obj.items()) {
      body.erase("handle");
      if (body.contains("elem")) {
        std::vector<std::string> elems;
        for (const auto& e : body["elem"]) {
          elems.push_back(e.dump());
        }
        std::sort(elems.begin(), elems.end());
        body["elem"] = elems;
      }
    }
    out.push_back(obj.dump());
  }
  std::sort(out.begin(), out.end());
  return out;
}

svc::Service udpService(const std::string& name, const char* vip,
                        const std::vector<const char*>& endpoints) {
  svc::Service s;
  s.ns = "default";
  s.name = name;
  s.clusterIps = {ip(vip)};
  s.ports = {svc::ServicePort{"dns", svc::Protocol::kUdp, 53, 5353, std::nullopt},
             svc::ServicePort{"web", svc::Protocol::kTcp, 80, 8080, std::nullopt}};
  for (const char* e : endpoints) {
    svc::Endpoint ep;
    ep.ip = ip(e);
    ep.node = "node2";
    s.endpoints.push_back(ep);
  }
  return s;
}

TEST_F(NatTableTest, IncrementalSyncWritesOnlyTheChangeAndMatchesAFreshTable) {
  const PlanInputs in{"node1", *Ipv4Prefix::parse("10.244.0.0/16"),
                      svc::MasqueradeMode::kOffCluster, std::nullopt};
  NatState state(in);
  std::vector<svc::Service> all;
  for (int i = 0; i < 50; ++i) {
    const std::string vip = "10.96.1." + std::to_string(i + 1);
    all.push_back(udpService("s" + std::to_string(i), vip.c_str(),
                             {"10.244.2.10", "10.244.2.11", "10.244.2.12"}));
  }
  state.setServices(all);
  auto t = NatTable::create();
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->sync(state.desired()));
  EXPECT_FALSE(t->lastSync().incremental) << "the first sync compares everything";

  // One endpoint of one service goes away.
  all[7].endpoints.erase(all[7].endpoints.begin() + 1);
  state.upsert(all[7]);
  Status s = t->sync(state.desired());
  ASSERT_TRUE(s) << s.error().message;
  const auto& st = t->lastSync();
  EXPECT_TRUE(st.incremental);
  EXPECT_FALSE(st.readBack);
  // Per port: the services element now goes to lb_2 (replaced) and slots 0..2 become 0..1.
  EXPECT_LE(st.elementsAdded + st.elementsDeleted, 16u);
  ASSERT_EQ(st.removedUdpBackends.size(), 1u);
  EXPECT_EQ(st.removedUdpBackends[0].vip, ip("10.96.1.8"));
  EXPECT_EQ(st.removedUdpBackends[0].port, 53);
  EXPECT_EQ(st.removedUdpBackends[0].endpoint, ip("10.244.2.11"));
  EXPECT_EQ(st.removedUdpBackends[0].endpointPort, 5353);
  const std::vector<std::string> incremental = canonical(json());

  // The witness: a table built from scratch for the same services lists the same.
  ASSERT_TRUE(t->remove());
  auto fresh = NatTable::create();
  ASSERT_TRUE(fresh);
  ASSERT_TRUE(fresh->sync(state.plan()));
  const std::vector<std::string> scratch = canonical(json());
  EXPECT_EQ(scratch.size(), incremental.size());
  std::vector<std::string> onlyOne;
  std::set_symmetric_difference(scratch.begin(), scratch.end(), incremental.begin(),
                                incremental.end(), std::back_inserter(onlyOne));
  EXPECT_TRUE(onlyOne.empty()) << "first difference: " << onlyOne.front();

  // A new agent (nothing in memory) whose services lost an endpoint while it was down: the
  // read-back shows what the kernel held, so the UDP backend is still reported.
  all[9].endpoints.pop_back();
  NatState restarted(in);
  restarted.setServices(all);
  auto t2 = NatTable::create();
  ASSERT_TRUE(t2);
  ASSERT_TRUE(t2->sync(restarted.desired()));
  EXPECT_TRUE(t2->lastSync().readBack);
  ASSERT_EQ(t2->lastSync().removedUdpBackends.size(), 1u);
  EXPECT_EQ(t2->lastSync().removedUdpBackends[0].endpoint, ip("10.244.2.12"));
  EXPECT_EQ(t2->lastSync().removedUdpBackends[0].vip, ip("10.96.1.10"));
}

// Accepts one connection on addr:port inside netns `ns`; returns the peer's address ("" on
// timeout or error).
std::future<std::string> serveOnce(const std::string& ns, const char* addr, uint16_t port,
                                   std::promise<bool>& listening) {
  return std::async(std::launch::async, [ns, addr, port, &listening]() -> std::string {
    const int nsFd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsFd < 0 || setns(nsFd, CLONE_NEWNET) != 0) {
      listening.set_value(false);
      return "";
    }
    close(nsFd);
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, addr, &sa.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(fd, 4) != 0) {
      close(fd);
      listening.set_value(false);
      return "";
    }
    listening.set_value(true);
    pollfd p{fd, POLLIN, 0};
    std::string peer;
    if (poll(&p, 1, 5000) == 1) {
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      const int c = accept(fd, reinterpret_cast<sockaddr*>(&from), &len);
      if (c >= 0) {
        char buf[INET_ADDRSTRLEN];
        peer = inet_ntop(AF_INET, &from.sin_addr, buf, sizeof(buf));
        close(c);
      }
    }
    close(fd);
    return peer;
  });
}

TEST_F(NatTableTest, RealTrafficIsDnatedAndRejected) {
  const std::string pod = addPod({"10.244.1.11"});
  auto t = NatTable::create();
  ASSERT_TRUE(t);
  Status s = t->sync(makePlan(
      {{"web", "10.96.0.10", 80, {{"10.244.1.11", 8080}}}, {"empty", "10.96.0.30", 80, {}}}));
  ASSERT_TRUE(s) << s.error().message;

  std::promise<bool> listening;
  auto peer = serveOnce(pod, "10.244.1.11", 8080, listening);
  ASSERT_TRUE(listening.get_future().get());
  EXPECT_EQ(test::connectTo("10.96.0.10", 80), 0);
  EXPECT_EQ(peer.get(), "10.244.1.1");  // in the pod CIDR: not masqueraded

  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(test::connectTo("10.96.0.30", 80), ECONNREFUSED);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(100));

  // The conntrack mark says "service traffic"; masquerade mode all applies to it.
  NatPlan all = makePlan({{"web", "10.96.0.10", 80, {{"10.244.1.11", 8080}}}});
  all.masquerade = svc::MasqueradeMode::kAll;
  ASSERT_TRUE(t->sync(all));
  // Service traffic (0x1) not marked keep-source (0x10: externalTrafficPolicy Local).
  EXPECT_TRUE(has(list(), "ct mark & 0x00000011 == 0x00000001 masquerade")) << list();
  std::promise<bool> listening2;
  auto peer2 = serveOnce(pod, "10.244.1.11", 8080, listening2);
  ASSERT_TRUE(listening2.get_future().get());
  EXPECT_EQ(test::connectTo("10.96.0.10", 80), 0);
  EXPECT_EQ(peer2.get(), "10.244.1.1");  // masqueraded to veth0's own address
}

}  // namespace
}  // namespace ovl::nat

namespace ovl::nat {
namespace {

// Chains that jump to one another (`lb_2_keep` and `lb_2_masq` goto `lb_2`) can all go in one
// sync: a removed externalTrafficPolicy Local service must not wedge every later sync.
TEST_F(NatTableTest, VariantChainsAndTheirTargetsGoTogether) {
  auto t = NatTable::create();
  ASSERT_TRUE(t) << t.error().message;
  NatPlan p = makePlan({{"web", "10.96.0.10", 80, {{"10.244.1.11", 8080}, {"10.244.1.12", 8080}}}});
  for (auto variant : {0, 1, 2}) {
    VipEntry v = p.vips[0];
    v.ip = ip(variant == 0 ? "203.0.113.10" : variant == 1 ? "203.0.113.11" : "10.96.0.11");
    v.target.keepSource = variant == 0;
    v.target.masquerade = variant == 1;
    v.target.affinityTimeout = variant == 2 ? 30 : 0;
    p.vips.push_back(v);
    for (SlotEntry e :
         makePlan({{"web", "10.96.0.10", 80, {{"10.244.1.11", 8080}, {"10.244.1.12", 8080}}}})
             .slots) {
      e.vip = v.ip;
      p.slots.push_back(e);
    }
  }
  std::sort(p.vips.begin(), p.vips.end());
  std::sort(p.slots.begin(), p.slots.end());
  ASSERT_TRUE(t->sync(p));
  const std::string before = list();
  EXPECT_TRUE(has(before, "chain lb_2_keep")) << before;
  EXPECT_TRUE(has(before, "chain lb_2_masq")) << before;
  EXPECT_TRUE(has(before, "chain lbaff_2")) << before;

  // Every service goes: all lb chains and their variants are deleted in one batch.
  auto s = t->sync(makePlan({}));
  ASSERT_TRUE(s) << s.error().message;
  const std::string after = list();
  EXPECT_FALSE(has(after, "lb_2")) << after;
  EXPECT_TRUE(t->sync(makePlan({}))) << "and the next sync still works";
}

}  // namespace
}  // namespace ovl::nat
