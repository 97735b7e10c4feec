// ovl-cni's answers that need no kernel (VERSION, bad environment, bad config); the commands
// against a kernel are in tests/netns/cni/plugin_test.cpp.
#include "cni/plugin.h"

#include <gtest/gtest.h>

namespace ovl::cni {
namespace {

using nlohmann::json;

Env addEnv() {
  return Env{"ADD", "c1", "/run/netns/x", "eth0", "", "/opt/cni/bin"};
}

TEST(CniPlugin, VersionAnswersWithoutConfig) {
  Outcome o = runPlugin(
      Invocation{Env{"VERSION", "", "", "", "", ""}, R"({"cniVersion":"1.0.0"})", std::nullopt});
  EXPECT_EQ(o.exitCode, 0);
  json j = json::parse(o.stdoutText);
  EXPECT_EQ(j["cniVersion"], "1.0.0");
  EXPECT_EQ(j["supportedVersions"], json::parse(R"(["1.0.0","1.1.0"])"));
}

TEST(CniPlugin, ErrorsGoToStdoutAsJson) {
  Outcome o = runPlugin(Invocation{Env{"ADD", "c1", "", "eth0", "", ""},
                                   R"({"cniVersion":"1.0.0","name":"ovl","type":"ovl-cni"})",
                                   std::nullopt});
  EXPECT_EQ(o.exitCode, 1);
  json j = json::parse(o.stdoutText);
  EXPECT_EQ(j["code"], 4);
  EXPECT_EQ(j["cniVersion"], "1.0.0");

  o = runPlugin(Invocation{addEnv(), R"({"cniVersion":"9.9.9","name":"ovl"})", std::nullopt});
  EXPECT_EQ(json::parse(o.stdoutText)["code"], 1);

  // A bad service label in CNI_ARGS is refused before anything is touched.
  Env e = addEnv();
  e.args = "OVL_SERVICE=Not_A_Label";
  o = runPlugin(Invocation{e, R"({"cniVersion":"1.0.0","name":"ovl","type":"ovl-cni",
      "nodeState":"/nonexistent/node.json"})",
                           std::nullopt});
  EXPECT_EQ(json::parse(o.stdoutText)["code"], 4);

  // No node.json: the agent has not converged yet; try again later.
  o = runPlugin(Invocation{addEnv(), R"({"cniVersion":"1.0.0","name":"ovl","type":"ovl-cni",
      "nodeState":"/nonexistent/node.json"})",
                           std::nullopt});
  EXPECT_EQ(json::parse(o.stdoutText)["code"], 11);
  o = runPlugin(Invocation{Env{"STATUS", "", "", "", "", ""},
                           R"({"cniVersion":"1.1.0","name":"ovl","type":"ovl-cni",
      "nodeState":"/nonexistent/node.json"})",
                           std::nullopt});
  EXPECT_EQ(json::parse(o.stdoutText)["code"], 50);
}

}  // namespace
}  // namespace ovl::cni
