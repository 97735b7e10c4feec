// The agent's side of the node's local state (common/local_state.h), shared with ovl-cni:
//
//  - NodeStatePublisher writes <stateDir>/node.json (the node's pod subnet, gateway, overlay MTU,
//    bridge and endpoints directory) after a converged pass, atomically, whenever it changes;
//    ovl-cni reads it on every ADD.
//  - LocalEndpoints watches the endpoints directory (inotify), where ovl-cni writes one file per
//    container interface started with a service label, and merges the registrations into the
//    services' endpoints before the NAT plan is made. With the file datastore the directory is
//    <stateDir>/endpoints (this node's containers only) unless agent.yaml's endpointsDir names
//    one shared by the nodes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/dir_watch.h"
#include "common/local_state.h"
#include "common/result.h"
#include "model/service.h"
#include "overlay/overlay_kernel.h"
#include "overlay/overlay_plan.h"

namespace ovl {

// The services with the registrations added as endpoints (ready, on the registration's node).
// A registration of a service that does not exist, of an address outside podCidr, or of an
// address the service already lists is left out with a message in *problems.
std::vector<svc::Service> mergeLocalEndpoints(const std::vector<svc::Service>& services,
                                              const std::vector<LocalEndpoint>& registrations,
                                              const Ipv4Prefix& podCidr,
                                              std::vector<std::string>* problems);

class LocalEndpoints {
 public:
  // Creates the directory if needed and watches it.
  static Result<LocalEndpoints> create(const std::string& dir);

  int fd() const { return watch_.fd(); }
  const std::string& dir() const { return watch_.dir(); }
  // Drains pending events; true when the directory's content may have changed.
  bool drain();
  // Every readable registration, sorted by file name; unreadable ones are named in *problems.
  std::vector<LocalEndpoint> read(std::vector<std::string>* problems) const;

 private:
  explicit LocalEndpoints(DirectoryWatch watch) : watch_(std::move(watch)) {}

  DirectoryWatch watch_;
};

class NodeStatePublisher {
 public:
  NodeStatePublisher(std::string stateDir, std::string endpointsDir, OverlayKernel& kernel)
      : path_(std::move(stateDir) + "/" + NodeState::kFileName),
        endpointsDir_(std::move(endpointsDir)),
        kernel_(kernel) {}

  // Writes node.json for `plan` if it differs from what was written last. The MTU is the VTEP's
  // as the kernel holds it (the plan may leave it to the underlay), so it is read back when the
  // plan changed or `recheck` is set (a full pass).
  Status publish(const OverlayPlan& plan, bool recheck);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string endpointsDir_;
  OverlayKernel& kernel_;
  std::optional<NodeState> written_;
};

}  // namespace ovl
