// cli/connectivity_pod: where ovl-cni's IPAM store is (the CNI configuration), and which IPAM
// holders are left by connectivity runs that are gone. Creating the pod itself needs the kernel
// (tests/e2e/connectivity_e2e.sh).
#include "cli/connectivity_pod.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace ovl::cli {
namespace {

class CniSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ovl-conn-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(CniSettingsTest, MissingFileGivesOvlCnisDefaults) {
  auto s = readCniSettings(dir_ + "/none.conflist");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->network, "ovl");
  EXPECT_EQ(s->dataDir, "");  // ovl-cni's own default, /var/lib/cni/ovl
  EXPECT_EQ(s->source, "defaults");
}

TEST_F(CniSettingsTest, ConflistAndConf) {
  auto list = readCniSettings(write("a.conflist", R"({"cniVersion": "1.0.0", "name": "pods",
      "plugins": [{"type": "bridge"}, {"type": "ovl-cni", "dataDir": "/srv/ipam"}]})"));
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(list->network, "pods");
  EXPECT_EQ(list->dataDir, "/srv/ipam");
  auto conf = readCniSettings(write("b.conf", R"({"name": "single", "type": "ovl-cni"})"));
  ASSERT_TRUE(conf) << conf.error().message;
  EXPECT_EQ(conf->network, "single");
  EXPECT_EQ(conf->dataDir, "");
}

TEST_F(CniSettingsTest, TheShippedExample) {
  auto s = readCniSettings(std::string(OVL_SOURCE_DIR) + "/examples/cni/10-ovl.conflist");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->network, "ovl");
  EXPECT_EQ(s->dataDir, "/var/lib/cni/ovl");
}

TEST_F(CniSettingsTest, ErrorsNameTheFileAndField) {
  const std::string noOvl =
      write("c.conflist", R"({"name": "x", "plugins": [{"type": "bridge"}]})");
  auto a = readCniSettings(noOvl);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message, noOvl + ": plugins: expected an entry of type ovl-cni");
  const std::string badDir =
      write("d.conflist", R"({"name": "x", "plugins": [{"type": "ovl-cni", "dataDir": 5}]})");
  auto b = readCniSettings(badDir);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message, badDir + ": ovl-cni's dataDir: expected a directory (a string)");
  const std::string noName = write("e.conf", R"({"type": "ovl-cni"})");
  auto c = readCniSettings(noName);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, noName + ": name: expected the network's name (a string)");
  const std::string notJson = write("f.conf", "[1, 2");
  auto d = readCniSettings(notJson);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, notJson + ": not a JSON object (a CNI .conflist or .conf)");
}

TEST(TestPodHolder, StaleOnlyWhenItsProcessIsGone) {
  EXPECT_FALSE(isStaleHolder(std::string(kTestPodPrefix) + std::to_string(::getpid()) + "-0abc"));
  // Above the kernel's pid_max (at most 2^22): no such process can exist.
  EXPECT_TRUE(isStaleHolder(std::string(kTestPodPrefix) + "99999999-0abc"));
  EXPECT_FALSE(isStaleHolder("0123456789abcdef"));  // a real container's id
  EXPECT_FALSE(isStaleHolder(std::string(kTestPodPrefix) + "x1-0abc"));
  EXPECT_FALSE(isStaleHolder(kTestPodPrefix));
}

}  // namespace
}  // namespace ovl::cli
