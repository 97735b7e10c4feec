// Bridge ports (netlink/bridge_port.cpp) against the real kernel, in a throwaway namespace: the
// hairpin mode of a port, written and read back, and the AF_BRIDGE port dump, with `bridge link`
// as the independent witness.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "netlink/netlink.h"
#include "tests/netns/netlink/netlink_fixture.h"

namespace ovl::nl {
namespace {

TEST_F(NetlinkTest, HairpinOfABridgePortIsWrittenAndReadBack) {
  auto br = nl_->createBridge("br0", 0);
  ASSERT_TRUE(br) << br.error().message;
  sh(ipn() + "link add veth0 type veth peer name veth1");
  auto veth = nl_->linkByName("veth0");
  ASSERT_TRUE(veth && veth->has_value());
  const int port = (*veth)->index;

  auto notPort = nl_->hairpin(port);
  ASSERT_TRUE(notPort) << notPort.error().message;
  EXPECT_FALSE(notPort->has_value());

  ASSERT_TRUE(nl_->setMaster(port, br->index));
  auto off = nl_->hairpin(port);
  ASSERT_TRUE(off) << off.error().message;
  ASSERT_TRUE(off->has_value());
  EXPECT_FALSE(**off);

  ASSERT_TRUE(nl_->setHairpin(port, true));
  EXPECT_TRUE(has(sh("bridge -n " + ns() + " -d link show dev veth0"), "hairpin on"));
  auto on = nl_->hairpin(port);
  ASSERT_TRUE(on && on->has_value());
  EXPECT_TRUE(**on);
  auto ports = nl_->bridgePorts();
  ASSERT_TRUE(ports) << ports.error().message;
  EXPECT_EQ(*ports, (std::vector<BridgePort>{BridgePort{port, "veth0", br->index, true}}));

  // Turned off by someone else: read back.
  sh("bridge -n " + ns() + " link set dev veth0 hairpin off");
  off = nl_->hairpin(port);
  ASSERT_TRUE(off && off->has_value());
  EXPECT_FALSE(**off);
}

TEST_F(NetlinkTest, HairpinOfADeviceThatIsNoPortIsAnError) {
  auto st = nl_->setHairpin(underlay_, true);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().code, 0);
  EXPECT_TRUE(
      has(st.error().message, "set bridge port #" + std::to_string(underlay_) + " hairpin on"));
  auto ports = nl_->bridgePorts();
  ASSERT_TRUE(ports) << ports.error().message;
  EXPECT_TRUE(ports->empty());
}

}  // namespace
}  // namespace ovl::nl
