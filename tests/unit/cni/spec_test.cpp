// ovl-cni's protocol layer: environment, network config, result and error encoding.
#include <gtest/gtest.h>

#include "cni/spec.h"

namespace ovl::cni {
namespace {

using nlohmann::json;

Env addEnv() {
  return Env{"ADD", "c1", "/run/netns/x", "eth0", "", "/opt/cni/bin"};
}

TEST(CniValidation, ContainerIds) {
  EXPECT_EQ(checkContainerId("ovl-t1"), "");
  EXPECT_EQ(checkContainerId("a_b.c-D9"), "");
  EXPECT_NE(checkContainerId(""), "");
  EXPECT_NE(checkContainerId("../etc"), "");
  EXPECT_NE(checkContainerId("a/b"), "");
  EXPECT_NE(checkContainerId(".hidden"), "");
  EXPECT_NE(checkContainerId("a b"), "");
  EXPECT_NE(checkContainerId(std::string(257, 'a')), "");
  // Bounded so that "<id>@<ifname>.json" and its temporary name fit a file name (255 bytes).
  EXPECT_EQ(checkContainerId(std::string(kMaxContainerIdLength, 'a')), "");
  EXPECT_NE(checkContainerId(std::string(kMaxContainerIdLength + 1, 'a')), "");
  EXPECT_LT(checkContainerId(std::string(100000, 'a')).size(), 120u);
}

TEST(CniValidation, InterfaceNames) {
  EXPECT_EQ(checkIfname("eth0"), "");
  EXPECT_EQ(checkIfname("net1.100"), "");
  EXPECT_NE(checkIfname(""), "");
  EXPECT_NE(checkIfname("."), "");
  EXPECT_NE(checkIfname(".."), "");
  EXPECT_NE(checkIfname("a/b"), "");
  EXPECT_NE(checkIfname("a:b"), "");
  EXPECT_NE(checkIfname("a b"), "");
  EXPECT_NE(checkIfname("sixteen-chars-xx"), "");
}

TEST(CniArgs, Parses) {
  auto a = parseCniArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;OVL_SERVICE=default/web");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->at("OVL_SERVICE"), "default/web");
  EXPECT_EQ(a->size(), 3u);
  EXPECT_TRUE(parseCniArgs("")->empty());
  EXPECT_EQ(parseCniArgs("A=1;")->size(), 1u);
  EXPECT_FALSE(parseCniArgs("A=1;garbage"));
  EXPECT_FALSE(parseCniArgs("=x"));
}

TEST(CniCall, RequiredVariablesPerCommand) {
  Call c;
  EXPECT_FALSE(parseCall(addEnv(), &c));
  EXPECT_EQ(c.command, Command::kAdd);

  Env e = addEnv();
  e.netns = "";
  auto err = parseCall(e, &c);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kInvalidEnvironment);
  EXPECT_NE(err->msg.find("CNI_NETNS"), std::string::npos);

  e.command = "DEL";  // DEL without a namespace is fine (it may be gone)
  EXPECT_FALSE(parseCall(e, &c));

  e = addEnv();
  e.containerId = "../../etc/passwd";
  err = parseCall(e, &c);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kInvalidEnvironment);
  EXPECT_NE(err->msg.find("CNI_CONTAINERID"), std::string::npos);

  e = addEnv();
  e.ifname = "eth0/../x";
  err = parseCall(e, &c);
  ASSERT_TRUE(err);
  EXPECT_NE(err->msg.find("CNI_IFNAME"), std::string::npos);

  e = addEnv();
  e.command = "FROB";
  err = parseCall(e, &c);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kInvalidEnvironment);

  // VERSION, STATUS and GC are not per container.
  for (const char* cmd : {"VERSION", "STATUS", "GC"}) {
    EXPECT_FALSE(parseCall(Env{cmd, "", "", "", "", ""}, &c)) << cmd;
  }
}

TEST(CniNetConf, ParsesFieldsAndDefaults) {
  NetConf c;
  auto err = parseNetConf(R"({"cniVersion":"1.0.0","name":"ovl","type":"ovl-cni",
      "runtimeConfig":{"ovlService":"default/web"},"unknownField":{"x":1}})",
                          &c);
  ASSERT_FALSE(err) << err->msg;
  EXPECT_EQ(c.cniVersion, "1.0.0");
  EXPECT_EQ(c.nodeState, NetConf::kDefaultNodeState);
  EXPECT_EQ(c.dataDir, NetConf::kDefaultDataDir);
  EXPECT_EQ(c.service, "default/web");
  EXPECT_FALSE(c.prevResult);
  EXPECT_FALSE(c.validAttachments);

  err = parseNetConf(R"({"cniVersion":"1.1.0","name":"ovl","type":"ovl-cni",
      "nodeState":"/s/node.json","dataDir":"/d","prevResult":{"ips":[]},
      "cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]})",
                     &c);
  ASSERT_FALSE(err) << err->msg;
  EXPECT_EQ(c.nodeState, "/s/node.json");
  EXPECT_EQ(c.dataDir, "/d");
  ASSERT_TRUE(c.prevResult);
  ASSERT_TRUE(c.validAttachments);
  EXPECT_TRUE(c.validAttachments->contains({"a", "eth0"}));
}

TEST(CniNetConf, ErrorsUseTheReservedCodes) {
  struct Case {
    const char* text;
    Code code;
    const char* mentions;
  };
  for (const Case& k : {
           Case{"{not json", Code::kDecode, "JSON"},
           Case{R"([1,2])", Code::kDecode, "object"},
           Case{R"({"name":"ovl"})", Code::kInvalidConfig, "cniVersion"},
           Case{R"({"cniVersion":"0.4.0","name":"ovl"})", Code::kIncompatibleVersion, "0.4.0"},
           Case{R"({"cniVersion":"1.0.0"})", Code::kInvalidConfig, "name"},
           Case{R"({"cniVersion":"1.0.0","name":"a/b"})", Code::kInvalidConfig, "name"},
           Case{R"({"cniVersion":"1.0.0","name":"n","dataDir":"rel"})", Code::kInvalidConfig,
                "dataDir"},
           Case{R"({"cniVersion":"1.0.0","name":"n","nodeState":7})", Code::kInvalidConfig,
                "nodeState"},
           Case{R"({"cniVersion":"1.0.0","name":"n","runtimeConfig":{"ovlService":"web"}})",
                Code::kInvalidConfig, "ovlService"},
           Case{R"({"cniVersion":"1.0.0","name":"n","prevResult":[]})", Code::kInvalidConfig,
                "prevResult"},
           Case{R"({"cniVersion":"1.1.0","name":"n","cni.dev/valid-attachments":[{"x":1}]})",
                Code::kInvalidConfig, "valid-attachments"},
       }) {
    NetConf c;
    auto err = parseNetConf(k.text, &c);
    ASSERT_TRUE(err) << k.text;
    EXPECT_EQ(err->code, k.code) << k.text;
    EXPECT_NE(err->msg.find(k.mentions), std::string::npos) << err->msg;
  }
}

TEST(CniServiceLabel, RuntimeConfigThenArgsThenEnvironment) {
  NetConf conf;
  Call call;
  EXPECT_FALSE(serviceLabel(conf, call, std::nullopt));
  EXPECT_EQ(serviceLabel(conf, call, std::string("ns/env")), "ns/env");
  call.args["OVL_SERVICE"] = "ns/args";
  EXPECT_EQ(serviceLabel(conf, call, std::string("ns/env")), "ns/args");
  conf.service = "ns/rc";
  EXPECT_EQ(serviceLabel(conf, call, std::string("ns/env")), "ns/rc");
}

CniResult sampleResult() {
  CniResult r;
  r.interfaces.push_back(Interface{"ovl0123", "02:00:00:00:00:01", 1450, ""});
  r.interfaces.push_back(Interface{"eth0", "02:00:00:00:00:02", 1450, "/run/netns/c"});
  r.ips.push_back(IpConfig{*Ipv4Prefix::parse("10.244.1.2/24"), Ipv4::parse("10.244.1.1"), 1});
  r.routes.push_back(RouteConfig{*Ipv4Prefix::parse("0.0.0.0/0"), Ipv4::parse("10.244.1.1")});
  return r;
}

TEST(CniResultEncoding, MatchesTheSpec) {
  json j = encodeResult(sampleResult(), "1.1.0", std::nullopt);
  EXPECT_EQ(j, json::parse(R"({
    "cniVersion": "1.1.0",
    "interfaces": [{"name":"ovl0123","mac":"02:00:00:00:00:01","mtu":1450},
                   {"name":"eth0","mac":"02:00:00:00:00:02","mtu":1450,"sandbox":"/run/netns/c"}],
    "ips": [{"address":"10.244.1.2/24","gateway":"10.244.1.1","interface":1}],
    "routes": [{"dst":"0.0.0.0/0","gw":"10.244.1.1"}],
    "dns": {}})"));
  // 1.0.0 has no interface mtu.
  json old = encodeResult(sampleResult(), "1.0.0", std::nullopt);
  EXPECT_EQ(old["cniVersion"], "1.0.0");
  EXPECT_FALSE(old["interfaces"][0].contains("mtu"));
}

TEST(CniResultEncoding, AppendsToPrevResult) {
  json prev = json::parse(R"({"cniVersion":"1.0.0",
    "interfaces":[{"name":"dummy0","mac":"02:00:00:00:00:09"}],
    "ips":[{"address":"192.0.2.5/24","interface":0}],
    "dns":{"nameservers":["192.0.2.53"]}})");
  json j = encodeResult(sampleResult(), "1.0.0", prev);
  ASSERT_EQ(j["interfaces"].size(), 3u);
  EXPECT_EQ(j["interfaces"][0]["name"], "dummy0");
  ASSERT_EQ(j["ips"].size(), 2u);
  EXPECT_EQ(j["ips"][1]["interface"], 2);  // shifted past the previous plugin's interface
  EXPECT_EQ(j["dns"]["nameservers"][0], "192.0.2.53");
}

TEST(CniResultParsing, RoundTripsAndRejectsBadIndices) {
  ParsedResult p;
  ASSERT_FALSE(parseResult(encodeResult(sampleResult(), "1.1.0", std::nullopt), &p));
  ASSERT_EQ(p.interfaces.size(), 2u);
  EXPECT_EQ(p.interfaces[1].sandbox, "/run/netns/c");
  ASSERT_EQ(p.ips.size(), 1u);
  EXPECT_EQ(p.ips[0].address.toString(), "10.244.1.2/24");
  EXPECT_EQ(p.ips[0].interface, 1);
  ASSERT_EQ(p.routes.size(), 1u);

  auto err = parseResult(json::parse(R"({"interfaces":[],"ips":[{"address":"10.0.0.1/24",
      "interface":3}]})"),
                         &p);
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, Code::kInvalidConfig);
}

TEST(CniError, Encoding) {
  CniError e{Code::kTryAgainLater, "busy", "the store is locked"};
  EXPECT_EQ(json::parse(e.toJson("1.1.0")),
            json::parse(R"({"cniVersion":"1.1.0","code":11,"msg":"busy",
                            "details":"the store is locked"})"));
}

TEST(CniCall, LongBadValuesAreQuotedShort) {
  Call c;
  Env e = addEnv();
  e.args = "A=1;" + std::string(100000, 'x');
  auto err = parseCall(e, &c);
  ASSERT_TRUE(err);
  EXPECT_NE(err->msg.find("(100004 bytes)"), std::string::npos) << err->msg.substr(0, 200);
  EXPECT_LT(err->msg.size(), 200u);
  e = addEnv();
  e.command = std::string(100000, 'X');
  err = parseCall(e, &c);
  ASSERT_TRUE(err);
  EXPECT_LT(err->msg.size(), 200u);
}

TEST(CniSpec, ErrorQuotingBytesThatAreNotUtf8IsStillWritten) {
  // Found by fuzzing: a message quoting the caller's bytes made dump() throw, so the plugin died
  // without writing its error.
  CniError e{Code::kDecode, std::string("bad byte \xff here"), "and \xfe"};
  const json j = json::parse(e.toJson("1.1.0"));
  EXPECT_EQ(j["msg"], "bad byte \xef\xbf\xbd here");
  EXPECT_EQ(j["details"], "and \xef\xbf\xbd");
}

}  // namespace
}  // namespace ovl::cni
