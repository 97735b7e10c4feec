// The VXLAN allow-list in table ip ovl against the real kernel: the set and the chain as `nft`
// lists them, sources changed one element at a time (never a flush), drift repaired, the port
// changed in place, and real UDP from a "stranger" namespace counted and dropped while an allowed
// source and other ports get through.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "rules/nat_table.h"
#include "rules/nft_socket.h"
#include "rules/vxlan_allow.h"
#include "tests/netns/netns_fixture.h"

namespace ovl::nat {
namespace {

Cluster cluster(std::initializer_list<std::pair<const char*, const char*>> nodes,
                uint16_t port = 4789) {
  Cluster c;
  c.network.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  c.network.port = port;
  int i = 0;
  for (const auto& [name, underlay] : nodes) {
    c.nodes.push_back(Node{name,
                           *Ipv4::parse(underlay),
                           *Ipv4Prefix::parse("10.245." + std::to_string(++i) + ".0/24"),
                           std::nullopt,
                           {}});
  }
  return c;
}

// A UDP socket bound to port in the current (test) namespace; counts what arrives.
class UdpSink {
 public:
  explicit UdpSink(uint16_t port) : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  }
  ~UdpSink() { close(fd_); }
  UdpSink(const UdpSink&) = delete;
  UdpSink& operator=(const UdpSink&) = delete;
  // Datagrams that arrive within `ms`.
  int received(int ms) {
    int n = 0;
    pollfd p{fd_, POLLIN, 0};
    while (poll(&p, 1, ms) > 0) {
      char buf[2048];
      if (recv(fd_, buf, sizeof buf, 0) > 0) {
        ++n;
      }
    }
    return n;
  }

 private:
  int fd_;
};

class VxlanAllowTest : public test::NetnsTest {
 protected:
  std::string list() { return sh("nft list table ip ovl"); }
  static bool has(const std::string& hay, const std::string& needle) {
    return hay.find(needle) != std::string::npos;
  }
  // Syncs the services-free table with the allow-list of `c`.
  void sync(NatTable& t, nft::DesiredIndex& want, const Cluster& c) {
    want.setVxlanAllow(planVxlanAllow(c));
    Status s = t.sync(want);
    ASSERT_TRUE(s) << s.error().message;
  }
  // `count` datagrams from the pod namespace to 10.244.1.1:port (its source: the pod's address).
  void send(const std::string& pod, uint16_t port, int count) {
    for (int i = 0; i < count; ++i) {
      sh("ip netns exec " + pod + " bash -c 'echo x >/dev/udp/10.244.1.1/" + std::to_string(port) +
         "'");
    }
  }
  uint64_t dropped() {
    auto sock = nft::NftSocket::create();
    EXPECT_TRUE(sock);
    auto c = readVxlanDropCounter(*sock, "ovl");
    EXPECT_TRUE(c) << c.error().message;
    return c && *c ? (*c)->packets : ~uint64_t{0};
  }
};

TEST_F(VxlanAllowTest, SetAndChainAsNftListsThem) {
  auto t = NatTable::create();
  ASSERT_TRUE(t);
  nft::DesiredIndex want;
  sync(*t, want, cluster({{"node1", "192.168.50.1"}, {"node2", "192.168.50.2"}}));
  const std::string l = list();
  EXPECT_TRUE(has(l, "set vxlan_peers {")) << l;
  EXPECT_TRUE(has(l, "192.168.50.1 comment \"node1\"")) << l;
  EXPECT_TRUE(has(l, "192.168.50.2 comment \"node2\"")) << l;
  EXPECT_TRUE(has(l, "type filter hook input priority mangle - 10; policy accept;")) << l;
  EXPECT_TRUE(has(l, "udp dport 4789 ip saddr != @vxlan_peers counter packets 0 bytes 0 drop"))
      << l;
  EXPECT_EQ(dropped(), 0u);
  auto v = t->vxlanDropped();
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, std::optional<uint64_t>(0));
}

TEST_F(VxlanAllowTest, NodesComeAndGoOneElementAtATime) {
  auto t = NatTable::create();
  ASSERT_TRUE(t);
  nft::DesiredIndex want;
  sync(*t, want, cluster({{"node1", "192.168.50.1"}, {"node2", "192.168.50.2"}}));
  // Every message of the next batches, as the kernel announces them: no flush of the set.
  sh("ip netns exec " + ns() + " timeout 5 nft monitor >/tmp/" + ns() +
     ".monitor 2>&1 & sleep 0.3");
  sync(*t, want,
       cluster({{"node1", "192.168.50.1"}, {"node2", "192.168.50.2"}, {"node3", "192.168.50.3"}}));
  EXPECT_TRUE(t->lastSync().incremental);
  EXPECT_EQ(t->lastSync().elementsAdded, 1u);
  EXPECT_EQ(t->lastSync().elementsDeleted, 0u);
  EXPECT_EQ(t->lastSync().operations, 1u);
  sync(*t, want, cluster({{"node2", "192.168.50.2"}, {"node3", "192.168.50.3"}}));
  EXPECT_EQ(t->lastSync().elementsAdded, 0u);
  EXPECT_EQ(t->lastSync().elementsDeleted, 1u);
  EXPECT_EQ(t->lastSync().operations, 1u);
  sh("sleep 0.3");
  const std::string mon = sh("cat /tmp/" + ns() + ".monitor; rm -f /tmp/" + ns() + ".monitor");
  EXPECT_TRUE(has(mon, "create element ip ovl vxlan_peers { 192.168.50.3 comment \"node3\" }"))
      << mon;
  EXPECT_TRUE(has(mon, "delete element ip ovl vxlan_peers { 192.168.50.1 comment \"node1\" }"))
      << mon;
  EXPECT_FALSE(has(mon, "flush")) << mon;
  EXPECT_FALSE(has(mon, "192.168.50.2")) << "an element that stays is never touched\n" << mon;
  const std::string l = list();
  EXPECT_FALSE(has(l, "192.168.50.1 ")) << l;
  EXPECT_TRUE(has(l, "192.168.50.3 comment \"node3\"")) << l;
}

TEST_F(VxlanAllowTest, RepairsDrift) {
  auto t = NatTable::create();
  ASSERT_TRUE(t);
  nft::DesiredIndex want;
  const Cluster c = cluster({{"node1", "192.168.50.1"}, {"node2", "192.168.50.2"}});
  sync(*t, want, c);
  const std::string good = list();

  sh("nft delete element ip ovl vxlan_peers '{ 192.168.50.2 }'");
  sh("nft add element ip ovl vxlan_peers '{ 10.9.9.9 }'");
  sync(*t, want, c);
  EXPECT_TRUE(t->lastSync().readBack);
  EXPECT_EQ(t->lastSync().elementsAdded, 1u);
  EXPECT_EQ(t->lastSync().elementsDeleted, 1u);
  EXPECT_EQ(list(), good);

  sh("nft flush chain ip ovl vxlan_input");
  sync(*t, want, c);
  EXPECT_EQ(t->lastSync().chainsRefilled, 1u);
  EXPECT_EQ(list(), good);

  sh("nft delete chain ip ovl vxlan_input");
  sync(*t, want, c);
  EXPECT_EQ(list(), good);

  // An accept put before our rule in our chain is removed with the rest of what is not ours.
  sh("nft insert rule ip ovl vxlan_input udp dport 4789 accept");
  sync(*t, want, c);
  EXPECT_EQ(list(), good);

  sh("nft add chain ip ovl vxlan_input '{ policy drop; }'");
  sync(*t, want, c);
  EXPECT_EQ(list(), good);
}

TEST_F(VxlanAllowTest, PortChangeRewritesTheRuleNotTheSet) {
  auto t = NatTable::create();
  ASSERT_TRUE(t);
  nft::DesiredIndex want;
  sync(*t, want, cluster({{"node1", "192.168.50.1"}}));
  sync(*t, want, cluster({{"node1", "192.168.50.1"}}, 8472));
  EXPECT_EQ(t->lastSync().chainsRefilled, 1u);
  EXPECT_EQ(t->lastSync().elementsAdded + t->lastSync().elementsDeleted, 0u);
  const std::string l = list();
  EXPECT_TRUE(has(l, "udp dport 8472 ip saddr != @vxlan_peers counter")) << l;
  EXPECT_FALSE(has(l, "4789")) << l;
}

TEST_F(VxlanAllowTest, StrangersAreCountedAndDroppedNodesAndOtherPortsPass) {
  const std::string pod = addPod({"10.244.1.50"});
  auto t = NatTable::create();
  ASSERT_TRUE(t);
  nft::DesiredIndex want;
  UdpSink vxlan(4789);
  UdpSink other(4790);
  sync(*t, want, cluster({{"node1", "10.244.1.1"}, {"node2", "192.168.50.2"}}));

  send(pod, 4789, 3);
  send(pod, 4790, 2);
  EXPECT_EQ(vxlan.received(300), 0);
  EXPECT_EQ(other.received(300), 2) << "other UDP ports are not the allow-list's business";
  EXPECT_EQ(dropped(), 3u);
  auto v = t->vxlanDropped();
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, std::optional<uint64_t>(3));

  // The same source as a node: its datagrams arrive (the negative control of the drop).
  sync(*t, want, cluster({{"node1", "10.244.1.1"}, {"node9", "10.244.1.50"}}));
  send(pod, 4789, 2);
  EXPECT_EQ(vxlan.received(300), 2);
  EXPECT_EQ(dropped(), 3u);

  // Removed again: refused at once.
  sync(*t, want, cluster({{"node1", "10.244.1.1"}}));
  send(pod, 4789, 1);
  EXPECT_EQ(vxlan.received(300), 0);
  EXPECT_EQ(dropped(), 4u);
}

}  // namespace
}  // namespace ovl::nat
