// model/config: agent.yaml's rpFilter mode (fix, warn, off) and its error.
#include "model/config.h"

#include <gtest/gtest.h>

namespace ovl {
namespace {

TEST(AgentConfigRpFilter, ModesAndErrors) {
  auto ok = parseAgentConfig("nodeName: a\nclusterFile: c.yaml\nrpFilter: warn\n", "agent.yaml");
  EXPECT_TRUE(ok.issues.empty());
  EXPECT_EQ(ok.config.rpFilter, "warn");
  EXPECT_EQ(parseAgentConfig("nodeName: a\nclusterFile: c.yaml\n", "agent.yaml").config.rpFilter,
            "fix");
  auto bad = parseAgentConfig("nodeName: a\nclusterFile: c.yaml\nrpFilter: loose\n", "agent.yaml");
  ASSERT_EQ(bad.issues.size(), 1U);
  EXPECT_EQ(bad.issues[0].toString(),
            "agent.yaml:3:11: rpFilter: unknown mode 'loose'; expected one of fix, warn, off");
}

}  // namespace
}  // namespace ovl
