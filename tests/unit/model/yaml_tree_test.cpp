// The YAML document tree built from libyaml's events (model/yaml_tree.h): kinds as yaml-cpp read
// them (a quoted "null" is a string), 0-based marks, aliases that are their anchored node,
// duplicate keys kept, the changes agent.yaml's environment makes, and text written back.
#include "model/yaml_tree.h"

#include <gtest/gtest.h>

#include <string>

namespace ovl {
namespace {

std::shared_ptr<YamlTree> build(std::string_view text) {
  YamlBuild b = buildYamlTree(text, 0);
  EXPECT_FALSE(b.problem) << (b.problem ? b.problem->message : "");
  return b.tree;
}

TEST(YamlTree, PlainNullsAreNullQuotedOrTaggedOnesAreStrings) {
  auto t = build("a: ~\nb: null\nc:\nd: 'null'\ne: \"~\"\nf: !!str null\ng: NULL\nh: nil\n");
  const YamlNode r = t->root();
  for (const char* key : {"a", "b", "c", "g"}) {
    EXPECT_TRUE(r[key].isNull()) << key;
  }
  for (const char* key : {"d", "e", "f", "h"}) {
    EXPECT_TRUE(r[key].isScalar()) << key;
  }
  EXPECT_EQ(r["d"].scalar(), "null");
  EXPECT_FALSE(r["missing"].isDefined());
  EXPECT_FALSE(r["missing"].isNull());
}

TEST(YamlTree, MarksAreZeroBasedAtTheNodesStart) {
  auto t = build("top:\n  list:\n    - x: 1\n      y: \"q\"\n");
  const YamlNode list = t->root()["top"]["list"];
  EXPECT_EQ(list.mark().line, 2);
  EXPECT_EQ(list.mark().column, 4);  // the first '-'
  const YamlNode entry = *list.begin();
  EXPECT_EQ(entry.mark().line, 2);
  EXPECT_EQ(entry.mark().column, 6);  // the first key
  EXPECT_EQ(entry["y"].mark().line, 3);
  EXPECT_EQ(entry["y"].mark().column, 9);  // the quote
}

TEST(YamlTree, AnAliasIsItsAnchoredNode) {
  auto t = build("a: &p {x: 1}\nb: *p\nc: [*p, *p]\n");
  const YamlNode r = t->root();
  EXPECT_EQ(r["b"].index(), r["a"].index());
  EXPECT_EQ(r["b"]["x"].scalar(), "1");
  EXPECT_EQ(r["b"].mark().line, 0);  // where the node was written
  EXPECT_EQ(r["c"].size(), 2u);
  for (const YamlNode& item : r["c"]) {
    EXPECT_EQ(item.index(), r["a"].index());
  }
}

TEST(YamlTree, DuplicateKeysAreKept) {
  auto t = build("a: 1\nb: 2\na: 3\n");
  const auto pairs = t->root().pairs();
  ASSERT_EQ(pairs.size(), 3u);
  EXPECT_EQ(pairs[2].first.scalar(), "a");
  EXPECT_EQ(pairs[2].second.scalar(), "3");
  EXPECT_EQ(t->root()["a"].scalar(), "1");  // the first
}

TEST(YamlTree, ProblemsHaveAPosition) {
  YamlBuild b = buildYamlTree("a: [1, 2\nb: 3\n", 0);
  ASSERT_TRUE(b.problem);
  EXPECT_EQ(b.problem->message.rfind("invalid YAML: ", 0), 0u) << b.problem->message;
  EXPECT_GE(b.problem->mark.line, 0);
  // At the end of a text without a final newline: the end of its last line, not a line after.
  YamlBuild end = buildYamlTree("{{{", 0);
  ASSERT_TRUE(end.problem);
  EXPECT_EQ(end.problem->mark.line, 0);
  EXPECT_EQ(end.problem->mark.column, 3);
  YamlBuild deep = buildYamlTree(std::string(200, '['), 0);
  ASSERT_TRUE(deep.problem);
  EXPECT_NE(deep.problem->message.find("nested too deeply (the limit is 100 levels)"),
            std::string::npos);
}

TEST(YamlTree, SetAndRemoveChangeTheDocument) {
  auto t = build("a: 1\nb: 2\nready: true\nc: 3\n");
  const uint32_t root = t->root().index();
  t->set(root, "b", t->add(YamlKind::kScalar, {}, "20"));
  t->set(root, "d", t->add(YamlKind::kScalar, {}, "4"));
  t->remove(root, "ready");
  t->remove(root, "d");
  t->set(root, "e", t->add(YamlKind::kScalar, {}, "5"));
  const auto pairs = t->root().pairs();
  ASSERT_EQ(pairs.size(), 4u);
  EXPECT_EQ(t->root()["b"].scalar(), "20");
  EXPECT_TRUE(t->root()["b"].mark().isNull());  // made by ovl
  EXPECT_FALSE(t->root()["ready"].isDefined());
  EXPECT_EQ(pairs[3].first.scalar(), "e");
  EXPECT_EQ(t->root().size(), 4u);
}

TEST(YamlTree, EmittedTextReadsBackAsTheSameTree) {
  auto t = build("s:\n  - name: 'null'\n    v: \"a: b\"\n    n: ~\n    e: ''\n    l: [1, '#x']\n");
  const std::string text = emitYaml(t->root()["s"]);
  auto back = build(text);
  const YamlNode e = *back->root().begin();
  EXPECT_TRUE(e["name"].isScalar()) << text;
  EXPECT_EQ(e["name"].scalar(), "null") << text;
  EXPECT_EQ(e["v"].scalar(), "a: b") << text;
  EXPECT_TRUE(e["n"].isNull()) << text;
  EXPECT_TRUE(e["e"].isScalar()) << text;
  EXPECT_EQ(e["l"].items()[1].scalar(), "#x") << text;
}

}  // namespace
}  // namespace ovl
