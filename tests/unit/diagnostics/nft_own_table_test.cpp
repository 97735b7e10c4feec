// diagnostics/nft_own_table: ovl's own table compared with what the plan wants.
#include "diagnostics/nft_inspect.h"

#include <gtest/gtest.h>

namespace ovl::diag {
namespace {

TEST(NftAnalysis, OwnTableComparison) {
  OwnTable want, have;
  want.exists = have.exists = true;
  want.keys["services"] = {"10.96.0.10 . tcp . 80", "10.96.0.11 . tcp . 80"};
  have.keys["services"] = {"10.96.0.10 . tcp . 80", "10.96.0.99 . tcp . 80"};
  auto f = compareOwnTable(want, have, "ovl");
  ASSERT_EQ(f.size(), 1U);
  EXPECT_EQ(f[0].subject, "table ip ovl set services");
  EXPECT_EQ(f[0].title, "out of step with the datastore: 1 element(s) missing, 1 extra");
  have.exists = false;
  EXPECT_EQ(compareOwnTable(want, have, "ovl")[0].title, "ovl's nftables table is missing");
  EXPECT_TRUE(compareOwnTable(want, want, "ovl").empty());
}

}  // namespace
}  // namespace ovl::diag
