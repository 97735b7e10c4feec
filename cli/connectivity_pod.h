// The throwaway pod of `ovlctl connectivity`: a network namespace attached to this node's pod
// bridge by ovl-cni's own code (cni/pod_network.h), with an address from ovl-cni's IPAM store
// (cni/ipam.h), so it can never take a real pod's address.
//
// The namespace is anonymous: unshare(2) in a short-lived thread, kept alive only by this
// process's file descriptor. Whatever ends the process, even SIGKILL, the kernel then removes
// it and the veth with it. The IPAM entry is the one thing a SIGKILL leaves; its holder names
// the process ("ovlctl-connectivity-<pid>-<random>"), so the next run frees entries of
// processes that are gone.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/ip.h"
#include "common/local_state.h"
#include "common/result.h"

namespace ovl::cli {

inline constexpr const char* kTestPodPrefix = "ovlctl-connectivity-";
inline constexpr const char* kTestPodIfname = "eth0";

// Where ovl-cni keeps its IPAM state: the ovl-cni entry of the CNI network configuration.
struct CniSettings {
  std::string network = "ovl";      // the configuration's name
  std::string dataDir;              // "" = ovl-cni's default
  std::string source = "defaults";  // the file read, for messages
};
// Reads a .conflist (the plugin whose type is ovl-cni) or a .conf. A missing file gives the
// defaults ovl-cni itself uses; an unreadable one or one without ovl-cni is an error.
Result<CniSettings> readCniSettings(const std::string& path);

// Whether the IPAM holder id was made by a connectivity run whose process is gone.
bool isStaleHolder(const std::string& containerId);

class TestPod {
 public:
  // Frees stale entries, allocates an address, makes the namespace and attaches it. Nothing is
  // left behind when it fails.
  static Result<std::unique_ptr<TestPod>> create(const NodeState& node, const CniSettings& cni);
  ~TestPod();
  TestPod(const TestPod&) = delete;
  TestPod& operator=(const TestPod&) = delete;

  // Removes the veth, frees the address and closes the namespace; idempotent. The error says
  // what could not be removed.
  Status remove();

  int netnsFd() const { return netns_.get(); }
  Ipv4Prefix address() const { return address_; }
  const std::string& hostIfname() const { return hostIfname_; }
  const std::string& id() const { return id_; }
  // Stale entries freed on the way in ("10.244.1.5 (ovlctl-connectivity-123-...)").
  const std::vector<std::string>& freedStale() const { return freedStale_; }

 private:
  TestPod() = default;
  Status allocate(const NodeState& node, const CniSettings& cni);
  Status releaseAddress();

  std::string id_;
  std::string hostIfname_;
  std::string dataDir_;
  std::string network_;
  UniqueFd netns_;
  Ipv4Prefix address_;
  bool allocated_ = false;
  bool vethMayExist_ = false;  // from the attempt to attach until the veth is removed
  std::vector<std::string> freedStale_;
};

}  // namespace ovl::cli
