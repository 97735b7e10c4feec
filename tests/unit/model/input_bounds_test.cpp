// The bounds on what ovl reads as YAML and echoes back (model/yaml_limits.h,
// model/config_issue.h): the alias budget, one document per file, the nesting depth, the size of
// files and of stored documents, the prefix of a bad value a message quotes, and the cap on the
// number of issues listed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "model/config.h"
#include "tests/unit/model/config_issues.h"
#include "tests/unit/model/test_inputs.h"

namespace ovl {
namespace {

using test::dump;
using test::TempDir;

constexpr const char* kFile = "cluster.yaml";

// The issue's alias bomb: one 1,000-endpoint service under an anchor, then `- *s` up to 48 KiB.
std::string aliasBomb() {
  std::string text =
      "network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\n"
      "services:\n  - &s\n    namespace: default\n    name: web\n    clusterIP: 10.96.0.10\n"
      "    ports: [{port: 80, protocol: tcp, targetPort: 8080}]\n    endpoints:\n";
  for (int i = 0; i < 1000; ++i) {
    text += "      - {ip: 10.244." + std::to_string(1 + i / 250) + "." +
            std::to_string(1 + i % 250) + ", port: 8080}\n";
  }
  while (text.size() < 48 * 1024) {
    text += "  - *s\n";
  }
  return text;
}

TEST(InputBounds, AliasBombIsOneIssueAndCostsLittle) {
  const std::string bomb = aliasBomb();
  const ClusterLoad load = parseCluster(bomb, kFile);
  // Before the budget it took about a minute and 1.2 GB. The witness that it now stops early is
  // where, not how fast: the scan stops at the alias that breaks the budget (the service is
  // about 5,020 nodes, the budget 49,152, one per byte, so the ninth alias) and parses nothing.
  EXPECT_TRUE(load.fatal);
  ASSERT_EQ(load.issues.size(), 1u) << dump(load.issues);
  EXPECT_EQ(load.issues[0].mark.line, 1011 + 8);  // the endpoints end at line 1010
  EXPECT_NE(load.issues[0].message.find("with its aliases expanded"), std::string::npos)
      << load.issues[0].toString();
  EXPECT_NE(load.issues[0].message.find("one node per byte"), std::string::npos);
  EXPECT_LT(load.issues[0].toString().size(), 400u);
  EXPECT_TRUE(load.cluster.services.empty());
}

TEST(InputBounds, AliasesWithinTheBudgetStillWork) {
  const ClusterLoad load = parseCluster(
      "network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\nservices:\n"
      "  - namespace: default\n    name: a\n    clusterIP: 10.96.0.10\n"
      "    ports: &web [{port: 80, protocol: tcp}]\n"
      "  - namespace: default\n    name: b\n    clusterIP: 10.96.0.11\n    ports: *web\n",
      kFile);
  EXPECT_TRUE(load.issues.empty()) << dump(load.issues);
  EXPECT_EQ(load.cluster.services.size(), 2u);
}

TEST(InputBounds, BudgetGrowsWithTheFile) {
  // 100 aliases of a 100-node list: 10,000 nodes, within the 16,384 any text may hold.
  std::string text = "a: &x [";
  for (int i = 0; i < 99; ++i) {
    text += "1, ";
  }
  text += "1]\nb: [";
  for (int i = 0; i < 100; ++i) {
    text += "*x, ";
  }
  text += "*x]\n";
  EXPECT_FALSE(parseAgentConfig(text, "agent.yaml").issues.empty());  // unknown fields a, b
  for (const auto& i : parseAgentConfig(text, "agent.yaml").issues) {
    EXPECT_EQ(i.message.find("aliases"), std::string::npos) << i.toString();
  }
  // Nested aliases multiply: ten levels of ten aliases each would be 10^10 nodes.
  std::string nested = "l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n";
  for (int level = 1; level < 10; ++level) {
    nested += "l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) {
      nested += "*l" + std::to_string(level - 1) + (i < 9 ? ", " : "");
    }
    nested += "]\n";
  }
  const AgentConfigResult acr = parseAgentConfig(nested, "agent.yaml");
  ASSERT_EQ(acr.issues.size(), 1u) << dump(acr.issues);
  EXPECT_EQ(acr.issues[0].mark.line, 5) << acr.issues[0].toString();  // 10^4 nodes pass
  EXPECT_NE(acr.issues[0].message.find("with its aliases expanded"), std::string::npos);
}

TEST(InputBounds, SecondDocumentIsAnErrorNamingItsLine) {
  const ClusterLoad load =
      parseCluster("network:\n  podCIDR: 10.244.0.0/16\n---\nnodes: []\n", kFile);
  EXPECT_TRUE(load.fatal);
  ASSERT_EQ(load.issues.size(), 1u) << dump(load.issues);
  EXPECT_EQ(load.issues[0].mark.line, 3);
  EXPECT_NE(load.issues[0].message.find("a second YAML document starts here"), std::string::npos);

  const ClusterLoad ended = parseCluster("network:\n  podCIDR: 10.244.0.0/16\n...\nx: 1\n", kFile);
  EXPECT_TRUE(ended.fatal);
  ASSERT_EQ(ended.issues.size(), 1u) << dump(ended.issues);
  EXPECT_NE(ended.issues[0].message.find("second YAML document"), std::string::npos);

  // One document with an explicit start (and end) is fine.
  EXPECT_TRUE(parseCluster("---\nnetwork:\n  podCIDR: 10.244.0.0/16\n...\n", kFile).issues.empty());

  const AgentConfigResult acr = parseAgentConfig(
      "nodeName: node1\nclusterFile: c.yaml\n---\nnodeName: node2\n", "agent.yaml");
  ASSERT_EQ(acr.issues.size(), 1u) << dump(acr.issues);
  EXPECT_EQ(acr.issues[0].toString().rfind("agent.yaml:3:1: a second YAML document", 0), 0u)
      << acr.issues[0].toString();
}

TEST(InputBounds, StoredDocumentsAreNestedAtMost64Levels) {
  for (int depth : {63, 64}) {  // with the document's own map: 64 and 65 levels
    ClusterDocuments docs("/ovl/config");
    docs.setNetwork("/ovl/config",
                    "podCIDR: " + std::string(depth, '[') + std::string(depth, ']') + "\n");
    const ClusterLoad load = docs.build();
    ASSERT_EQ(load.issues.size(), 1u) << dump(load.issues);
    EXPECT_EQ(load.issues[0].message.find("nested too deeply") != std::string::npos, depth == 64)
        << load.issues[0].toString();
  }
}

TEST(InputBounds, MessagesQuoteAShortPrefixOfABadValue) {
  EXPECT_EQ(quoteValue("web"), "'web'");
  EXPECT_EQ(quoteValue("a\nb\x01"), "'a\\nb\\x01'");  // one log line stays one line
  const std::string huge(50'000'000, 'x');
  EXPECT_EQ(quoteValue(huge), "'" + std::string(64, 'x') + "...' (50000000 bytes)");
  EXPECT_EQ(clipValue(huge), std::string(64, 'x') + "... (50000000 bytes)");
  // Never half a UTF-8 character: 63 ASCII bytes and a two-byte 'e' with an accent.
  EXPECT_EQ(clipValue(std::string(63, 'a') + "\xc3\xa9tail"),
            std::string(63, 'a') + "... (69 bytes)");

  // A 5 MB node name, in agent.yaml and in the cluster file (the e2e test gives the agent 50 MB).
  const std::string name(5'000'000, 'n');
  const AgentConfigResult acr =
      parseAgentConfig("nodeName: " + name + "X\nclusterFile: c.yaml\n", "agent.yaml");
  ASSERT_EQ(acr.issues.size(), 1u);
  EXPECT_LT(acr.issues[0].toString().size(), 400u) << acr.issues[0].toString().substr(0, 400);
  EXPECT_NE(acr.issues[0].message.find("...' (5000001 bytes)"), std::string::npos);
  const ClusterLoad load = parseCluster(
      "network:\n  podCIDR: 10.244.0.0/16\nnodes:\n  - name: " + name +
          "\n    underlayIP: 192.168.50.1\n    podSubnet: 10.244.1.0/24\n  - " + name + ": 1\n",
      kFile);
  ASSERT_FALSE(load.issues.empty());
  for (const auto& i : load.issues) {
    EXPECT_LT(i.toString().size(), 600u) << i.toString().substr(0, 600);
  }
  // A huge unknown key and a huge number are cut in the field path and the message too.
  const AgentConfigResult key = parseAgentConfig(
      "nodeName: node1\nclusterFile: c.yaml\nresyncSeconds: " + std::string(5'000'000, '9') + "\n" +
          std::string(1000, 'k') + ": 1\n",  // a plain key: at most 1,024 characters
      "agent.yaml");
  ASSERT_EQ(key.issues.size(), 2u) << dump(key.issues).substr(0, 2000);
  for (const auto& i : key.issues) {
    EXPECT_LT(i.toString().size(), 600u) << i.toString().substr(0, 600);
  }
}

TEST(InputBounds, NodeNamesAreDns1123Subdomains) {
  for (const char* bad : {"a..b", "a.-b", "a-.b", ".a", "a."}) {
    const AgentConfigResult acr =
        parseAgentConfig(std::string("nodeName: ") + bad + "\nclusterFile: c.yaml\n", "a.yaml");
    ASSERT_EQ(acr.issues.size(), 1u) << bad << dump(acr.issues);
    EXPECT_EQ(acr.issues[0].field, "nodeName");
  }
  for (const std::string& good :
       {std::string("a.b-c.d"), std::string("node1"), std::string(253, 'a')}) {
    EXPECT_TRUE(
        parseAgentConfig("nodeName: " + good + "\nclusterFile: c.yaml\n", "a.yaml").issues.empty())
        << good;
  }
  EXPECT_FALSE(
      parseAgentConfig("nodeName: " + std::string(254, 'a') + "\nclusterFile: c.yaml\n", "a.yaml")
          .issues.empty());
}

TEST(InputBounds, IssuesListedAreCapped) {
  std::vector<ConfigIssue> issues;
  for (int i = 0; i < 250; ++i) {
    issues.push_back(ConfigIssue{SourceMark{"c.yaml", i + 1, 1}, "f", "bad"});
  }
  const std::vector<std::string> lines = issueLines(issues);
  ASSERT_EQ(lines.size(), kMaxIssuesShown + 1);
  EXPECT_EQ(lines[0], "c.yaml:1:1: f: bad");
  EXPECT_EQ(lines[99], "c.yaml:100:1: f: bad");
  EXPECT_EQ(lines[100], "... and 150 more issues");
  issues.resize(101);
  EXPECT_EQ(issueLines(issues).back(), "... and 1 more issue");
  issues.resize(100);
  EXPECT_EQ(issueLines(issues).size(), 100u);
}

TEST(InputBounds, ConfigFilesAreRegularAndBounded) {
  TempDir dir;
  // Refused by its kind before any read (a read would never end, and ctest's timeout would
  // catch it).
  const ClusterLoad zero = loadClusterFile("/dev/zero");
  ASSERT_EQ(zero.issues.size(), 1u);
  EXPECT_TRUE(zero.fatal);
  EXPECT_EQ(zero.issues[0].toString(),
            "/dev/zero: cannot read the file: it is a character device; expected a regular file");

  // A FIFO with no writer: refused, not waited on.
  const std::string fifo = dir.path() + "/fifo.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const AgentConfigResult acr = loadAgentConfig(fifo);
  ASSERT_EQ(acr.issues.size(), 1u);
  EXPECT_NE(acr.issues[0].message.find("a pipe (FIFO); expected a regular file"), std::string::npos)
      << acr.issues[0].toString();

  // 64 MiB and one byte (sparse: nothing is written): refused by its size, before reading.
  const std::string big = dir.write("big.yaml", "");
  ASSERT_EQ(::truncate(big.c_str(), (64 << 20) + 1), 0);
  const ClusterLoad huge = loadClusterFile(big);
  ASSERT_EQ(huge.issues.size(), 1u);
  EXPECT_EQ(huge.issues[0].message, "the file is 67108865 bytes; expected at most 64 MiB");
}

TEST(InputBounds, StoredDocumentsAreBoundedAndNamedByKey) {
  ClusterDocuments docs("/ovl/config");
  docs.setNetwork("/ovl/config", "podCIDR: 10.244.0.0/16\nserviceCIDR: 10.96.0.0/12\n");
  docs.setService("/ovl/services/default/big",
                  "namespace: default\nname: big\n# " +
                      std::string(ClusterDocuments::kMaxDocumentBytes, 'x') + "\n");
  docs.setService("/ovl/services/default/deep", "namespace: " + std::string(100, '[') + "\n");
  docs.setNode("/ovl/nodes/n1", "name: n1\nextra: &a [1, 2]\n---\nname: n2\n");
  const ClusterLoad load = docs.build();
  ASSERT_EQ(load.issues.size(), 3u) << dump(load.issues);
  bool big = false;
  bool deep = false;
  bool second = false;
  for (const auto& i : load.issues) {
    if (i.mark.file == "/ovl/services/default/big") {
      big = i.message.find("bytes; expected at most 1572864 bytes") != std::string::npos;
    } else if (i.mark.file == "/ovl/services/default/deep") {
      deep = i.message.find("nested too deeply (the limit is 64 levels)") != std::string::npos &&
             i.mark.line == 1;
    } else if (i.mark.file == "/ovl/nodes/n1") {
      second = i.message.find("second YAML document") != std::string::npos && i.mark.line == 3;
    }
  }
  EXPECT_TRUE(big && deep && second) << dump(load.issues);
}

}  // namespace
}  // namespace ovl
