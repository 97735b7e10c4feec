// The overlay kernel as the loop's reconciler sees it (agent/counting_kernel.h): every refusal of
// the kernel counted once in ovl_kernel_errors_total{subsystem="overlay"}, the outcomes the
// reconciler accepts as success not at all.
#include "agent/counting_kernel.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/fakes/fake_overlay_kernel.h"
#include "tests/unit/agent/prometheus_text.h"

namespace ovl {
namespace {

class CountingKernelTest : public ::testing::Test {
 protected:
  double overlayErrors() {
    auto p = test::PromText::parse(metrics.text());
    EXPECT_TRUE(p.errors.empty());
    return p.value("ovl_kernel_errors_total", {{"subsystem", "overlay"}});
  }
  static nl::Netlink::Op route(nl::Netlink::Op::Kind kind, const std::string& dst) {
    nl::Netlink::Op op{kind};
    op.route.index = 1;
    op.route.dst = *Ipv4Prefix::parse(dst);
    op.route.gateway = *Ipv4::parse("10.244.2.0");
    return op;
  }

  test::FakeKernel fake;
  AgentMetrics metrics{"test", "file"};
  CountingOverlayKernel kernel{fake, metrics};
};

TEST_F(CountingKernelTest, RefusedWritesCountAcceptedOutcomesDoNot) {
  using K = nl::Netlink::Op::Kind;
  // A delete of what is not there (ENOENT) is what the reconciler wanted: not an error.
  auto results = kernel.apply(std::vector{route(K::kDeleteRoute, "10.244.2.0/24")});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].ok());
  EXPECT_EQ(overlayErrors(), 0);

  fake.failOp = [](const nl::Netlink::Op& op) -> std::optional<Error> {
    if (op.route.dst.toString() == "10.244.3.0/24") {
      return Error::sys(EPERM, op.toString());
    }
    return std::nullopt;
  };
  results = kernel.apply(std::vector{route(K::kReplaceRoute, "10.244.2.0/24"),
                                     route(K::kReplaceRoute, "10.244.3.0/24")});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_FALSE(results[1].ok());  // the result is passed on as it was
  EXPECT_EQ(overlayErrors(), 1);

  ASSERT_TRUE(kernel.createBridge("br", 1450));
  EXPECT_FALSE(kernel.createBridge("br", 1450));  // EEXIST from the kernel: a refusal
  EXPECT_EQ(overlayErrors(), 2);
  EXPECT_FALSE(kernel.setUp(999));  // no such device
  EXPECT_EQ(overlayErrors(), 3);
  EXPECT_TRUE(kernel.links());
  EXPECT_EQ(overlayErrors(), 3);
}

}  // namespace
}  // namespace ovl
