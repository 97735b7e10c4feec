#include "rules/nat_state.h"

#include <algorithm>
#include <iterator>
#include <unordered_set>

namespace ovl::nat {

namespace {

nft::DesiredIndex emptyIndex(const PlanInputs& in) {
  return nft::DesiredIndex(in.masquerade, in.podCidr);
}

// What is in `before` and not in `after` goes to `gone`, the reverse to `come`.
template <typename T>
void split(std::vector<T> before, std::vector<T> after, std::vector<T>& gone,
           std::vector<T>& come) {
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(gone));
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(come));
}

}  // namespace

NatState::NatState(PlanInputs in) : in_(std::move(in)), index_(emptyIndex(in_)) {}

void NatState::upsert(svc::Service s) {
  const std::string id = s.id();
  auto it = services_.find(id);
  if (it == services_.end()) {
    it = services_.emplace(id, std::move(s)).first;
    index_.add(planNat({it->second}, in_));
    return;
  }
  if (it->second == s) {
    return;
  }
  // Only the entries that differ leave and enter the index (one endpoint replaced: one
  // element), so the table compares only those keys with the kernel.
  NatPlan before = planNat({it->second}, in_);
  NatPlan after = planNat({s}, in_);
  NatPlan gone;
  NatPlan come;
  split(std::move(before.vips), std::move(after.vips), gone.vips, come.vips);
  split(std::move(before.nodePorts), std::move(after.nodePorts), gone.nodePorts, come.nodePorts);
  split(std::move(before.slots), std::move(after.slots), gone.slots, come.slots);
  split(std::move(before.hairpin), std::move(after.hairpin), gone.hairpin, come.hairpin);
  index_.remove(gone);
  index_.add(come);
  it->second = std::move(s);
}

bool NatState::remove(const std::string& id) {
  auto it = services_.find(id);
  if (it == services_.end()) {
    return false;
  }
  index_.remove(planNat({it->second}, in_));
  services_.erase(it);
  return true;
}

size_t NatState::setServices(const std::vector<svc::Service>& services) {
  size_t changed = 0;
  std::unordered_set<std::string> listed;
  listed.reserve(services.size());
  for (const svc::Service& s : services) {
    std::string id = s.id();
    auto it = services_.find(id);
    if (it == services_.end() || !(it->second == s)) {
      upsert(s);  // only changed services are copied
      ++changed;
    }
    listed.insert(std::move(id));
  }
  for (auto it = services_.begin(); it != services_.end();) {
    if (listed.contains(it->first)) {
      ++it;
      continue;
    }
    index_.remove(planNat({it->second}, in_));
    it = services_.erase(it);
    ++changed;
  }
  return changed;
}

void NatState::setInputs(const PlanInputs& in) {
  if (in == in_) {
    return;
  }
  in_ = in;
  index_ = emptyIndex(in_);
  for (const auto& [id, s] : services_) {
    index_.add(planNat({s}, in_));
  }
  if (vxlan_) {
    index_.setVxlanAllow(*vxlan_);
  }
}

void NatState::setVxlanAllow(const VxlanAllowPlan& allow) {
  if (vxlan_ == allow) {
    return;
  }
  index_.setVxlanAllow(allow);
  vxlan_ = allow;
}

NatPlan NatState::plan() const {
  std::vector<svc::Service> all;
  all.reserve(services_.size());
  for (const auto& [id, s] : services_) {
    all.push_back(s);
  }
  return planNat(all, in_);
}

}  // namespace ovl::nat
