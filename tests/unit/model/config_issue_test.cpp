// How a configuration issue reads (model/config_issue.h): file:line:column: field: message.
#include <gtest/gtest.h>

#include "model/config_issue.h"

namespace ovl {
namespace {

TEST(ConfigIssue, ToStringNamesFileLineColumnAndField) {
  ConfigIssue issue{SourceMark{"cluster.yaml", 12, 5}, "nodes[2].podSubnet", "is wrong"};
  EXPECT_EQ(issue.toString(), "cluster.yaml:12:5: nodes[2].podSubnet: is wrong");
  EXPECT_EQ((ConfigIssue{SourceMark{"a.yaml"}, "", "cannot read"}).toString(),
            "a.yaml: cannot read");
  EXPECT_EQ((SourceMark{"x.yaml", 3, 1}).toString(), "x.yaml:3:1");
  EXPECT_EQ((SourceMark{"x.yaml"}).toString(), "x.yaml");
}

}  // namespace
}  // namespace ovl
