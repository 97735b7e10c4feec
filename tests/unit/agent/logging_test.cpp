// agent/logging.h's explainError: a refusal for want of a privilege says which one.
#include "agent/logging.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace ovl {
namespace {

TEST(ExplainError, KernelRefusalNamesCapNetAdmin) {
  const auto m = explainError(Error::sys(EPERM, "subscribe to nftables notifications"));
  EXPECT_EQ(m.rfind("subscribe to nftables notifications: Operation not permitted: permission "
                    "denied: ovl-agent needs CAP_NET_ADMIN",
                    0),
            0u)
      << m;
}

TEST(ExplainError, SysctlWriteNamesCapNetAdminNotTheFile) {
  const auto m =
      explainError(Error::sys(EACCES, "open /proc/sys/net/ipv4/conf/ovl.1/rp_filter for writing"));
  EXPECT_NE(m.find("ovl-agent needs CAP_NET_ADMIN"), std::string::npos) << m;
}

TEST(ExplainError, FileRefusalNamesTheUserOnce) {
  const auto m = explainError(Error::sys(EACCES, "open /run/ovl/agent.lock"));
  EXPECT_EQ(m.rfind("open /run/ovl/agent.lock: permission denied: ovl-agent runs as ", 0), 0u) << m;
  EXPECT_NE(m.find("(uid "), std::string::npos) << m;
  EXPECT_EQ(m.find("Permission denied"), std::string::npos) << "strerror repeated: " << m;
}

TEST(ExplainError, OtherErrorsAndExplainedOnesUnchanged) {
  EXPECT_EQ(explainError(Error::sys(ENOENT, "open /etc/ovl/cluster.yaml")),
            "open /etc/ovl/cluster.yaml: No such file or directory");
  const Error bind{EACCES, "healthAddress 127.0.0.1:80: ... needs CAP_NET_BIND_SERVICE ..."};
  EXPECT_EQ(explainError(bind), bind.message);
}

}  // namespace
}  // namespace ovl
