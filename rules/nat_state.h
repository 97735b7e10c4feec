// Service NAT, kept per service: the services as last given, and the desired table built from
// them (nft::DesiredIndex), both updated in O(change). A reload of 10,000 services of which one
// changed re-plans one service and leaves NatTable one service's keys to compare, so a change
// costs the same with 100 services or 10,000.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/service.h"
#include "rules/nat_planner.h"
#include "rules/nft_layout.h"
#include "rules/vxlan_allow.h"

namespace ovl::nat {

class NatState {
 public:
  explicit NatState(PlanInputs in = {});

  // All services at once (a reload of the datastore). A service equal to the one held costs a
  // comparison; the others are re-planned, and services no longer listed are removed. Returns
  // how many services were added, changed or removed.
  size_t setServices(const std::vector<svc::Service>& services);
  // One service, by id() (a watch event).
  void upsert(svc::Service s);
  bool remove(const std::string& id);
  // This node and the cluster's network settings; a change re-plans every service.
  void setInputs(const PlanInputs& in);
  // The VXLAN allow-list (rules/vxlan_allow.h), kept in the same table: only the sources that
  // changed are written.
  void setVxlanAllow(const VxlanAllowPlan& allow);

  const PlanInputs& inputs() const { return in_; }
  size_t size() const { return services_.size(); }
  nft::DesiredIndex& desired() { return index_; }
  const nft::DesiredIndex& desired() const { return index_; }
  // The whole plan (tests, `ovlctl trace`): what planNat gives for the services held.
  NatPlan plan() const;

 private:
  PlanInputs in_;
  std::unordered_map<std::string, svc::Service> services_;
  nft::DesiredIndex index_;
  std::optional<VxlanAllowPlan> vxlan_;  // carried into a new index by setInputs
};

}  // namespace ovl::nat
