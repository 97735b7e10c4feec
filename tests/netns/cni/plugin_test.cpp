// ovl-cni driven as a runtime drives it (CNI_* environment + network config on stdin, the
// binary itself) against real namespaces: the test's namespace is the node (with a pod bridge
// as the agent makes it), containers are namespaces of their own. iproute2 and bridge are the
// witnesses; Debian's portmap plugin is chained after ovl-cni.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/netns/netns_fixture.h"

namespace ovl::test {
namespace {

using nlohmann::json;

constexpr const char* kPortmap = "/usr/lib/cni/portmap";

struct PluginRun {
  std::string out;
  int status = -1;
  json j() const { return out.empty() ? json() : json::parse(out, nullptr, false); }
};

class CniPluginTest : public NetnsTest {
 protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    dir_ = "/tmp/" + ns() + "-cni";
    std::filesystem::create_directories(dir_);
    sh("ip -n " + ns() + " link add ovlbr0 type bridge");
    sh("ip -n " + ns() + " addr add 10.244.1.1/24 dev ovlbr0");
    sh("ip -n " + ns() + " link set ovlbr0 up");
    writeNodeState();
  }
  void TearDown() override {
    for (const auto& c : containers_) {
      shStatus("ip netns del " + c);
    }
    if (!dir_.empty()) {
      std::filesystem::remove_all(dir_);
    }
    NetnsTest::TearDown();
  }

  void writeNodeState() {
    std::ofstream(dir_ + "/node.json")
        << json{{"node", "node1"},         {"subnet", "10.244.1.0/24"},
                {"gateway", "10.244.1.1"}, {"mtu", 1450},
                {"bridge", "ovlbr0"},      {"endpointsDir", dir_ + "/endpoints"}}
               .dump();
  }

  json conf(const std::string& version = "1.1.0") const {
    return json{{"cniVersion", version},
                {"name", "ovlnet"},
                {"type", "ovl-cni"},
                {"nodeState", dir_ + "/node.json"},
                {"dataDir", dir_ + "/data"}};
  }

  // A container: a namespace of its own. Returns its path (CNI_NETNS).
  std::string container(int i) {
    const std::string name = ns() + "-c" + std::to_string(i);
    sh("ip netns add " + name);
    containers_.push_back(name);
    return "/run/netns/" + name;
  }
  std::string containerNs(int i) const { return ns() + "-c" + std::to_string(i); }

  // Runs `plugin` with the CNI environment and `config` on stdin, in the node's namespace.
  PluginRun cni(const std::string& plugin, const std::string& command, const std::string& id,
                const std::string& netns, const json& config, const std::string& args = "",
                const std::string& ifname = "eth0") {
    const std::string in = dir_ + "/stdin-" + std::to_string(++calls_) + ".json";
    std::ofstream(in) << config.dump();
    const std::string cmd = "CNI_COMMAND=" + command + " CNI_CONTAINERID='" + id + "' CNI_NETNS='" +
                            netns + "' CNI_IFNAME='" + ifname + "' CNI_ARGS='" + args +
                            "' CNI_PATH=/usr/lib/cni " + plugin + " <" + in + " 2>&1";
    PluginRun r;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
      r.out.append(buf, n);
    }
    int raw = pclose(p);
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return r;
  }
  PluginRun ovl(const std::string& command, const std::string& id, const std::string& netns,
                const json& config, const std::string& args = "",
                const std::string& ifname = "eth0") {
    return cni(OVL_CNI_BIN, command, id, netns, config, args, ifname);
  }

  // Runs ovl-cni under bash with `feed` piped into its stdin (a shell command), in the node's
  // namespace (CNI_NETNS in double quotes: "/proc/$$/ns/net" is the shell's own); *feedStatus gets
  // the feeding command's exit status (141: it was cut off, SIGPIPE).
  PluginRun ovlFed(const std::string& command, const std::string& id, const std::string& netns,
                   const std::string& feed, const std::string& ifname = "eth0",
                   int* feedStatus = nullptr) {
    const std::string status = dir_ + "/feed-status";
    const std::string script =
        feed + " | CNI_COMMAND=" + command + " CNI_CONTAINERID='" + id + "' CNI_NETNS=\"" + netns +
        "\" CNI_IFNAME='" + ifname + "' CNI_PATH=/usr/lib/cni " + OVL_CNI_BIN +
        "; s=(\"${PIPESTATUS[@]}\"); echo ${s[0]} >" + status + "; exit ${s[1]}";
    std::ofstream(dir_ + "/fed.sh") << script;
    PluginRun r;
    FILE* p = popen(("bash " + dir_ + "/fed.sh 2>&1").c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
      r.out.append(buf, n);
    }
    int raw = pclose(p);
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    if (feedStatus != nullptr) {
      std::ifstream(status) >> *feedStatus;
    }
    return r;
  }

  json allocations() {
    std::ifstream in(dir_ + "/data/ovlnet/allocations.json");
    if (!in) {
      return json::object();
    }
    return json::parse(in)["allocations"];
  }

  std::string dir_;
  std::vector<std::string> containers_;
  int calls_ = 0;
};

TEST_F(CniPluginTest, AddCheckDel) {
  const std::string netns = container(1);
  PluginRun add = ovl("ADD", "ctr-1", netns, conf(), "IgnoreUnknown=1;OVL_SERVICE=default/web");
  ASSERT_EQ(add.status, 0) << add.out;
  json r = add.j();
  EXPECT_EQ(r["cniVersion"], "1.1.0");
  ASSERT_EQ(r["interfaces"].size(), 2u) << r.dump();
  EXPECT_EQ(r["interfaces"][1]["name"], "eth0");
  EXPECT_EQ(r["interfaces"][1]["sandbox"], netns);
  EXPECT_EQ(r["interfaces"][1]["mtu"], 1450);
  ASSERT_EQ(r["ips"].size(), 1u);
  EXPECT_EQ(r["ips"][0]["address"], "10.244.1.2/24");
  EXPECT_EQ(r["ips"][0]["gateway"], "10.244.1.1");
  EXPECT_EQ(r["ips"][0]["interface"], 1);
  const std::string hostIf = r["interfaces"][0]["name"];

  // Witnesses: the container's address, MTU, default route; the host end on the bridge with
  // hairpin on.
  const std::string c = containerNs(1);
  EXPECT_NE(sh("ip -n " + c + " -o addr show dev eth0").find("inet 10.244.1.2/24"),
            std::string::npos);
  EXPECT_NE(sh("ip -n " + c + " -o link show dev eth0").find("mtu 1450"), std::string::npos);
  EXPECT_NE(sh("ip -n " + c + " route show default").find("default via 10.244.1.1 dev eth0"),
            std::string::npos);
  const std::string port = sh("bridge -n " + ns() + " -d link show dev " + hostIf);
  EXPECT_NE(port.find("master ovlbr0"), std::string::npos) << port;
  EXPECT_NE(port.find("hairpin on"), std::string::npos) << port;
  // Reachable: a connection to a closed port is refused by the container's kernel.
  EXPECT_EQ(connectTo("10.244.1.2", 9), ECONNREFUSED);
  // Registered as an endpoint of default/web.
  json reg = json::parse(std::ifstream(dir_ + "/endpoints/ctr-1@eth0.json"));
  EXPECT_EQ(reg["service"], "default/web");
  EXPECT_EQ(reg["ip"], "10.244.1.2");
  EXPECT_EQ(reg["node"], "node1");

  json withPrev = conf();
  withPrev["prevResult"] = r;
  PluginRun check = ovl("CHECK", "ctr-1", netns, withPrev, "OVL_SERVICE=default/web");
  EXPECT_EQ(check.status, 0) << check.out;

  // CHECK notices what someone changed.
  sh("ip -n " + ns() + " link set dev " + hostIf + " type bridge_slave hairpin off");
  check = ovl("CHECK", "ctr-1", netns, withPrev, "OVL_SERVICE=default/web");
  EXPECT_EQ(check.status, 1);
  EXPECT_EQ(check.j()["code"], 102) << check.out;
  EXPECT_NE(check.out.find("hairpin"), std::string::npos) << check.out;
  sh("ip -n " + ns() + " link set dev " + hostIf + " type bridge_slave hairpin on");
  sh("ip -n " + c + " route del default");
  check = ovl("CHECK", "ctr-1", netns, withPrev, "OVL_SERVICE=default/web");
  EXPECT_EQ(check.j()["code"], 102) << check.out;

  PluginRun del = ovl("DEL", "ctr-1", netns, withPrev);
  EXPECT_EQ(del.status, 0) << del.out;
  EXPECT_EQ(del.out, "");
  EXPECT_EQ(shStatus("ip -n " + c + " link show dev eth0"), 1);
  EXPECT_EQ(shStatus("ip -n " + ns() + " link show dev " + hostIf), 1);
  EXPECT_TRUE(allocations().empty()) << allocations().dump();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/endpoints/ctr-1@eth0.json"));
  // DEL is idempotent: again, and with the namespace gone, and with no namespace at all.
  EXPECT_EQ(ovl("DEL", "ctr-1", netns, conf()).status, 0);
  sh("ip netns del " + c);
  EXPECT_EQ(ovl("DEL", "ctr-1", netns, conf()).status, 0);
  EXPECT_EQ(ovl("DEL", "ctr-1", "", conf()).status, 0);
}

TEST_F(CniPluginTest, AcceptsOneZeroZeroAndAnswersInIt) {
  PluginRun add = ovl("ADD", "ctr-1", container(1), conf("1.0.0"));
  ASSERT_EQ(add.status, 0) << add.out;
  EXPECT_EQ(add.j()["cniVersion"], "1.0.0");
  EXPECT_FALSE(add.j()["interfaces"][1].contains("mtu"));  // a 1.1.0 field
}

TEST_F(CniPluginTest, ErrorsAreReportedPerSpecAndLeaveNothingBehind) {
  const std::string netns = container(1);
  PluginRun r = ovl("ADD", "../../etc", netns, conf());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.j()["code"], 4) << r.out;
  r = ovl("ADD", "ctr-1", netns, conf(), "", "bad/name");
  EXPECT_EQ(r.j()["code"], 4) << r.out;
  r = ovl("ADD", "ctr-1", netns, conf("0.3.1"));
  EXPECT_EQ(r.j()["code"], 1) << r.out;
  r = ovl("ADD", "ctr-1", "/run/netns/" + ns() + "-missing", conf());
  EXPECT_EQ(r.j()["code"], 3) << r.out;
  EXPECT_TRUE(allocations().empty()) << "a failed ADD keeps no address: " << allocations().dump();

  // No bridge yet (the agent has not made it): try again later, nothing left behind.
  sh("ip -n " + ns() + " link del ovlbr0");
  r = ovl("ADD", "ctr-1", netns, conf());
  EXPECT_EQ(r.j()["code"], 11) << r.out;
  EXPECT_TRUE(allocations().empty()) << allocations().dump();
  EXPECT_EQ(sh("ip -n " + containerNs(1) + " -o link show | grep -c eth0 || true"), "0\n");

  // STATUS: available while node.json is there, 50 when not.
  json statusConf = conf();
  EXPECT_EQ(ovl("STATUS", "", "", statusConf).status, 0);
  std::filesystem::remove(dir_ + "/node.json");
  r = ovl("STATUS", "", "", statusConf);
  EXPECT_EQ(r.j()["code"], 50) << r.out;
}

TEST_F(CniPluginTest, TwentyParallelAddsGetDistinctAddressesAndGcFreesTheInvalid) {
  constexpr int kContainers = 20;
  std::string script;
  for (int i = 1; i <= kContainers; ++i) {
    container(i);
  }
  const std::string in = dir_ + "/parallel.json";
  std::ofstream(in) << conf().dump();
  for (int i = 1; i <= kContainers; ++i) {
    script += "CNI_COMMAND=ADD CNI_CONTAINERID=ctr-" + std::to_string(i) +
              " CNI_NETNS=/run/netns/" + containerNs(i) + " CNI_IFNAME=eth0 CNI_PATH=/x " +
              OVL_CNI_BIN + " <" + in + " >" + dir_ + "/out-" + std::to_string(i) + " & ";
  }
  script += "wait";
  sh(script);
  std::set<std::string> ips;
  for (int i = 1; i <= kContainers; ++i) {
    std::ifstream f(dir_ + "/out-" + std::to_string(i));
    json r = json::parse(f, nullptr, false);
    ASSERT_TRUE(r.is_object() && r.contains("ips")) << "container " << i << ": " << r.dump();
    const std::string addr = r["ips"][0]["address"];
    EXPECT_TRUE(ips.insert(addr).second) << addr << " handed out twice";
    // The kernel agrees with the result.
    EXPECT_NE(sh("ip -n " + containerNs(i) + " -o addr show dev eth0").find("inet " + addr),
              std::string::npos);
  }
  EXPECT_EQ(ips.size(), static_cast<size_t>(kContainers));
  EXPECT_EQ(allocations().size(), static_cast<size_t>(kContainers));

  // GC: the runtime still knows the odd ones only.
  json gc = conf();
  gc["cni.dev/valid-attachments"] = json::array();
  for (int i = 1; i <= kContainers; i += 2) {
    gc["cni.dev/valid-attachments"].push_back(
        {{"containerID", "ctr-" + std::to_string(i)}, {"ifname", "eth0"}});
  }
  PluginRun r = ovl("GC", "", "", gc);
  ASSERT_EQ(r.status, 0) << r.out;
  json left = allocations();
  EXPECT_EQ(left.size(), static_cast<size_t>(kContainers / 2)) << left.dump();
  for (const auto& [ip, holder] : left.items()) {
    const std::string id = holder["containerID"];
    EXPECT_EQ(std::stoi(id.substr(4)) % 2, 1) << id << " should have been collected";
  }
  // The host ends of the collected attachments are gone, the valid ones stay.
  const std::string ports = sh("ip -n " + ns() + " -o link show master ovlbr0 | wc -l");
  EXPECT_EQ(std::stoi(ports), kContainers / 2);

  // A new ADD never gets an address that is still held.
  PluginRun again = ovl("ADD", "ctr-new", container(99), conf());
  ASSERT_EQ(again.status, 0) << again.out;
  const std::string addr = again.j()["ips"][0]["address"];
  const std::string bare = addr.substr(0, addr.find('/'));
  EXPECT_FALSE(left.contains(bare)) << bare << " is held";
}

TEST_F(CniPluginTest, ChainedWithPortmapWhichHonoursPrevResult) {
  ASSERT_TRUE(std::filesystem::exists(kPortmap))
      << kPortmap << " is missing: scripts/install-deps.sh installs containernetworking-plugins";
  const std::string netns = container(1);
  const std::string version = "1.0.0";  // Debian 12's portmap speaks up to 1.0.0
  PluginRun add = ovl("ADD", "ctr-1", netns, conf(version));
  ASSERT_EQ(add.status, 0) << add.out;
  json pm = {
      {"cniVersion", version},
      {"name", "ovlnet"},
      {"type", "portmap"},
      {"capabilities", {{"portMappings", true}}},
      {"runtimeConfig",
       {{"portMappings",
         json::array({{{"hostPort", 18080}, {"containerPort", 8080}, {"protocol", "tcp"}}})}}},
      {"prevResult", add.j()}};
  PluginRun chained = cni(kPortmap, "ADD", "ctr-1", netns, pm);
  ASSERT_EQ(chained.status, 0) << chained.out;
  // portmap passes ovl-cni's result on unchanged (the runtime's final result).
  EXPECT_EQ(chained.j()["ips"], add.j()["ips"]);
  EXPECT_EQ(chained.j()["interfaces"], add.j()["interfaces"]);
  // ... and found the container's address in it.
  const std::string nat = sh("ip netns exec " + ns() + " iptables-save -t nat");
  EXPECT_NE(nat.find("10.244.1.2:8080"), std::string::npos) << nat;

  // Traffic: a server in the container answers on the node's host port.
  const std::string c = containerNs(1);
  sh("ip netns exec " + c +
     " " OVL_TCPPROBE_BIN
     " serve --port 8080 --hello ctr-1 "
     ">/dev/null 2>&1 & echo $! >" +
     dir_ + "/server.pid");
  std::string out;
  for (int i = 0; i < 50; ++i) {
    if (shStatus(std::string(OVL_TCPPROBE_BIN) + " connect 10.244.1.2 8080") == 0) {
      break;
    }
    usleep(100'000);
  }
  out = sh(std::string(OVL_TCPPROBE_BIN) + " connect 10.244.1.1 18080 --expect-hello");
  EXPECT_EQ(out, "ctr-1\n");
  sh("kill $(cat " + dir_ + "/server.pid)");

  // DEL in reverse order, each with the final result as prevResult.
  json delPm = pm;
  delPm["prevResult"] = chained.j();
  EXPECT_EQ(cni(kPortmap, "DEL", "ctr-1", netns, delPm).status, 0);
  json delOvl = conf(version);
  delOvl["prevResult"] = chained.j();
  EXPECT_EQ(ovl("DEL", "ctr-1", netns, delOvl).status, 0);
  EXPECT_EQ(sh("ip netns exec " + ns() + " iptables-save -t nat").find("10.244.1.2:8080"),
            std::string::npos);
  EXPECT_TRUE(allocations().empty());
}

// Issue 13: the real binary with each hostile input. Every one is a CNI error on stdout with exit
// status 1, and the container attached first keeps its interface, address and registration.
class CniHostileTest : public CniPluginTest {
 protected:
  // The first container: ctr-1/eth0 in c1, an endpoint of default/web.
  void addFirst() {
    first_ = container(1);
    PluginRun add = ovl("ADD", "ctr-1", first_, conf(), "OVL_SERVICE=default/web");
    ASSERT_EQ(add.status, 0) << add.out;
    ASSERT_EQ(add.j()["ips"][0]["address"], "10.244.1.2/24");
    link_ = sh("ip -n " + containerNs(1) + " -br link show dev eth0");
    registration_ = readText(dir_ + "/endpoints/ctr-1@eth0.json");
    allocations_ = allocations();
  }
  // The first container as addFirst left it (the same interface: index, peer, MAC, state), and
  // reachable.
  void expectFirstUntouched(const std::string& after) {
    SCOPED_TRACE(after);
    EXPECT_EQ(sh("ip -n " + containerNs(1) + " -br link show dev eth0"), link_);
    EXPECT_NE(sh("ip -n " + containerNs(1) + " -o addr show dev eth0").find("inet 10.244.1.2/24"),
              std::string::npos);
    EXPECT_EQ(readText(dir_ + "/endpoints/ctr-1@eth0.json"), registration_);
    EXPECT_EQ(allocations(), allocations_);
    EXPECT_EQ(connectTo("10.244.1.2", 9), ECONNREFUSED);  // the container's kernel answers
    EXPECT_EQ(shStatus("ip -n " + ns() + " link show dev ovlbr0"), 0);
  }
  static std::string readText(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void expectError(const PluginRun& r, int code, const std::string& inMsg) {
    EXPECT_EQ(r.status, 1) << r.out;
    json j = r.j();
    ASSERT_TRUE(j.is_object()) << r.out.substr(0, 300);
    EXPECT_EQ(j["code"], code) << r.out;
    EXPECT_NE(j.value("msg", "").find(inMsg), std::string::npos) << r.out;
  }

  std::string first_;
  std::string link_;
  std::string registration_;
  json allocations_;
};

TEST_F(CniHostileTest, DeepJsonAndHugeStdin) {
  ASSERT_NO_FATAL_FAILURE(addFirst());
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string deepObject;
  for (int i = 0; i < 100000; ++i) {
    deepObject += R"({"a":)";
  }
  deepObject += "1" + std::string(100000, '}');
  const std::string head = conf().dump().substr(0, conf().dump().size() - 1) + ",";
  const std::string second = container(2);
  for (const auto& [field, value] : {std::pair<std::string, std::string>{"prevResult", deep},
                                     {"runtimeConfig", deepObject},
                                     {"cni.dev/valid-attachments", deep}}) {
    std::ofstream(dir_ + "/deep.json") << head << '"' << field << "\":" << value << "}";
    for (const char* command : {"ADD", "GC"}) {
      PluginRun r = ovlFed(command, "ctr-2", second, "cat " + dir_ + "/deep.json");
      expectError(r, 7, field + " nests arrays and objects deeper than 64");
    }
  }
  int feed = 0;
  const auto start = std::chrono::steady_clock::now();
  PluginRun big = ovlFed("ADD", "ctr-2", first_, "head -c 100000000 /dev/zero", "eth0", &feed);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  expectError(big, 7, "larger than 1048576 bytes");
  EXPECT_EQ(feed, 141) << "the writer was not cut off (SIGPIPE): ovl-cni read all 100 MB";
  EXPECT_LT(seconds, 5.0);
  expectFirstUntouched("deep JSON and 100 MB on stdin");
}

TEST_F(CniHostileTest, OwnNamespaceIsRefusedInEveryForm) {
  ASSERT_NO_FATAL_FAILURE(addFirst());
  // A bind mount of the node's namespace, as `ip netns attach` makes it.
  const std::string bound = ns() + "-self";
  sh("ip netns attach " + bound + " $$");
  containers_.push_back(bound);
  for (const std::string& netns :
       {std::string("/proc/self/ns/net"), std::string("/proc/$$/ns/net"), "/run/netns/" + bound}) {
    const std::string feed = "echo '" + conf().dump() + "'";
    expectError(ovlFed("ADD", "ctr-2", netns, feed), 4, "own network namespace");
    // DEL would have deleted the node's own interface of that name.
    expectError(ovlFed("DEL", "ctr-2", netns, feed, "ovlbr0"), 4, "own network namespace");
    expectError(ovlFed("CHECK", "ctr-2", netns, feed), 4, "own network namespace");
    EXPECT_EQ(shStatus("ip -n " + ns() + " link show dev eth0"), 1) << netns;
  }
  expectFirstUntouched("own namespace");
}

TEST_F(CniHostileTest, SecondAddIntoAnotherNamespaceIsRefused) {
  ASSERT_NO_FATAL_FAILURE(addFirst());
  const std::string second = container(2);
  PluginRun r = ovl("ADD", "ctr-1", second, conf(), "OVL_SERVICE=default/web");
  expectError(r, 103, "already attached with 10.244.1.2");
  EXPECT_NE(r.out.find("DEL it first"), std::string::npos) << r.out;
  EXPECT_EQ(shStatus("ip -n " + containerNs(2) + " link show dev eth0"), 1);
  expectFirstUntouched("second ADD");
  // The runtime cleans up after the failed ADD: nothing of the first attachment goes.
  PluginRun del = ovl("DEL", "ctr-1", second, conf());
  EXPECT_EQ(del.status, 0) << del.out;
  expectFirstUntouched("DEL for the refused namespace");
  // A repeated ADD into the first namespace answers the same and changes nothing.
  PluginRun again = ovl("ADD", "ctr-1", first_, conf(), "OVL_SERVICE=default/web");
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_EQ(again.j()["ips"][0]["address"], "10.244.1.2/24");
  EXPECT_EQ(again.j()["interfaces"][1]["sandbox"], first_);
  expectFirstUntouched("repeated ADD");
  // Once the first container is gone, the ID may be attached elsewhere.
  ASSERT_EQ(ovl("DEL", "ctr-1", first_, conf()).status, 0);
  PluginRun moved = ovl("ADD", "ctr-1", second, conf());
  ASSERT_EQ(moved.status, 0) << moved.out;
}

TEST_F(CniHostileTest, RegistrationNamesDoNotCollide) {
  ASSERT_NO_FATAL_FAILURE(addFirst());
  // ("x.y", "z") and ("x", "y.z") were both "x.y.z.json": one DEL removed the other's.
  ASSERT_EQ(ovl("ADD", "x.y", container(3), conf(), "OVL_SERVICE=default/a", "z").status, 0);
  ASSERT_EQ(ovl("ADD", "x", container(4), conf(), "OVL_SERVICE=default/b", "y.z").status, 0);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/endpoints/x.y@z.json"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/endpoints/x@y.z.json"));
  ASSERT_EQ(ovl("DEL", "x", "/run/netns/" + containerNs(4), conf(), "", "y.z").status, 0);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/endpoints/x@y.z.json"));
  json left = json::parse(std::ifstream(dir_ + "/endpoints/x.y@z.json"));
  EXPECT_EQ(left["service"], "default/a");

  // A registration in the old format, left in /run by an upgrade, of x.y/z: a DEL of x/y.z
  // (same old name) leaves it; the DEL of x.y/z removes it with the new one.
  std::filesystem::copy_file(dir_ + "/endpoints/x.y@z.json", dir_ + "/endpoints/x.y.z.json");
  ASSERT_EQ(ovl("DEL", "x", "", conf(), "", "y.z").status, 0);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/endpoints/x.y.z.json"));
  ASSERT_EQ(ovl("DEL", "x.y", "/run/netns/" + containerNs(3), conf(), "", "z").status, 0);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/endpoints/x.y.z.json"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/endpoints/x.y@z.json"));
  expectFirstUntouched("colliding names");
}

}  // namespace
}  // namespace ovl::test
