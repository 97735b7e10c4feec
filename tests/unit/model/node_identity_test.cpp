// Node records that must speak for themselves (model/node_identity.h, as the etcd datastore
// feeds ClusterDocuments): each attack of issue 13 on a three-node cluster, and the tie rules
// that keep an existing node from being displaced by a record written after it.
#include "model/node_identity.h"

#include <gtest/gtest.h>

#include <string>

#include "model/cluster_documents.h"
#include "tests/unit/model/config_issues.h"

namespace ovl {
namespace {

using test::dump;

constexpr const char* kNetwork = "podCIDR: 10.244.0.0/16\nserviceCIDR: 10.96.0.0/12\n";

std::string record(const std::string& name, const std::string& ip, const std::string& subnet) {
  return R"({"name":")" + name + R"(","underlayIP":")" + ip + R"(","podSubnet":")" + subnet +
         R"(","ready":true})";
}

Ipv4Prefix prefix(const std::string& text) {
  return *Ipv4Prefix::parse(text);
}

// node1 (this node), node2 and node3, each registered as its agent does: a claim and a record
// on its lease (0x101..0x103), created at revisions 11..13.
class NodeIdentityTest : public ::testing::Test {
 protected:
  NodeIdentityTest() : docs_("/ovl/config") {
    docs_.vetNodeRecords();
    docs_.setNetwork("/ovl/config", kNetwork);
    for (int i = 1; i <= 3; ++i) {
      register_(i, i == 1);
    }
  }

  void register_(int i, bool self) {
    const std::string name = "node" + std::to_string(i);
    const std::string subnet = "10.244." + std::to_string(i) + ".0/24";
    docs_.setSubnetClaim(
        prefix(subnet),
        SubnetClaim{"/ovl/subnets/10.244." + std::to_string(i) + ".0-24", name, 0x100 + i});
    docs_.setNode("/ovl/nodes/" + name, record(name, "192.168.50." + std::to_string(i), subnet),
                  NodeOrigin{name, 0x100 + i, 10 + i, self});
  }

  // The accepted node of that name, or null.
  const Node* find(const ClusterLoad& load, const std::string& name) {
    for (const auto& n : load.cluster.nodes) {
      if (n.name == name) {
        return &n;
      }
    }
    return nullptr;
  }

  // Exactly one issue, on `source`, whose message contains `part`.
  ::testing::AssertionResult rejected(const ClusterLoad& load, const std::string& source,
                                      const std::string& field, const std::string& part) {
    if (load.issues.size() != 1) {
      return ::testing::AssertionFailure() << "expected one issue:" << dump(load.issues);
    }
    const ConfigIssue& i = load.issues[0];
    if (i.mark.file != source || i.field != field || i.message.find(part) == std::string::npos) {
      return ::testing::AssertionFailure() << "expected " << source << ": " << field << ": ..."
                                           << part << "...:" << dump(load.issues);
    }
    return ::testing::AssertionSuccess();
  }

  void expectNode2Intact(const ClusterLoad& load) {
    const Node* n2 = find(load, "node2");
    ASSERT_NE(n2, nullptr) << dump(load.issues);
    EXPECT_EQ(n2->underlayIp.toString(), "192.168.50.2");
    EXPECT_EQ(n2->podSubnet.toString(), "10.244.2.0/24");
    EXPECT_EQ(load.cluster.nodes.size(), 3u) << dump(load.issues);
  }

  ClusterDocuments docs_;
};

TEST_F(NodeIdentityTest, HonestNodesAreAccepted) {
  ClusterLoad load = docs_.build();
  EXPECT_TRUE(load.issues.empty()) << dump(load.issues);
  ASSERT_EQ(load.cluster.nodes.size(), 3u);
  expectNode2Intact(load);
  // In key order, whatever order they take values in (this node first).
  EXPECT_EQ(load.cluster.nodes[0].name, "node1");
  EXPECT_EQ(load.cluster.nodes[2].name, "node3");
  docs_.setNode("/ovl/nodes/node0", record("node0", "192.168.50.9", "10.244.9.0/24"),
                NodeOrigin{"node0", 0x109, 99, false});
  docs_.setSubnetClaim(prefix("10.244.9.0/24"),
                       SubnetClaim{"/ovl/subnets/10.244.9.0-24", "node0", 0x109});
  load = docs_.build();
  ASSERT_EQ(load.cluster.nodes.size(), 4u) << dump(load.issues);
  EXPECT_EQ(load.cluster.nodes[0].name, "node0");
}

// Attack 1: a record under /ovl/nodes/aaa-evil (sorting before node2, created before it)
// claims node2's pod subnet.
TEST_F(NodeIdentityTest, EvilKeyClaimingAnotherNodesSubnetIsRejected) {
  docs_.setNode("/ovl/nodes/aaa-evil", record("aaa-evil", "192.168.50.66", "10.244.2.0/24"),
                NodeOrigin{"aaa-evil", 0x666, 5, false});
  ClusterLoad load = docs_.build();
  EXPECT_TRUE(rejected(load, "/ovl/nodes/aaa-evil", "node.podSubnet",
                       "podSubnet 10.244.2.0/24 is claimed by node 'node2' "
                       "(/ovl/subnets/10.244.2.0-24), not by 'aaa-evil'"));
  expectNode2Intact(load);
  EXPECT_EQ(find(load, "aaa-evil"), nullptr);
}

// Attack 1 without a lease at all (an admin-written static record): rejected too.
TEST_F(NodeIdentityTest, RecordWithoutLeaseIsRejected) {
  docs_.setNode("/ovl/nodes/static", record("static", "192.168.50.70", "10.244.70.0/24"),
                NodeOrigin{"static", 0, 4, false});
  ClusterLoad load = docs_.build();
  EXPECT_TRUE(rejected(load, "/ovl/nodes/static", "node.podSubnet", "bound to no lease"));
  expectNode2Intact(load);
}

// An unclaimed subnet, on a lease of its own: rejected (claims are how subnets are allocated).
TEST_F(NodeIdentityTest, UnclaimedSubnetIsRejected) {
  docs_.setNode("/ovl/nodes/node4", record("node4", "192.168.50.4", "10.244.4.0/24"),
                NodeOrigin{"node4", 0x104, 14, false});
  ClusterLoad load = docs_.build();
  EXPECT_TRUE(rejected(load, "/ovl/nodes/node4", "node.podSubnet",
                       "podSubnet 10.244.4.0/24 is not claimed"));
  // Once its agent's claim is there (the same transaction, in practice), it is accepted.
  docs_.setSubnetClaim(prefix("10.244.4.0/24"),
                       SubnetClaim{"/ovl/subnets/10.244.4.0-24", "node4", 0x104});
  load = docs_.build();
  EXPECT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_NE(find(load, "node4"), nullptr);
}

// Attack 2: a record under another key carrying the name node2 (and node2's subnet).
TEST_F(NodeIdentityTest, RecordCarryingAnotherNodesNameIsRejected) {
  docs_.setNode("/ovl/nodes/aaa-evil", record("node2", "192.168.50.66", "10.244.2.0/24"),
                NodeOrigin{"aaa-evil", 0x102, 5, false});  // even on node2's lease
  ClusterLoad load = docs_.build();
  EXPECT_TRUE(rejected(load, "/ovl/nodes/aaa-evil", "node.name",
                       "name 'node2' is not the name in the record's key ('aaa-evil')"));
  EXPECT_EQ(load.issues[0].mark.line, 1);  // at the name field of the record
  expectNode2Intact(load);
}

// Attack 3: a record with a claim of its own, taking node2's underlay IP: the record created
// first (node2's) keeps it, wherever the newcomer sorts.
TEST_F(NodeIdentityTest, RecordTakingAnotherNodesUnderlayIpIsRejected) {
  docs_.setSubnetClaim(prefix("10.244.9.0/24"),
                       SubnetClaim{"/ovl/subnets/10.244.9.0-24", "aaa-evil", 0x666});
  docs_.setNode("/ovl/nodes/aaa-evil", record("aaa-evil", "192.168.50.2", "10.244.9.0/24"),
                NodeOrigin{"aaa-evil", 0x666, 40, false});
  ClusterLoad load = docs_.build();
  EXPECT_TRUE(rejected(load, "/ovl/nodes/aaa-evil", "node.underlayIP",
                       "underlay IP 192.168.50.2 is already used by node 'node2' at "
                       "/ovl/nodes/node2"));
  expectNode2Intact(load);
}

// The tie rule the other way round: a record older than node2's keeps the underlay IP on
// every node but node2 (which trusts itself), so node2's record is the one rejected here.
TEST_F(NodeIdentityTest, OlderRecordKeepsAContestedUnderlayIp) {
  docs_.setSubnetClaim(prefix("10.244.9.0/24"),
                       SubnetClaim{"/ovl/subnets/10.244.9.0-24", "zzz", 0x999});
  docs_.setNode("/ovl/nodes/zzz", record("zzz", "192.168.50.2", "10.244.9.0/24"),
                NodeOrigin{"zzz", 0x999, 3, false});
  ClusterLoad load = docs_.build();
  EXPECT_TRUE(rejected(load, "/ovl/nodes/node2", "node.underlayIP",
                       "underlay IP 192.168.50.2 is already used by node 'zzz'"));
  EXPECT_EQ(find(load, "node2"), nullptr);
  EXPECT_NE(find(load, "zzz"), nullptr);
}

// This node's own record comes first in every contest, however old the other record is: an
// attacker cannot take this node's underlay IP away from its own agent.
TEST_F(NodeIdentityTest, ThisNodeKeepsItsUnderlayIpAgainstAnOlderRecord) {
  docs_.setSubnetClaim(prefix("10.244.9.0/24"),
                       SubnetClaim{"/ovl/subnets/10.244.9.0-24", "zzz", 0x999});
  docs_.setNode("/ovl/nodes/zzz", record("zzz", "192.168.50.1", "10.244.9.0/24"),
                NodeOrigin{"zzz", 0x999, 1, false});
  ClusterLoad load = docs_.build();
  EXPECT_TRUE(rejected(load, "/ovl/nodes/zzz", "node.underlayIP",
                       "underlay IP 192.168.50.1 is already used by node 'node1'"));
  const Node* self = find(load, "node1");
  ASSERT_NE(self, nullptr);
  EXPECT_EQ(self->underlayIp.toString(), "192.168.50.1");
}

// Attack 4 as peers see it: node2's record overwritten in place by someone on another lease
// (or with another subnet) no longer matches node2's claim and is ignored; node2's agent writes
// it back (datastore/etcd_session.h: repairOwnKeys).
TEST_F(NodeIdentityTest, OverwrittenRecordOnAnotherLeaseIsRejected) {
  docs_.setNode("/ovl/nodes/node2", record("node2", "192.168.50.66", "10.244.2.0/24"),
                NodeOrigin{"node2", 0x666, 12, false});
  ClusterLoad load = docs_.build();
  EXPECT_TRUE(rejected(load, "/ovl/nodes/node2", "node.podSubnet",
                       "its claim /ovl/subnets/10.244.2.0-24 is bound to lease 102, the record "
                       "to lease 666"));
  EXPECT_EQ(find(load, "node2"), nullptr);
  register_(2, false);  // written back by node2's agent
  load = docs_.build();
  EXPECT_TRUE(load.issues.empty()) << dump(load.issues);
  expectNode2Intact(load);
}

// A record set without an origin is not trusted either.
TEST_F(NodeIdentityTest, RecordWithoutOriginIsRejected) {
  docs_.setNode("/ovl/nodes/node5", record("node5", "192.168.50.5", "10.244.5.0/24"));
  ClusterLoad load = docs_.build();
  EXPECT_TRUE(rejected(load, "/ovl/nodes/node5", "node.name", "cannot be vetted"));
}

TEST(TakesValuesFirst, SelfThenOlderThenKey) {
  const NodeOrigin self{"a", 1, 50, true};
  const NodeOrigin old{"b", 2, 3, false};
  const NodeOrigin young{"c", 3, 9, false};
  EXPECT_TRUE(takesValuesFirst(self, "/n/a", old, "/n/b"));
  EXPECT_FALSE(takesValuesFirst(old, "/n/b", self, "/n/a"));
  EXPECT_TRUE(takesValuesFirst(old, "/n/z", young, "/n/c"));
  EXPECT_TRUE(takesValuesFirst(old, "/n/b", old, "/n/c"));
}

}  // namespace
}  // namespace ovl
