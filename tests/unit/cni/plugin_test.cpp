// ovl-cni's answers that need no kernel (VERSION, bad environment, bad config); the commands
// against a kernel are in tests/netns/cni/plugin_test.cpp.
#include "cni/plugin.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <thread>

namespace ovl::cni {
namespace {

using nlohmann::json;

Env addEnv() {
  return Env{"ADD", "c1", "/run/netns/x", "eth0", "", "/opt/cni/bin"};
}

TEST(CniPlugin, VersionAnswersWithoutConfig) {
  Outcome o = runPlugin(Invocation{Env{"VERSION", "", "", "", "", ""}, R"({"cniVersion":"1.0.0"})",
                                   std::nullopt, std::nullopt});
  EXPECT_EQ(o.exitCode, 0);
  json j = json::parse(o.stdoutText);
  EXPECT_EQ(j["cniVersion"], "1.0.0");
  EXPECT_EQ(j["supportedVersions"], json::parse(R"(["1.0.0","1.1.0"])"));
}

TEST(CniPlugin, ErrorsGoToStdoutAsJson) {
  Outcome o = runPlugin(Invocation{Env{"ADD", "c1", "", "eth0", "", ""},
                                   R"({"cniVersion":"1.0.0","name":"ovl","type":"ovl-cni"})",
                                   std::nullopt, std::nullopt});
  EXPECT_EQ(o.exitCode, 1);
  json j = json::parse(o.stdoutText);
  EXPECT_EQ(j["code"], 4);
  EXPECT_EQ(j["cniVersion"], "1.0.0");

  o = runPlugin(
      Invocation{addEnv(), R"({"cniVersion":"9.9.9","name":"ovl"})", std::nullopt, std::nullopt});
  EXPECT_EQ(json::parse(o.stdoutText)["code"], 1);

  // A bad service label in CNI_ARGS is refused before anything is touched.
  Env e = addEnv();
  e.args = "OVL_SERVICE=Not_A_Label";
  o = runPlugin(Invocation{e, R"({"cniVersion":"1.0.0","name":"ovl","type":"ovl-cni",
      "nodeState":"/nonexistent/node.json"})",
                           std::nullopt, std::nullopt});
  EXPECT_EQ(json::parse(o.stdoutText)["code"], 4);

  // No node.json: the agent has not converged yet; try again later.
  o = runPlugin(Invocation{addEnv(), R"({"cniVersion":"1.0.0","name":"ovl","type":"ovl-cni",
      "nodeState":"/nonexistent/node.json"})",
                           std::nullopt, std::nullopt});
  EXPECT_EQ(json::parse(o.stdoutText)["code"], 11);
  o = runPlugin(Invocation{Env{"STATUS", "", "", "", "", ""},
                           R"({"cniVersion":"1.1.0","name":"ovl","type":"ovl-cni",
      "nodeState":"/nonexistent/node.json"})",
                           std::nullopt, std::nullopt});
  EXPECT_EQ(json::parse(o.stdoutText)["code"], 50);
}

std::string deepArrays(size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

// 100,000 levels in each field a runtime fills in: a CNI error naming the field, in the
// configuration's version, never a stack overflow (ASan would report one in this test).
TEST(CniPlugin, DeepJsonInEachRuntimeFieldIsAnErrorNamingIt) {
  const std::string head = R"({"cniVersion":"1.0.0","name":"ovl","type":"ovl-cni",)";
  std::string deepObject;
  for (int i = 0; i < 100000; ++i) {
    deepObject += R"({"a":)";
  }
  deepObject += "1" + std::string(100000, '}');
  for (const auto& [field, value] :
       {std::pair<std::string, std::string>{"prevResult",
                                            R"({"interfaces":)" + deepArrays(100000) + "}"},
        {"runtimeConfig", deepObject},
        {"cni.dev/valid-attachments", deepArrays(100000)}}) {
    const std::string text = head + "\"" + field + "\":" + value + "}";
    for (const char* command : {"ADD", "DEL", "CHECK", "GC"}) {
      Env e = addEnv();
      e.command = command;
      Outcome o = runPlugin(Invocation{e, text, std::nullopt, std::nullopt});
      EXPECT_EQ(o.exitCode, 1) << field << " " << command;
      json j = json::parse(o.stdoutText, nullptr, false);
      ASSERT_TRUE(j.is_object()) << o.stdoutText;
      EXPECT_EQ(j["code"], 7) << o.stdoutText;
      EXPECT_EQ(j["cniVersion"], "1.0.0");
      EXPECT_NE(j["msg"].get<std::string>().find(field + " nests"), std::string::npos) << j["msg"];
      EXPECT_LT(o.stdoutText.size(), 400u);
    }
  }
  // 64 levels are fine (the limit), and a wide value is quoted by its first bytes only.
  Outcome ok = runPlugin(Invocation{
      addEnv(), head + R"("runtimeConfig":{"x":)" + deepArrays(62) + R"(},"nodeState":"rel"})",
      std::nullopt, std::nullopt});
  EXPECT_NE(json::parse(ok.stdoutText)["msg"].get<std::string>().find("nodeState"),
            std::string::npos);
  Outcome wide = runPlugin(
      Invocation{addEnv(), head + R"("prevResult":[")" + std::string(500000, 'x') + R"("]})",
                 std::nullopt, std::nullopt});
  EXPECT_EQ(json::parse(wide.stdoutText)["code"], 7);
  EXPECT_LT(wide.stdoutText.size(), 400u) << wide.stdoutText.substr(0, 400);
}

TEST(CniPlugin, StdinIsReadUpToTheLimitOnly) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  // The writer gets EPIPE rather than the signal that would end the test binary.
  struct IgnoreSigpipe {
    void (*previous)(int) = std::signal(SIGPIPE, SIG_IGN);
    ~IgnoreSigpipe() { std::signal(SIGPIPE, previous); }
  } ignore;
  // 3 MiB offered, the reader must stop after 1 MiB (+ one read) and leave the rest.
  std::thread writer([fd = p[1]] {
    const std::string chunk(65536, ' ');
    for (int i = 0; i < 48; ++i) {
      if (::write(fd, chunk.data(), chunk.size()) < 0) {
        break;  // EPIPE once the reader is gone
      }
    }
    ::close(fd);
  });
  bool tooLarge = false;
  auto text = readStdin(p[0], &tooLarge);
  ::close(p[0]);
  writer.join();
  ASSERT_TRUE(text);
  EXPECT_TRUE(tooLarge);
  EXPECT_EQ(text->size(), kMaxStdinBytes);

  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "{}", 2), 2);
  ::close(p[1]);
  text = readStdin(p[0], &tooLarge);
  ::close(p[0]);
  ASSERT_TRUE(text);
  EXPECT_FALSE(tooLarge);
  EXPECT_EQ(*text, "{}");

  // What main() makes of it: the error, before the environment or anything else.
  Invocation in{addEnv(), "", std::nullopt,
                CniError{Code::kInvalidConfig, "network config on stdin is larger", ""}};
  Outcome o = runPlugin(in);
  EXPECT_EQ(o.exitCode, 1);
  EXPECT_EQ(json::parse(o.stdoutText)["code"], 7);
}

TEST(CniPlugin, RefusesItsOwnNetworkNamespace) {
  const std::string conf = R"({"cniVersion":"1.1.0","name":"ovl","type":"ovl-cni",
      "nodeState":"/nonexistent/node.json","dataDir":"/nonexistent/data"})";
  for (const std::string& path :
       {std::string("/proc/self/ns/net"), "/proc/" + std::to_string(::getpid()) + "/ns/net",
        std::string("/proc/thread-self/ns/net")}) {
    for (const char* command : {"ADD", "CHECK", "DEL"}) {
      Env e = addEnv();
      e.command = command;
      e.netns = path;
      Outcome o = runPlugin(Invocation{e, conf, std::nullopt, std::nullopt});
      EXPECT_EQ(o.exitCode, 1);
      json j = json::parse(o.stdoutText);
      EXPECT_EQ(j["code"], 4) << o.stdoutText;
      EXPECT_NE(j["msg"].get<std::string>().find("own network namespace"), std::string::npos)
          << o.stdoutText;
      EXPECT_NE(j["msg"].get<std::string>().find(path), std::string::npos) << o.stdoutText;
    }
  }
}

}  // namespace
}  // namespace ovl::cni
