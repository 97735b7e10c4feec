// Links (netlink/link.cpp) against the real kernel, in a throwaway namespace: VXLAN and bridge
// devices, single gets, changes of one attribute, deletion, and their errors. iproute2 is the
// independent witness of every write, and the reads are checked against state iproute2 created.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "netlink/netlink.h"
#include "tests/netns/netlink/netlink_fixture.h"

namespace ovl::nl {
namespace {

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

}  // namespace
}  // namespace ovl::nl
