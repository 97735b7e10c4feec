// The incremental re-read of the cluster file (model/cluster_increment.h): after each change the
// state must read exactly as a parse of the whole new text (services, issues with their
// positions), and its changes applied to the last services must give the new ones. A property
// test of random edits, then the edge cases one by one.
#include "model/cluster_increment.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/model/config_issues.h"

namespace ovl {
namespace {

using test::dump;

constexpr const char* kFile = "cluster.yaml";

std::string head(int vni = 1) {
  return fmt::format(
      "network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\n  vni: {}\n"
      "nodes:\n  - name: node1\n    underlayIP: 192.168.50.1\n    podSubnet: 10.244.1.0/24\n",
      vni);
}

std::string service(const std::string& name, const std::string& ip, int endpoint,
                    const std::string& extra = "") {
  return fmt::format(
      "  - namespace: default\n    name: {}\n    clusterIP: {}\n{}    ports:\n      - port: 80\n"
      "    endpoints:\n      - ip: 10.244.1.{}\n        node: node1\n",
      name, ip, extra, endpoint);
}

std::vector<std::string> lines(const std::vector<ConfigIssue>& issues) {
  std::vector<std::string> out;
  for (const auto& i : issues) {
    out.push_back(i.toString());
  }
  return out;
}

std::string marks(const std::vector<svc::Service>& services) {
  std::string out;
  for (const auto& s : services) {
    out += s.id() + "@" + s.mark.toString() + " ";
  }
  return out;
}

// The state reads as the whole text does.
::testing::AssertionResult readsAs(const ClusterFileState& state, const ClusterLoad& want) {
  const ClusterLoad got = state.current();
  if (lines(got.issues) != lines(want.issues)) {
    return ::testing::AssertionFailure()
           << "issues differ; got:" << dump(got.issues) << "\nwant:" << dump(want.issues);
  }
  if (got.fatal != want.fatal || !(got.cluster.network == want.cluster.network) ||
      got.cluster.nodes != want.cluster.nodes) {
    return ::testing::AssertionFailure() << "network, nodes or fatal differ";
  }
  if (got.cluster.services != want.cluster.services ||
      marks(got.cluster.services) != marks(want.cluster.services)) {
    return ::testing::AssertionFailure() << "services differ; got " << marks(got.cluster.services)
                                         << "\nwant " << marks(want.cluster.services);
  }
  return ::testing::AssertionSuccess();
}

// update() on a copy of the text: when it fails, the text is left as it was.
std::optional<ClusterServiceChanges> updateWith(ClusterFileState& state, const std::string& text) {
  std::string copy = text;
  auto out = state.update(copy);
  EXPECT_TRUE(out || copy == text) << "a failed update changed the text";
  return out;
}

using View = std::map<std::string, svc::Service>;

View viewOf(const std::vector<svc::Service>& services) {
  View v;
  for (const auto& s : services) {
    v.emplace(s.id(), s);
  }
  return v;
}

void applyTo(View& v, const ClusterServiceChanges& c) {
  for (const auto& id : c.removed) {
    v.erase(id);
  }
  for (const auto& s : c.upserts) {
    v.insert_or_assign(s.id(), s);
  }
}

::testing::AssertionResult readsAsWhole(const ClusterFileState& state, const std::string& text) {
  return readsAs(state, parseCluster(text, kFile));
}

// ---------- the property: random edits ----------

struct Model {
  int vni = 1;
  std::string top;                  // lines before everything (comments)
  std::vector<std::string> blocks;  // the services' entries, as text
  bool nodesAfter = false;          // nodes after the services list instead of before
  std::optional<std::pair<size_t, std::string>> broken;  // an entry broken, and what it was

  std::string text() const {
    std::string h = head(vni);
    const size_t nodesAt = h.find("nodes:");
    std::string out = top + (nodesAfter ? h.substr(0, nodesAt) : h) + "services:\n";
    for (const auto& b : blocks) {
      out += b;
    }
    return nodesAfter ? out + h.substr(nodesAt) : out;
  }
};

std::string randomBlock(std::mt19937& rng, int serial) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::string ip = fmt::format("10.96.0.{}", 1 + pick(40));  // often a duplicate
  const std::string name = fmt::format("svc-{}", pick(4) == 0 ? pick(40) : serial);
  switch (pick(12)) {
    case 0:
      return service(name, "10.300.0.1", 5);  // a bad cluster IP
    case 1:
      return service(name, ip, 5, "    bogus: 1\n");  // an unknown field
    case 2:
      return service(name, ip, 6, "    # a comment inside\n");
    case 3:
      return service(name, ip, 7, "    type: NodePort\n") + "# a comment after\n";
    case 4:
      return service(name, ip, 8, "    name: twice\n");  // a duplicate key
    default:
      return service(name, ip, 1 + pick(200));
  }
}

void randomEdit(std::mt19937& rng, Model& m, int& serial) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  if (m.broken) {  // mended by the next edit, as an operator would
    m.blocks[m.broken->first] = m.broken->second;
    m.broken.reset();
    return;
  }
  const size_t at = m.blocks.empty() ? 0 : pick(m.blocks.size());
  switch (pick(12)) {
    case 0:
    case 1:
    case 2: {  // change an endpoint
      if (m.blocks.empty()) {
        break;
      }
      std::string& b = m.blocks[at];
      const size_t ep = b.rfind("10.244.1.");
      if (ep != std::string::npos) {
        b.replace(ep, b.find('\n', ep) - ep, fmt::format("10.244.1.{}", 1 + pick(250)));
      }
      break;
    }
    case 3:
      m.blocks.insert(m.blocks.begin() + static_cast<ptrdiff_t>(m.blocks.empty() ? 0 : at),
                      randomBlock(rng, serial++));
      break;
    case 4:
      if (!m.blocks.empty()) {
        m.blocks.erase(m.blocks.begin() + static_cast<ptrdiff_t>(at));
      }
      break;
    case 5:  // move one
      if (m.blocks.size() > 1) {
        std::string b = m.blocks[at];
        m.blocks.erase(m.blocks.begin() + static_cast<ptrdiff_t>(at));
        m.blocks.insert(m.blocks.begin() + static_cast<ptrdiff_t>(pick(m.blocks.size())), b);
      }
      break;
    case 6:  // break an entry's syntax (a later edit replaces or removes it)
      if (!m.blocks.empty()) {
        m.broken.emplace(at, m.blocks[at]);
        m.blocks[at] = pick(2) == 0 ? "  - namespace: [default\n    name: x\n"
                                    : "  - namespace: default\n   name: bad-indent\n";
      }
      break;
    case 7:
      m.vni = 1 + static_cast<int>(pick(5));
      break;
    case 8:
      m.top += "# a line before everything\n";
      break;
    case 9:
      if (!m.blocks.empty()) {
        m.blocks[at] = "# a comment line\n" + m.blocks[at];
      }
      break;
    case 10:
      if (!m.blocks.empty()) {
        m.blocks[at] = randomBlock(rng, serial++);
      }
      break;
    default:
      m.nodesAfter = pick(4) == 0 ? !m.nodesAfter : m.nodesAfter;
      break;
  }
}

TEST(ClusterIncrement, RandomEditsReadAsTheWholeNewText) {
  std::mt19937 rng(20261203);
  size_t incremental = 0;
  size_t edits = 0;
  for (int round = 0; round < 4; ++round) {
    Model m;
    int serial = 0;
    for (int i = 0; i < 30; ++i) {
      m.blocks.push_back(randomBlock(rng, serial++));
    }
    ClusterFileState state(kFile);
    ClusterLoad first = state.parseWhole(m.text());
    View view = viewOf(first.cluster.services);
    for (int e = 0; e < 100; ++e, ++edits) {
      randomEdit(rng, m, serial);
      const std::string text = m.text();
      const ClusterLoad whole = parseCluster(text, kFile);
      if (auto changes = updateWith(state, text)) {
        ++incremental;
        ASSERT_TRUE(readsAs(state, whole)) << "after edit " << e << " of:\n" << text;
        ASSERT_EQ(lines(changes->issues), lines(whole.issues));
        applyTo(view, *changes);
        ASSERT_EQ(view, viewOf(whole.cluster.services)) << "after edit " << e << ":\n" << text;
        continue;
      }
      const ClusterLoad load = state.parseWhole(text);
      ASSERT_EQ(lines(load.issues), lines(whole.issues));
      ASSERT_TRUE(readsAs(state, whole));
      if (!load.fatal) {
        view = viewOf(load.cluster.services);
      }
    }
  }
  RecordProperty("incremental", static_cast<int>(incremental));
  // Most edits touch only services: most must have been read incrementally, or this test
  // checks nothing of it.
  EXPECT_GT(incremental, edits / 3) << incremental << " of " << edits;
}

// ---------- the edge cases ----------

std::string threeServices(int endpoint = 5) {
  return head() + "services:\n" + service("a", "10.96.0.1", 1) +
         service("b", "10.96.0.2", endpoint) + service("c", "10.96.0.3", 3);
}

TEST(ClusterIncrement, OneEndpointChangedReadsOnlyItsEntry) {
  ClusterFileState state(kFile);
  ASSERT_TRUE(state.parseWhole(threeServices()).issues.empty());
  auto changes = updateWith(state, threeServices(9));
  ASSERT_TRUE(changes);
  ASSERT_EQ(changes->upserts.size(), 1u);
  EXPECT_EQ(changes->upserts[0].id(), "default/b");
  EXPECT_EQ(changes->upserts[0].endpoints.at(0).ip.toString(), "10.244.1.9");
  EXPECT_TRUE(changes->removed.empty());
  EXPECT_LE(changes->reparsed, 2u);
  EXPECT_TRUE(readsAsWhole(state, threeServices(9)));
}

TEST(ClusterIncrement, LinesAddedAboveMoveTheIssuesBelow) {
  const std::string bad = service("c", "10.96.0.3", 3, "    bogus: 1\n");
  const std::string before = head() + "services:\n" + service("a", "10.96.0.1", 1) + bad;
  const std::string after =
      head() + "services:\n" + service("a", "10.96.0.1", 1) + "# two lines\n# more\n" + bad;
  ClusterFileState state(kFile);
  const ClusterLoad first = state.parseWhole(before);
  ASSERT_EQ(first.issues.size(), 1u) << dump(first.issues);
  auto changes = updateWith(state, after);
  ASSERT_TRUE(changes);
  ASSERT_EQ(changes->issues.size(), 1u);
  EXPECT_EQ(changes->issues[0].mark.line, first.issues[0].mark.line + 2);
  EXPECT_TRUE(changes->upserts.empty());
  EXPECT_TRUE(readsAsWhole(state, after));
}

TEST(ClusterIncrement, TheFirstHolderRemovedAcceptsTheNext) {
  // b claims a's cluster IP and is rejected while a holds it; when a goes, b is accepted.
  const std::string a = service("a", "10.96.0.1", 1);
  const std::string b = service("b", "10.96.0.1", 2);
  const std::string c = service("c", "10.96.0.3", 3);
  ClusterFileState state(kFile);
  const ClusterLoad first = state.parseWhole(head() + "services:\n" + a + c + b);
  ASSERT_EQ(first.issues.size(), 1u);
  EXPECT_NE(first.issues[0].message.find("default/a"), std::string::npos) << dump(first.issues);
  const std::string text = head() + "services:\n" + c + b;
  auto changes = updateWith(state, text);
  ASSERT_TRUE(changes);
  EXPECT_TRUE(changes->issues.empty()) << dump(changes->issues);
  ASSERT_EQ(changes->removed, std::vector<std::string>{"default/a"});
  ASSERT_EQ(changes->upserts.size(), 1u);
  EXPECT_EQ(changes->upserts[0].id(), "default/b");
  EXPECT_TRUE(readsAsWhole(state, text));
}

TEST(ClusterIncrement, AHolderMovedIsNamedAtItsNewLine) {
  const std::string a = service("a", "10.96.0.1", 1);
  const std::string b = service("b", "10.96.0.1", 2);
  ClusterFileState state(kFile);
  state.parseWhole(head() + "services:\n" + a + b);
  // Lines above a: both move, and b's message names where a is now.
  const std::string text = head() + "services:\n" + service("z", "10.96.0.9", 9) + a + b;
  auto changes = updateWith(state, text);
  ASSERT_TRUE(changes);
  ASSERT_EQ(changes->issues.size(), 1u);
  EXPECT_EQ(changes->issues[0].field, "services[2].clusterIP");
  EXPECT_TRUE(readsAsWhole(state, text));
}

TEST(ClusterIncrement, ChangesOutsideTheServicesAreParsedWhole) {
  ClusterFileState state(kFile);
  state.parseWhole(threeServices());
  std::string text = threeServices();
  text.replace(text.find("vni: 1"), 6, "vni: 2");
  EXPECT_FALSE(updateWith(state, text));
}

TEST(ClusterIncrement, UnsureLayoutsAreParsedWhole) {
  const std::string base = threeServices();
  const std::string cases[] = {
      // an anchor in the changed entry
      head() + "services:\n" + service("a", "10.96.0.1", 1) +
          service("b", "10.96.0.2", 5, "    sessionAffinity: &x None\n") +
          service("c", "10.96.0.3", 3),
      // a document marker
      base + "---\n",
      // a new top-level key at the end of the list
      base + "extra: 1\n",
      // an entry indented otherwise than the list
      head() + "services:\n" + service("a", "10.96.0.1", 1) + "    - namespace: x\n" +
          service("c", "10.96.0.3", 3),
      // a syntax error
      head() + "services:\n" + service("a", "10.96.0.1", 1) + "  - namespace: [x\n" +
          service("c", "10.96.0.3", 3),
  };
  for (const std::string& text : cases) {
    ClusterFileState state(kFile);
    state.parseWhole(base);
    EXPECT_FALSE(updateWith(state, text)) << text;
    state.parseWhole(text);
    EXPECT_TRUE(readsAsWhole(state, text)) << text;
  }
}

TEST(ClusterIncrement, AKeyAfterTheListKeepsItsLinesOrIsParsedWhole) {
  const std::string tail = "extra:\n";
  ClusterFileState state(kFile);
  const ClusterLoad first = state.parseWhole(threeServices() + tail);
  ASSERT_TRUE(first.fatal) << "the test needs an issue after the list";
  // A fatal text is never the base of an update.
  EXPECT_FALSE(updateWith(state, threeServices(9) + tail));
}

TEST(ClusterIncrement, AFatalFileIsAlwaysParsedWhole) {
  ClusterFileState state(kFile);
  std::string text = threeServices();
  text.replace(text.find("podCIDR: 10.244.0.0/16"), 22, "podCIDR: nonsense");
  ASSERT_TRUE(state.parseWhole(text).fatal);
  EXPECT_FALSE(updateWith(state, text + "# more\n"));
}

TEST(ClusterIncrement, TheSameTextChangesNothing) {
  ClusterFileState state(kFile);
  state.parseWhole(threeServices());
  EXPECT_TRUE(state.same(threeServices()));
  auto changes = updateWith(state, threeServices());
  ASSERT_TRUE(changes);
  EXPECT_TRUE(changes->upserts.empty());
  EXPECT_TRUE(changes->removed.empty());
  state.forget();
  EXPECT_FALSE(state.same(threeServices()));
  EXPECT_FALSE(updateWith(state, threeServices()));
}

}  // namespace
}  // namespace ovl
