// diagnostics/ethtool: the kernel range of the VXLAN checksum bug.
#include "diagnostics/ethtool.h"

#include <gtest/gtest.h>

namespace ovl::diag {
namespace {

TEST(Ethtool, VxlanChecksumBugKernels) {
  EXPECT_TRUE(kernelHasVxlanChecksumBug("5.4.0-150-generic"));
  EXPECT_TRUE(kernelHasVxlanChecksumBug("4.19.0-25-amd64"));
  EXPECT_TRUE(kernelHasVxlanChecksumBug("3.10.0-1160.el7.x86_64"));
  EXPECT_FALSE(kernelHasVxlanChecksumBug("5.7.0"));
  EXPECT_FALSE(kernelHasVxlanChecksumBug("6.1.0-18-amd64"));
  EXPECT_FALSE(kernelHasVxlanChecksumBug("garbage"));
}

}  // namespace
}  // namespace ovl::diag
