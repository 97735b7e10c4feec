// The services list read one entry at a time (model/service_scan.h) and the whole file read at once
// give the same services and the same issues; layouts the scan cannot split are read whole.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/cluster_file.h"
#include "tests/unit/model/config_issues.h"
#include "tests/unit/model/test_inputs.h"

namespace ovl {
namespace {

using test::dump;
using test::ids;
using test::service;
using test::withServices;

constexpr const char* kFile = "cluster.yaml";

// A large services list is parsed one entry at a time (to keep the tree small); layouts
// that do not allow it are parsed whole. Both must give the same services and the same issues
// at the same file:line:column.
std::vector<std::string> issueStrings(const ClusterLoad& load) {
  std::vector<std::string> out;
  for (const auto& i : load.issues) {
    out.push_back(i.toString());
  }
  return out;
}

TEST(ServiceConfigLayouts, EntryByEntryAndWholeFileParsesAgree) {
  // Entries with problems on known lines, comments and blank lines between them, and a
  // top-level key after the list.
  const std::string entries = service("a") + "  # a comment\n\n" +
                              service("b", "10.96.0.10") +  // conflicts with a
                              service("c", "10.96.0.30", "70000") + service("d", "10.96.0.40");
  const std::string nodes =
      "nodes:\n  - name: n1\n    underlayIP: 192.168.50.1\n"
      "    podSubnet: 10.244.1.0/24\n";
  const ClusterLoad plain = parseCluster(withServices(entries) + nodes, kFile);
  ASSERT_FALSE(plain.fatal) << dump(plain.issues);
  EXPECT_EQ(ids(plain), (std::vector<std::string>{"default/a", "default/d"}));
  EXPECT_EQ(plain.cluster.nodes.size(), 1u);

  // Add an anchor to the last entry's name: entries with anchors are never split either.
  const std::string anchored = [&] {
    std::string t = withServices(entries) + nodes;
    t.replace(t.find("name: d"), 7, "name: &x d");
    return t;
  }();
  const ClusterLoad whole = parseCluster(anchored, kFile);
  EXPECT_EQ(ids(whole), ids(plain));
  EXPECT_EQ(issueStrings(whole), issueStrings(plain));
  EXPECT_EQ(whole.cluster.nodes.size(), 1u);

  // Services last, no nodes.
  const ClusterLoad last = parseCluster(withServices(entries), kFile);
  EXPECT_EQ(ids(last), ids(plain));
  EXPECT_EQ(issueStrings(last), issueStrings(plain));

  // An entry whose dash is alone on its line: parsed whole, the same model.
  const std::string alone = withServices(service("a") +
                                         "  -\n    namespace: default\n    name: e\n"
                                         "    clusterIP: 10.96.0.50\n    ports:\n"
                                         "      - port: 80\n");
  const ClusterLoad dash = parseCluster(alone, kFile);
  EXPECT_EQ(ids(dash), (std::vector<std::string>{"default/a", "default/e"}));
  EXPECT_TRUE(dash.issues.empty()) << dump(dash.issues);
}

TEST(ServiceConfigLayouts, SyntaxErrorInsideAnEntryIsStillFatalWithItsLine) {
  const ClusterLoad load =
      parseCluster(withServices(service("a") + "  - namespace: default\n    name: [b\n"), kFile);
  EXPECT_TRUE(load.fatal);
  ASSERT_FALSE(load.issues.empty());
  EXPECT_NE(load.issues.front().message.find("invalid YAML"), std::string::npos)
      << dump(load.issues);
  EXPECT_GE(load.issues.front().mark.line, 11) << dump(load.issues);
}

}  // namespace
}  // namespace ovl
