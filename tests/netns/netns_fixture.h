// Kernel tests run in a throwaway network namespace each.
//
// NetnsTest::SetUp creates "ovl-t-<pid>-<n>" with `ip netns add`, moves the (single) test thread
// into it with setns(), and sets lo up; TearDown (and, as a guard, the destructor) moves the
// thread back and deletes the namespace, whether the test passed or not. Code under test that
// opens netlink sockets during the test therefore works inside the namespace; the host's own
// interfaces are never touched.
//
// Witness convention: commands that check the kernel's state name the namespace explicitly
// (`ip -n NS ...`, `bridge -n NS ...`, `ip netns exec NS ...`), so they are right regardless of
// the namespace the shell was forked in.
//
// Privileges: without root the tests are skipped on a developer's machine, and fail in CI (the
// CI environment variable is set), where a kernel test that cannot run is a failure.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>

namespace ovl::test {

// Connects to addr:port over TCP (blocking, 3 s at most) and closes; returns 0 or the errno.
int connectTo(const char* addr, uint16_t port);

class NetnsTest : public ::testing::Test {
 public:
  ~NetnsTest() override;

 protected:
  void SetUp() override;
  void TearDown() override;

  // The namespace's name, for `ip -n NAME` / `bridge -n NAME` / `ip netns exec NAME`.
  const std::string& ns() const { return name_; }

  // Runs cmd with /bin/sh and returns its stdout. A non-zero exit status is a test failure
  // (ADD_FAILURE with the command, its status and its output); the output is still returned.
  std::string sh(const std::string& cmd);
  // Runs cmd with /bin/sh (output discarded) and returns its exit status (-1 if it could not be
  // run or was killed by a signal).
  int shStatus(const std::string& cmd);

  // A "pod": a second namespace "<ns>-pod" behind a veth pair (veth0 here, 10.244.1.1/24,
  // with the service range 10.96.0.0/12 routed to it; veth1 there, holding `addresses` as /24s,
  // default route via 10.244.1.1). Deleted with the test's namespace. Returns its name.
  std::string addPod(std::initializer_list<const char*> addresses);

 private:
  void cleanup();

  std::string name_;
  std::string pod_;
  int originalNs_ = -1;
  int testNs_ = -1;
  bool created_ = false;
};

}  // namespace ovl::test
