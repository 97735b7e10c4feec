// Netlink against the real kernel, in a throwaway namespace; iproute2 is the independent witness
// of every write, and the reads are checked against state iproute2 created.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "netlink/netlink.h"
#include "tests/netns/netns_fixture.h"

namespace ovl::nl {

// Readable gtest failure output (static: private to this test file, found by ADL).
static void PrintTo(const Route& v, std::ostream* os) {
  *os << v.toString();
}
static void PrintTo(const Neighbour& v, std::ostream* os) {
  *os << v.toString();
}
static void PrintTo(const FdbEntry& v, std::ostream* os) {
  *os << v.toString();
}
static void PrintTo(const Address& v, std::ostream* os) {
  *os << v.toString();
}
static void PrintTo(const Link& v, std::ostream* os) {
  *os << v.toString();
}

namespace {

// (ovl_netns_tests links gtest only, so no gmock matchers here.)
::testing::AssertionResult has(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "\"" << part << "\" not in:\n" << text;
}

::testing::AssertionResult lacks(const std::string& text, const std::string& part) {
  if (text.find(part) == std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "\"" << part << "\" unexpectedly in:\n" << text;
}

template <typename T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

Ipv4 ip(const char* s) {
  return *Ipv4::parse(s);
}
Ipv4Prefix prefix(const char* s) {
  return *Ipv4Prefix::parse(s);
}
MacAddr mac(const char* s) {
  return *MacAddr::parse(s);
}

// Peer i's objects, as ovl programs them: neighbour and FDB entry for the peer's VTEP MAC, and
// an onlink route to the peer's pod subnet 10.<1+i/256>.<i%256>.0/24 via its .0 address.
struct Peer {
  Neighbour neigh;
  FdbEntry fdb;
  Route route;
};

Peer peer(int vtep, int i) {
  const auto a = static_cast<uint8_t>(1 + i / 256);
  const auto b = static_cast<uint8_t>(i % 256);
  MacAddr m{{0x02, 0x42, 0x00, 0x00, a, b}};
  Ipv4 subnet{(10u << 24) | (uint32_t{a} << 16) | (uint32_t{b} << 8)};
  Ipv4 underlay{(172u << 24) | (16u << 16) | (uint32_t{a} << 8) | b};
  return Peer{Neighbour{vtep, subnet, m}, FdbEntry{vtep, m, underlay},
              Route{Ipv4Prefix{subnet, 24}, subnet, vtep, true}};
}

int countLines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

class NetlinkTest : public test::NetnsTest {
 protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    // The underlay: a NIC with the node's address. A veth pair, not a dummy: not every kernel
    // has CONFIG_DUMMY (this CI's does not), every container host has veth.
    sh("ip -n " + ns() + " link add ul0 type veth peer name ul0p");
    sh("ip -n " + ns() + " addr add 192.168.50.1/24 dev ul0");
    sh("ip -n " + ns() + " link set ul0p up");
    sh("ip -n " + ns() + " link set ul0 up");
    auto n = Netlink::create();
    ASSERT_TRUE(n) << n.error().message;
    nl_.emplace(std::move(*n));
    auto ul = nl_->linkByName("ul0");
    ASSERT_TRUE(ul) << ul.error().message;
    ASSERT_TRUE(ul->has_value());
    underlay_ = (*ul)->index;
  }

  VxlanSpec spec() const {
    return VxlanSpec{"vtep", 42,   ip("192.168.50.1"),      underlay_,
                     8472,   1450, mac("02:aa:bb:cc:dd:01")};
  }

  // A VXLAN VTEP, up (onlink routes need their device up).
  int makeVtep() {
    auto link = nl_->createVxlan(spec());
    EXPECT_TRUE(link) << link.error().message;
    if (!link) {
      return 0;
    }
    EXPECT_TRUE(nl_->setUp(link->index));
    return link->index;
  }

  std::string ipn() const { return "ip -n " + ns() + " "; }

  std::optional<Netlink> nl_;
  int underlay_ = 0;
};

TEST_F(NetlinkTest, CreateVxlanProgramsEveryAttribute) {
  auto link = nl_->createVxlan(spec());
  ASSERT_TRUE(link) << link.error().message;
  EXPECT_EQ(link->name, "vtep");
  EXPECT_EQ(link->kind, "vxlan");
  EXPECT_EQ(link->mtu, 1450u);
  EXPECT_EQ(link->mac, mac("02:aa:bb:cc:dd:01"));
  EXPECT_FALSE(link->up);
  EXPECT_FALSE(link->master.has_value());
  ASSERT_TRUE(link->vxlan.has_value());
  EXPECT_EQ(*link->vxlan, (VxlanInfo{42, ip("192.168.50.1"), underlay_, 8472, false}));

  const std::string shown = sh(ipn() + "-d link show vtep");
  EXPECT_TRUE(has(shown, "vxlan id 42 "));
  EXPECT_TRUE(has(shown, "local 192.168.50.1 "));
  EXPECT_TRUE(has(shown, "dev ul0 "));
  EXPECT_TRUE(has(shown, "dstport 8472 "));
  EXPECT_TRUE(has(shown, "nolearning"));
  EXPECT_TRUE(has(shown, "mtu 1450 "));
  EXPECT_TRUE(has(shown, "link/ether 02:aa:bb:cc:dd:01 "));
  EXPECT_TRUE(has(shown, "state DOWN"));
  EXPECT_TRUE(lacks(shown, ",UP"));

  auto byName = nl_->linkByName("vtep");
  ASSERT_TRUE(byName) << byName.error().message;
  ASSERT_TRUE(byName->has_value());
  EXPECT_EQ(**byName, *link);
  auto byIndex = nl_->linkByIndex(link->index);
  ASSERT_TRUE(byIndex) << byIndex.error().message;
  ASSERT_TRUE(byIndex->has_value());
  EXPECT_EQ(**byIndex, *link);
  auto all = nl_->links();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_NE(std::find(all->begin(), all->end(), *link), all->end());
  EXPECT_EQ(all->size(), 4u);  // lo, ul0, ul0p, vtep
}

TEST_F(NetlinkTest, SetUpMtuAndMac) {
  auto link = nl_->createVxlan(spec());
  ASSERT_TRUE(link) << link.error().message;
  const int idx = link->index;

  ASSERT_TRUE(nl_->setUp(idx));
  EXPECT_TRUE(has(sh(ipn() + "link show vtep"), ",UP"));
  ASSERT_TRUE(nl_->setMtu(idx, 1400));
  EXPECT_TRUE(has(sh(ipn() + "link show vtep"), "mtu 1400 "));
  ASSERT_TRUE(nl_->setMac(idx, mac("02:aa:bb:cc:dd:09")));
  EXPECT_TRUE(has(sh(ipn() + "link show vtep"), "link/ether 02:aa:bb:cc:dd:09 "));

  auto now = nl_->linkByIndex(idx);
  ASSERT_TRUE(now) << now.error().message;
  ASSERT_TRUE(now->has_value());
  EXPECT_TRUE((*now)->up);
  EXPECT_EQ((*now)->mtu, 1400u);
  EXPECT_EQ((*now)->mac, mac("02:aa:bb:cc:dd:09"));

  // The same settings made by someone else are read back.
  sh(ipn() + "link set vtep mtu 1300 down");
  now = nl_->linkByIndex(idx);
  ASSERT_TRUE(now && now->has_value());
  EXPECT_FALSE((*now)->up);
  EXPECT_EQ((*now)->mtu, 1300u);
}

TEST_F(NetlinkTest, CreateVxlanWithTakenNameIsEexist) {
  ASSERT_TRUE(nl_->createVxlan(spec()));
  auto again = nl_->createVxlan(spec());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  EXPECT_TRUE(has(again.error().message, "vtep"));
  EXPECT_TRUE(has(again.error().message, "File exists"));
}

TEST_F(NetlinkTest, MissingLinksAreNulloptAndBadChangesAreErrors) {
  auto byName = nl_->linkByName("nosuchdev");
  ASSERT_TRUE(byName) << byName.error().message;
  EXPECT_FALSE(byName->has_value());
  auto byIndex = nl_->linkByIndex(4242);
  ASSERT_TRUE(byIndex) << byIndex.error().message;
  EXPECT_FALSE(byIndex->has_value());

  auto st = nl_->setMtu(4242, 1400);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ENODEV);
  EXPECT_TRUE(has(st.error().message, "#4242"));
  st = nl_->deleteLink(4242);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ENODEV);
}

TEST_F(NetlinkTest, CreateBridgeSetMasterAndDeleteLink) {
  auto br = nl_->createBridge("br0", 1450);
  ASSERT_TRUE(br) << br.error().message;
  EXPECT_EQ(br->kind, "bridge");
  EXPECT_EQ(br->mtu, 1450u);
  EXPECT_FALSE(br->up);
  const std::string shown = sh(ipn() + "-d link show br0");
  EXPECT_TRUE(has(shown, "mtu 1450 "));
  EXPECT_TRUE(has(shown, "bridge forward_delay"));

  sh(ipn() + "link add veth0 type veth peer name veth1");
  auto veth = nl_->linkByName("veth0");
  ASSERT_TRUE(veth && veth->has_value());
  EXPECT_EQ((*veth)->kind, "veth");
  ASSERT_TRUE(nl_->setMaster((*veth)->index, br->index));
  EXPECT_TRUE(has(sh(ipn() + "link show veth0"), "master br0 "));
  veth = nl_->linkByName("veth0");
  ASSERT_TRUE(veth && veth->has_value());
  EXPECT_EQ((*veth)->master, br->index);

  ASSERT_TRUE(nl_->setUp(br->index));
  EXPECT_TRUE(has(sh(ipn() + "link show br0"), ",UP"));

  ASSERT_TRUE(nl_->deleteLink(br->index));
  EXPECT_NE(shStatus(ipn() + "link show br0"), 0);
  EXPECT_TRUE(lacks(sh(ipn() + "link show veth0"), "master"));
}

TEST_F(NetlinkTest, AddListAndDeleteAddress) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  const Address a{vtep, prefix("10.244.1.0/32")};
  ASSERT_TRUE(nl_->addAddress(a));
  EXPECT_TRUE(has(sh(ipn() + "-4 addr show dev vtep"), "inet 10.244.1.0/32 "));

  auto mine = nl_->addresses(vtep);
  ASSERT_TRUE(mine) << mine.error().message;
  EXPECT_EQ(sorted(*mine), sorted<Address>({a}));
  auto all = nl_->addresses();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(sorted(*all), sorted<Address>({a, Address{underlay_, prefix("192.168.50.1/24")},
                                           Address{1, prefix("127.0.0.1/8")}}));

  auto again = nl_->addAddress(a);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  EXPECT_TRUE(has(again.error().message, "10.244.1.0/32"));

  ASSERT_TRUE(nl_->deleteAddress(a));
  EXPECT_TRUE(lacks(sh(ipn() + "-4 addr show dev vtep"), "10.244.1.0"));
  mine = nl_->addresses(vtep);
  ASSERT_TRUE(mine);
  EXPECT_TRUE(mine->empty());
}

TEST_F(NetlinkTest, ReplaceListAndDeleteNeighbour) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  Neighbour n{vtep, ip("10.244.2.0"), mac("02:aa:bb:cc:dd:02")};
  ASSERT_TRUE(nl_->replaceNeighbour(n));
  ASSERT_TRUE(nl_->replaceNeighbour(n));  // idempotent
  std::string shown = sh(ipn() + "neigh show dev vtep nud permanent");
  EXPECT_TRUE(has(shown, "10.244.2.0 lladdr 02:aa:bb:cc:dd:02 PERMANENT"));
  EXPECT_EQ(countLines(shown), 1);

  auto got = nl_->neighbours(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got), sorted<Neighbour>({n}));

  n.mac = mac("02:aa:bb:cc:dd:03");  // the peer's MAC changed
  ASSERT_TRUE(nl_->replaceNeighbour(n));
  EXPECT_TRUE(has(sh(ipn() + "neigh show dev vtep nud permanent"),
                  "10.244.2.0 lladdr 02:aa:bb:cc:dd:03 PERMANENT"));
  got = nl_->neighbours(vtep);
  ASSERT_TRUE(got);
  EXPECT_EQ(sorted(*got), sorted<Neighbour>({n}));

  ASSERT_TRUE(nl_->deleteNeighbour(n));
  EXPECT_EQ(sh(ipn() + "neigh show dev vtep nud permanent"), "");
  got = nl_->neighbours(vtep);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->empty());

  auto missing = nl_->deleteNeighbour(n);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_TRUE(has(missing.error().message, "delete neighbour 10.244.2.0"));
}

TEST_F(NetlinkTest, AppendReplaceListAndDeleteFdb) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  const MacAddr m = mac("02:aa:bb:cc:dd:02");
  const FdbEntry first{vtep, m, ip("192.168.50.2")};
  ASSERT_TRUE(nl_->appendFdb(first));
  const std::string fdbShow = "bridge -n " + ns() + " fdb show dev vtep";
  EXPECT_TRUE(has(sh(fdbShow), "02:aa:bb:cc:dd:02 dst 192.168.50.2 self permanent"));
  auto got = nl_->fdb(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got), sorted<FdbEntry>({first}));

  // Replace moves the MAC to another remote.
  const FdbEntry moved{vtep, m, ip("192.168.50.3")};
  ASSERT_TRUE(nl_->replaceFdb(moved));
  ASSERT_TRUE(nl_->replaceFdb(moved));  // idempotent
  std::string shown = sh(fdbShow);
  EXPECT_TRUE(has(shown, "02:aa:bb:cc:dd:02 dst 192.168.50.3 self permanent"));
  EXPECT_TRUE(lacks(shown, "192.168.50.2"));

  // The kernel keeps one remote per unicast MAC (append adds remotes only to the all-zeros
  // and multicast entries, the flood lists): appending another dst for m changes nothing...
  ASSERT_TRUE(nl_->appendFdb(FdbEntry{vtep, m, ip("192.168.50.4")}));
  got = nl_->fdb(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got), sorted<FdbEntry>({moved}));
  // ...while the all-zeros entry takes several remotes, each listed on its own.
  const FdbEntry flood1{vtep, MacAddr{}, ip("192.168.50.5")};
  const FdbEntry flood2{vtep, MacAddr{}, ip("192.168.50.6")};
  ASSERT_TRUE(nl_->appendFdb(flood1));
  ASSERT_TRUE(nl_->appendFdb(flood2));
  got = nl_->fdb(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got), sorted<FdbEntry>({moved, flood1, flood2}));

  ASSERT_TRUE(nl_->deleteFdb(flood2));
  shown = sh(fdbShow);
  EXPECT_TRUE(lacks(shown, "192.168.50.6"));
  EXPECT_TRUE(has(shown, "00:00:00:00:00:00 dst 192.168.50.5 self permanent"));
  EXPECT_TRUE(has(shown, "dst 192.168.50.3"));
  ASSERT_TRUE(nl_->deleteFdb(flood1));
  ASSERT_TRUE(nl_->deleteFdb(moved));
  EXPECT_TRUE(lacks(sh(fdbShow), "02:aa:bb:cc:dd:02"));
  got = nl_->fdb(vtep);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->empty());

  auto missing = nl_->deleteFdb(moved);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_TRUE(has(missing.error().message, "02:aa:bb:cc:dd:02 dst 192.168.50.3"));
}

TEST_F(NetlinkTest, ReplaceListAndDeleteOnlinkRoute) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  const Route r{prefix("10.244.2.0/24"), ip("10.244.2.0"), vtep, true};
  ASSERT_TRUE(nl_->replaceRoute(r));
  ASSERT_TRUE(nl_->replaceRoute(r));  // idempotent
  std::string shown = sh(ipn() + "route show dev vtep");
  EXPECT_TRUE(has(shown, "10.244.2.0/24 via 10.244.2.0 proto 77 onlink"));
  EXPECT_EQ(countLines(shown), 1);

  auto got = nl_->routes(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got), sorted<Route>({r}));
  EXPECT_TRUE(got->front().onlink);

  ASSERT_TRUE(nl_->deleteRoute(r));
  EXPECT_EQ(sh(ipn() + "route show dev vtep"), "");
  got = nl_->routes(vtep);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->empty());

  auto missing = nl_->deleteRoute(r);
  ASSERT_FALSE(missing);
  EXPECT_TRUE(missing.error().code == ESRCH || missing.error().code == ENOENT)
      << missing.error().code;
  EXPECT_TRUE(has(missing.error().message,
                  "delete route 10.244.2.0/24 via 10.244.2.0 dev #" + std::to_string(vtep)));
}

TEST_F(NetlinkTest, RoutesReadsWhatOthersInstalledAndDeletesAnyProtocol) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  sh(ipn() + "route add 10.244.7.0/24 via 10.244.7.0 dev vtep onlink");  // proto boot
  sh(ipn() + "addr add 10.244.1.0/24 dev vtep");  // + a connected route, no gateway
  auto got = nl_->routes(vtep);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(sorted(*got),
            sorted<Route>({Route{prefix("10.244.7.0/24"), ip("10.244.7.0"), vtep, true},
                           Route{prefix("10.244.1.0/24"), Ipv4{}, vtep, false}}));
  ASSERT_TRUE(nl_->deleteRoute(Route{prefix("10.244.7.0/24"), ip("10.244.7.0"), vtep, true}));
  EXPECT_TRUE(lacks(sh(ipn() + "route show dev vtep"), "10.244.7.0"));
}

TEST_F(NetlinkTest, RouteErrorsNameTheRoute) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  auto st = nl_->replaceRoute(Route{prefix("10.244.3.0/24"), ip("10.244.3.0"), 9999, true});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ENODEV);
  EXPECT_TRUE(has(st.error().message, "replace route 10.244.3.0/24 via 10.244.3.0 dev #9999"));

  // Without onlink the gateway is not reachable on the VTEP: the kernel says why.
  st = nl_->replaceRoute(Route{prefix("10.244.3.0/24"), ip("10.244.3.0"), vtep, false});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().code, 0);
  EXPECT_TRUE(has(st.error().message, "10.244.3.0/24"));
}

TEST_F(NetlinkTest, EntriesOnOtherInterfacesAreNotReturned) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  sh(ipn() + "link add other0 type veth peer name other0p");
  sh(ipn() + "link set other0p up");
  sh(ipn() + "link set other0 up");
  sh(ipn() + "link add vx2 type vxlan id 7 local 192.168.50.1 dev ul0 dstport 4789 nolearning");
  sh(ipn() + "link set vx2 up");
  sh(ipn() + "neigh replace 10.244.9.0 lladdr 02:00:00:00:09:09 dev other0 nud permanent");
  sh(ipn() + "neigh replace 10.244.9.1 lladdr 02:00:00:00:09:0a dev vx2 nud permanent");
  sh("bridge -n " + ns() + " fdb append 02:00:00:00:09:09 dev vx2 dst 192.168.50.9 self permanent");
  sh(ipn() + "route add 10.244.9.0/24 via 10.244.9.0 dev other0 onlink");
  sh(ipn() + "route add 10.244.10.0/24 via 10.244.10.0 dev vx2 onlink");
  // A non-permanent neighbour on the VTEP itself is not ovl's either.
  sh(ipn() + "neigh replace 10.244.11.0 lladdr 02:00:00:00:0b:0b dev vtep nud reachable");
  // Nor is a route on the VTEP in another table.
  sh(ipn() + "route add 10.244.12.0/24 via 10.244.12.0 dev vtep onlink table 100");

  auto neigh = nl_->neighbours(vtep);
  ASSERT_TRUE(neigh) << neigh.error().message;
  EXPECT_TRUE(neigh->empty());
  auto fdb = nl_->fdb(vtep);
  ASSERT_TRUE(fdb) << fdb.error().message;
  EXPECT_TRUE(fdb->empty());
  auto routes = nl_->routes(vtep);
  ASSERT_TRUE(routes) << routes.error().message;
  EXPECT_TRUE(routes->empty());

  // ...while the same reads of the other interfaces do see them.
  auto vx2 = nl_->linkByName("vx2");
  ASSERT_TRUE(vx2 && vx2->has_value());
  const int vx2Index = (*vx2)->index;
  EXPECT_EQ((*vx2)->vxlan->vni, 7u);
  EXPECT_EQ((*vx2)->vxlan->port, 4789);
  fdb = nl_->fdb(vx2Index);
  ASSERT_TRUE(fdb);
  EXPECT_EQ(sorted(*fdb),
            sorted<FdbEntry>({FdbEntry{vx2Index, mac("02:00:00:00:09:09"), ip("192.168.50.9")}}));
  neigh = nl_->neighbours(vx2Index);
  ASSERT_TRUE(neigh);
  EXPECT_EQ(sorted(*neigh),
            sorted<Neighbour>({Neighbour{vx2Index, ip("10.244.9.1"), mac("02:00:00:00:09:0a")}}));
  routes = nl_->routes(vx2Index);
  ASSERT_TRUE(routes);
  EXPECT_EQ(sorted(*routes),
            sorted<Route>({Route{prefix("10.244.10.0/24"), ip("10.244.10.0"), vx2Index, true}}));
}

TEST_F(NetlinkTest, ApplyBatchOfThousandPeers) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  constexpr int kPeers = 1000;
  std::vector<Netlink::Op> ops;
  for (int i = 0; i < kPeers; ++i) {
    const Peer p = peer(vtep, i);
    ops.push_back({Netlink::Op::Kind::kReplaceNeighbour, p.neigh, {}, {}});
    ops.push_back({Netlink::Op::Kind::kReplaceFdb, {}, p.fdb, {}});
    ops.push_back({Netlink::Op::Kind::kReplaceRoute, {}, {}, p.route});
  }
  auto results = nl_->applyBatch(ops);
  ASSERT_EQ(results.size(), ops.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i]) << i << ": " << results[i].error().message;
  }
  EXPECT_EQ(countLines(sh(ipn() + "route show dev vtep")), kPeers);
  EXPECT_EQ(countLines(sh(ipn() + "neigh show dev vtep nud permanent")), kPeers);
  EXPECT_EQ(countLines(sh("bridge -n " + ns() + " fdb show dev vtep | grep ' dst '")), kPeers);
  EXPECT_TRUE(has(sh(ipn() + "route show dev vtep"),
                  "10.4.231.0/24 via 10.4.231.0 proto 77 onlink"));  // peer 999

  auto routes = nl_->routes(vtep);
  ASSERT_TRUE(routes) << routes.error().message;
  EXPECT_EQ(routes->size(), static_cast<std::size_t>(kPeers));
  auto neigh = nl_->neighbours(vtep);
  ASSERT_TRUE(neigh) << neigh.error().message;
  EXPECT_EQ(neigh->size(), static_cast<std::size_t>(kPeers));
  auto fdb = nl_->fdb(vtep);
  ASSERT_TRUE(fdb) << fdb.error().message;
  ASSERT_EQ(fdb->size(), static_cast<std::size_t>(kPeers));
  const Peer last = peer(vtep, kPeers - 1);
  EXPECT_NE(std::find(fdb->begin(), fdb->end(), last.fdb), fdb->end());
  EXPECT_NE(std::find(routes->begin(), routes->end(), last.route), routes->end());
  EXPECT_NE(std::find(neigh->begin(), neigh->end(), last.neigh), neigh->end());

  // Applying the same batch again changes nothing and succeeds; then delete everything.
  results = nl_->applyBatch(ops);
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i]) << i << ": " << results[i].error().message;
  }
  std::vector<Netlink::Op> dels;
  for (int i = 0; i < kPeers; ++i) {
    const Peer p = peer(vtep, i);
    dels.push_back({Netlink::Op::Kind::kDeleteRoute, {}, {}, p.route});
    dels.push_back({Netlink::Op::Kind::kDeleteFdb, {}, p.fdb, {}});
    dels.push_back({Netlink::Op::Kind::kDeleteNeighbour, p.neigh, {}, {}});
  }
  results = nl_->applyBatch(dels);
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i]) << i << ": " << results[i].error().message;
  }
  EXPECT_EQ(sh(ipn() + "route show dev vtep"), "");
  EXPECT_EQ(sh(ipn() + "neigh show dev vtep nud permanent"), "");
  EXPECT_EQ(countLines(sh("bridge -n " + ns() + " fdb show dev vtep | grep ' dst ' || true")), 0);
}

TEST_F(NetlinkTest, ApplyBatchReportsEachFailureAndAppliesTheRest) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  sh(ipn() + "link add down0 type veth peer name down0p");  // stays down
  auto down = nl_->linkByName("down0");
  ASSERT_TRUE(down && down->has_value());
  const int downIndex = (*down)->index;

  std::vector<Netlink::Op> ops;
  for (int i = 0; i < 600; ++i) {  // more than one window
    ops.push_back({Netlink::Op::Kind::kReplaceRoute, {}, {}, peer(vtep, i).route});
  }
  const std::size_t badDown = 10;
  const std::size_t badMissing = 300;
  const std::size_t badDelete = 599;
  ops[badDown].route.index = downIndex;                   // onlink via a device that is down
  ops[badMissing].route.index = 9999;                     // no such device
  ops[badDelete].kind = Netlink::Op::Kind::kDeleteRoute;  // not there
  auto results = nl_->applyBatch(ops);
  ASSERT_EQ(results.size(), ops.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i == badDown || i == badMissing || i == badDelete) {
      ASSERT_FALSE(results[i]) << i;
      EXPECT_TRUE(has(results[i].error().message, ops[i].route.dst.toString())) << i;
    } else {
      EXPECT_TRUE(results[i]) << i << ": " << results[i].error().message;
    }
  }
  EXPECT_EQ(results[badDown].error().code, ENETDOWN) << results[badDown].error().message;
  EXPECT_TRUE(
      has(results[badDown].error().message, "replace route " + ops[badDown].route.toString()));
  EXPECT_EQ(results[badMissing].error().code, ENODEV);
  EXPECT_TRUE(results[badDelete].error().code == ESRCH ||
              results[badDelete].error().code == ENOENT);
  EXPECT_EQ(countLines(sh(ipn() + "route show dev vtep")), 597);
}

TEST_F(NetlinkTest, EventMonitorSeesRouteDeletedBySomeoneElse) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  auto mon = EventMonitor::create();
  ASSERT_TRUE(mon) << mon.error().message;
  ASSERT_TRUE(nl_->replaceRoute(Route{prefix("10.244.2.0/24"), ip("10.244.2.0"), vtep, true}));
  auto first = mon->drain();
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_NE(std::find_if(first->begin(), first->end(),
                         [&](const Event& e) {
                           return e.kind == Event::Kind::kRoute && !e.deleted && e.index == vtep;
                         }),
            first->end());

  sh(ipn() + "route del 10.244.2.0/24 dev vtep");
  bool seen = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    pollfd p{mon->fd(), POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) <= 0) {
      break;
    }
    auto events = mon->drain();
    ASSERT_TRUE(events) << events.error().message;
    for (const Event& e : *events) {
      // The event carries the route as the dumps read it, so the agent can tell this from
      // its own writes.
      seen = seen || (e.kind == Event::Kind::kRoute && e.deleted && e.index == vtep && e.route &&
                      *e.route == Route{prefix("10.244.2.0/24"), ip("10.244.2.0"), vtep, true});
    }
  }
  EXPECT_TRUE(seen) << "no kRoute deleted event carrying 10.244.2.0/24 for dev #" << vtep;
  auto none = mon->drain();  // nothing pending: returns at once, empty
  ASSERT_TRUE(none);
}

TEST_F(NetlinkTest, EventMonitorSeesLinkAddressNeighbourAndFdbChanges) {
  auto mon = EventMonitor::create();
  ASSERT_TRUE(mon) << mon.error().message;
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  ASSERT_TRUE(nl_->addAddress(Address{vtep, prefix("10.244.1.0/32")}));
  ASSERT_TRUE(nl_->replaceNeighbour(Neighbour{vtep, ip("10.244.2.0"), mac("02:00:00:00:00:02")}));
  ASSERT_TRUE(nl_->appendFdb(FdbEntry{vtep, mac("02:00:00:00:00:02"), ip("192.168.50.2")}));
  sh("bridge -n " + ns() + " fdb del 02:00:00:00:00:02 dev vtep dst 192.168.50.2 self");

  auto events = mon->drain();
  ASSERT_TRUE(events) << events.error().message;
  auto has = [&](Event::Kind k, bool deleted) {
    return std::find_if(events->begin(), events->end(), [&](const Event& e) {
             return e.kind == k && e.deleted == deleted && e.index == vtep;
           }) != events->end();
  };
  EXPECT_TRUE(has(Event::Kind::kLink, false));
  EXPECT_TRUE(has(Event::Kind::kAddress, false));
  EXPECT_TRUE(has(Event::Kind::kNeighbour, false));
  EXPECT_TRUE(has(Event::Kind::kNeighbour, true));  // the AF_BRIDGE FDB delete
  EXPECT_FALSE(has(Event::Kind::kOverflow, false));
  // Each carries its object, parsed as the dumps parse it.
  const FdbEntry fdb{vtep, mac("02:00:00:00:00:02"), ip("192.168.50.2")};
  const Neighbour neigh{vtep, ip("10.244.2.0"), mac("02:00:00:00:00:02")};
  auto carries = [&](auto pred) {
    return std::find_if(events->begin(), events->end(), pred) != events->end();
  };
  EXPECT_TRUE(carries([&](const Event& e) { return e.deleted && e.fdb == fdb; }));
  EXPECT_TRUE(carries([&](const Event& e) { return !e.deleted && e.fdb == fdb; }));
  EXPECT_TRUE(carries([&](const Event& e) { return !e.deleted && e.neighbour == neigh; }));
  EXPECT_TRUE(carries(
      [&](const Event& e) { return e.kind == Event::Kind::kLink && e.linkName == "vtep"; }));
}

TEST_F(NetlinkTest, EventMonitorReportsOverflowAndKeepsWorking) {
  const int vtep = makeVtep();
  ASSERT_NE(vtep, 0);
  auto mon = EventMonitor::create();
  ASSERT_TRUE(mon) << mon.error().message;
  // Shrink the receive buffer (the kernel rounds it up to its minimum) so that a burst of
  // notifications cannot fit, as happens when the agent falls behind a flood of changes.
  const int tiny = 1;
  ASSERT_EQ(setsockopt(mon->fd(), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny)), 0);
  std::vector<Netlink::Op> ops;
  for (int i = 0; i < 500; ++i) {
    ops.push_back({Netlink::Op::Kind::kReplaceRoute, {}, {}, peer(vtep, i).route});
  }
  for (const Status& st : nl_->applyBatch(ops)) {
    ASSERT_TRUE(st) << st.error().message;
  }
  auto events = mon->drain();
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_NE(std::find_if(events->begin(), events->end(),
                         [](const Event& e) { return e.kind == Event::Kind::kOverflow; }),
            events->end());
  EXPECT_LT(events->size(), 500u);

  // After the overflow the socket still delivers new notifications.
  sh(ipn() + "route del 10.1.0.0/24 dev vtep");
  events = mon->drain();
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_NE(std::find_if(events->begin(), events->end(),
                         [&](const Event& e) {
                           return e.kind == Event::Kind::kRoute && e.deleted && e.index == vtep;
                         }),
            events->end());
  EXPECT_TRUE(nl_->applyBatch({}).empty());
}

TEST(NetlinkTypes, ToStringReadsLikeIproute2) {
  EXPECT_EQ(
      (Route{*Ipv4Prefix::parse("10.244.2.0/24"), *Ipv4::parse("10.244.2.0"), 5, true}).toString(),
      "10.244.2.0/24 via 10.244.2.0 dev #5 onlink");
  EXPECT_EQ(
      (FdbEntry{5, *MacAddr::parse("aa:bb:cc:dd:ee:ff"), *Ipv4::parse("192.168.50.2")}).toString(),
      "aa:bb:cc:dd:ee:ff dst 192.168.50.2 dev #5");
  EXPECT_EQ(
      (Neighbour{5, *Ipv4::parse("10.244.2.0"), *MacAddr::parse("aa:bb:cc:dd:ee:ff")}).toString(),
      "10.244.2.0 lladdr aa:bb:cc:dd:ee:ff dev #5");
  Event deleted;
  deleted.kind = Event::Kind::kRoute;
  deleted.deleted = true;
  deleted.index = 5;
  EXPECT_EQ(deleted.toString(), "route deleted dev #5");
  deleted.route = Route{*Ipv4Prefix::parse("10.244.2.0/24"), *Ipv4::parse("10.244.2.0"), 5, true};
  EXPECT_EQ(deleted.toString(), "route deleted 10.244.2.0/24 via 10.244.2.0 dev #5 onlink");
  EXPECT_EQ((VxlanSpec{"vtep", 42, *Ipv4::parse("192.168.50.1"), 2, 8472, 1450,
                       *MacAddr::parse("02:aa:bb:cc:dd:01")})
                .toString(),
            "vtep vxlan vni 42 local 192.168.50.1 dev #2 dstport 8472 nolearning mtu 1450 "
            "address 02:aa:bb:cc:dd:01");
  EXPECT_EQ(
      (Netlink::Op{Netlink::Op::Kind::kDeleteFdb,
                   {},
                   FdbEntry{5, *MacAddr::parse("aa:bb:cc:dd:ee:ff"), *Ipv4::parse("192.168.50.2")},
                   {}})
          .toString(),
      "delete fdb aa:bb:cc:dd:ee:ff dst 192.168.50.2 dev #5");
}

}  // namespace
}  // namespace ovl::nl
