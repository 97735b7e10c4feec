#include "tests/netns/netns_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ovl::test {
namespace {

int counter = 0;

// Exit status of a pclose()/system() result; -1 when the command did not exit normally.
int exitStatus(int raw) {
  if (raw == -1 || !WIFEXITED(raw)) {
    return -1;
  }
  return WEXITSTATUS(raw);
}

}  // namespace

NetnsTest::~NetnsTest() {
  cleanup();
}

void NetnsTest::SetUp() {
  if (geteuid() != 0) {
    if (std::getenv("CI") == nullptr) {
      GTEST_SKIP() << "kernel test needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN for setns); "
                      "skipped outside CI";
    }
    FAIL() << "kernel test needs root, and in CI (CI is set) a kernel test that cannot run is a "
              "failure";
  }

  originalNs_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(originalNs_, 0) << "open /proc/thread-self/ns/net: " << std::strerror(errno);

  name_ = "ovl-t-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  if (shStatus("ip netns add " + name_) != 0) {
    FAIL() << "ip netns add " << name_ << " failed";
  }
  created_ = true;

  const std::string path = "/run/netns/" + name_;
  testNs_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(testNs_, 0) << "open " << path << ": " << std::strerror(errno);
  // gtest runs tests on the main thread only, so this moves "the process" for the test.
  ASSERT_EQ(setns(testNs_, CLONE_NEWNET), 0) << "setns " << name_ << ": " << std::strerror(errno);

  sh("ip -n " + name_ + " link set lo up");
}

void NetnsTest::TearDown() {
  cleanup();
}

void NetnsTest::cleanup() {
  if (originalNs_ >= 0) {
    if (setns(originalNs_, CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "setns back to the original namespace: " << std::strerror(errno);
    }
    close(originalNs_);
    originalNs_ = -1;
  }
  if (testNs_ >= 0) {
    close(testNs_);
    testNs_ = -1;
  }
  if (!pod_.empty()) {
    shStatus("ip netns del " + pod_);
    pod_.clear();
  }
  if (created_) {
    created_ = false;
    if (shStatus("ip netns del " + name_) != 0) {
      ADD_FAILURE() << "ip netns del " << name_ << " failed";
    }
  }
}

std::string NetnsTest::addPod(std::initializer_list<const char*> addresses) {
  pod_ = name_ + "-pod";
  sh("ip netns add " + pod_);
  sh("ip -n " + name_ + " link add veth0 type veth peer name veth1 netns " + pod_);
  sh("ip -n " + name_ + " addr add 10.244.1.1/24 dev veth0");
  sh("ip -n " + name_ + " link set veth0 up");
  sh("ip -n " + name_ + " route add 10.96.0.0/12 dev veth0");
  for (const char* a : addresses) {
    sh("ip -n " + pod_ + " addr add " + std::string(a) + "/24 dev veth1");
  }
  sh("ip -n " + pod_ + " link set veth1 up");
  sh("ip -n " + pod_ + " link set lo up");
  sh("ip -n " + pod_ + " route add default via 10.244.1.1");
  return pod_;
}

int connectTo(const char* addr, uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, addr, &sa.sin_addr);
  const int rc = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  const int err = rc == 0 ? 0 : errno;
  close(fd);
  return err;
}

std::string NetnsTest::sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen(" << cmd << "): " << std::strerror(errno);
    return out;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) {
    out.append(buf, n);
  }
  const int status = exitStatus(pclose(p));
  if (status != 0) {
    ADD_FAILURE() << "command failed (exit status " << status << "): " << cmd << "\n" << out;
  }
  return out;
}

int NetnsTest::shStatus(const std::string& cmd) {
  return exitStatus(std::system((cmd + " >/dev/null 2>&1").c_str()));
}

}  // namespace ovl::test
