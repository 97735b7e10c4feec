// The fixture and helpers shared by the netlink kernel tests (tests/netns/netlink/*_test.cpp):
// a namespace with an underlay NIC and a Netlink socket in it, a VTEP built from one spec, the
// objects ovl programs for peer i, and readable failure output for the value types.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "netlink/netlink.h"
#include "tests/fakes/netlink_printers.h"
#include "tests/netns/netns_fixture.h"

namespace ovl::nl {

// (ovl_netns_tests links gtest only, so no gmock matchers here.)
inline ::testing::AssertionResult has(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "\"" << part << "\" not in:\n" << text;
}

inline ::testing::AssertionResult lacks(const std::string& text, const std::string& part) {
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

inline Ipv4 ip(const char* s) {
  return *Ipv4::parse(s);
}
inline Ipv4Prefix prefix(const char* s) {
  return *Ipv4Prefix::parse(s);
}
inline MacAddr mac(const char* s) {
  return *MacAddr::parse(s);
}

// Peer i's objects, as ovl programs them: neighbour and FDB entry for the peer's VTEP MAC, and
// an onlink route to the peer's pod subnet 10.<1+i/256>.<i%256>.0/24 via its .0 address.
struct Peer {
  Neighbour neigh;
  FdbEntry fdb;
  Route route;
};

inline Peer peer(int vtep, int i) {
  const auto a = static_cast<uint8_t>(1 + i / 256);
  const auto b = static_cast<uint8_t>(i % 256);
  MacAddr m{{0x02, 0x42, 0x00, 0x00, a, b}};
  Ipv4 subnet{(10u << 24) | (uint32_t{a} << 16) | (uint32_t{b} << 8)};
  Ipv4 underlay{(172u << 24) | (16u << 16) | (uint32_t{a} << 8) | b};
  return Peer{Neighbour{vtep, subnet, m}, FdbEntry{vtep, m, underlay},
              Route{Ipv4Prefix{subnet, 24}, subnet, vtep, true}};
}

inline int countLines(const std::string& s) {
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

}  // namespace ovl::nl
