#include "overlay/overlay_reconciler.h"

#include <fmt/format.h>

#include <algorithm>

namespace ovl {

namespace {

const nl::Link* findByName(const std::vector<nl::Link>& links, const std::string& name) {
  auto it =
      std::find_if(links.begin(), links.end(), [&](const nl::Link& l) { return l.name == name; });
  return it == links.end() ? nullptr : &*it;
}

const nl::Link* findByIndex(const std::vector<nl::Link>& links, int index) {
  auto it =
      std::find_if(links.begin(), links.end(), [&](const nl::Link& l) { return l.index == index; });
  return it == links.end() ? nullptr : &*it;
}

// Why an existing device cannot serve as the VTEP without being re-created ("" = it can).
// VNI, local address, underlay device, port and learning cannot be changed on a live VXLAN
// device by the kernel (changelink refuses most of them), so a mismatch means re-creating it.
std::string vtepMismatch(const nl::Link& link, const nl::VxlanSpec& want) {
  if (link.kind != "vxlan" || !link.vxlan) {
    return fmt::format("it is a '{}' device, not vxlan", link.kind.empty() ? "plain" : link.kind);
  }
  const nl::VxlanInfo& v = *link.vxlan;
  if (v.vni != want.vni) {
    return fmt::format("its VNI is {}, expected {}", v.vni, want.vni);
  }
  if (v.local != want.local) {
    return fmt::format("its local address is {}, expected {}",
                       v.local ? v.local->toString() : "unset", want.local.toString());
  }
  if (v.underlayIndex != want.underlayIndex) {
    return fmt::format("its underlay device is #{}, expected #{}",
                       v.underlayIndex ? *v.underlayIndex : 0, want.underlayIndex);
  }
  if (v.port != want.port) {
    return fmt::format("its UDP port is {}, expected {}", v.port, want.port);
  }
  if (v.learning) {
    return "it has learning on, expected off";
  }
  return "";
}

// A peer entry written back after it was deleted or changed under the agent.
void countDrift(const nl::Netlink::Op& op, ReconcileReport& report) {
  using K = nl::Netlink::Op::Kind;
  switch (op.kind) {
    case K::kReplaceRoute:
    case K::kDeleteRoute:
      ++report.drift.routes;
      break;
    case K::kReplaceFdb:
    case K::kDeleteFdb:
      ++report.drift.fdb;
      break;
    case K::kReplaceNeighbour:
    case K::kDeleteNeighbour:
      ++report.drift.neighbours;
      break;
  }
}

}  // namespace

std::string OverlayReconciler::linkFields(const OverlayPlan& p) {
  return fmt::format("{} {} {} {} {} {} {} {} {}", p.vtepName, p.vni, p.port, p.mtu ? *p.mtu : 0,
                     p.vtepMac.toString(), p.vtepAddress.toString(), p.bridgeName,
                     p.bridgeAddress.toString(), p.underlayIp.toString());
}

void OverlayReconciler::removeRenamedDevices(const OverlayPlan& plan, ReconcileReport& report) {
  // Devices this agent made under names the plan no longer uses (vtepName, bridgeName or the
  // VNI changed). Only this process's own names: a device it does not know is never deleted.
  const std::pair<const std::string*, const char*> old[] = {{&vtepName_, "vxlan"},
                                                            {&bridgeName_, "bridge"}};
  for (const auto& [name, kind] : old) {
    if (name->empty() || *name == plan.vtepName || *name == plan.bridgeName) {
      continue;
    }
    const nl::Link* l = findByName(links_, *name);
    if (l == nullptr || l->kind != kind) {
      continue;
    }
    if (auto st = kernel_.deleteLink(l->index); !st) {
      report.errors.push_back(st.error().withContext("delete the former " + *name));
      continue;
    }
    report.actions.push_back(
        fmt::format("delete {}: the plan now names {}", *name,
                    std::string(kind) == "vxlan" ? plan.vtepName : plan.bridgeName));
    const int gone = l->index;
    std::erase_if(links_, [&](const nl::Link& x) { return x.index == gone; });
    std::erase_if(addresses_, [&](const nl::Address& a) { return a.index == gone; });
  }
}

ReconcileReport OverlayReconciler::reconcile(const OverlayPlan& plan, bool fullRead) {
  ReconcileReport report;
  // A change of what the devices should be (VNI, port, MTU, MAC, names, this node's subnet or
  // underlay address) needs the links read and fixed, not only the peer delta.
  const auto linkPlan = linkFields(plan);
  if (linkPlan != lastLinkPlan_) {
    cacheValid_ = false;
  }
  report.fullRead = fullRead || !cacheValid_;
  // Only a full read after a converged pass of the same plan can find drift.
  const bool afterConverged = cacheValid_ && report.fullRead;
  PeerState before;
  if (afterConverged) {
    before = desired_;
  }
  if (report.fullRead) {
    cacheValid_ = false;
    auto links = kernel_.links();
    if (!links) {
      report.errors.push_back(links.error().withContext("read links"));
      return report;
    }
    auto addrs = kernel_.addresses();
    if (!addrs) {
      report.errors.push_back(addrs.error().withContext("read addresses"));
      return report;
    }
    links_ = std::move(*links);
    addresses_ = std::move(*addrs);
    const size_t actionsBefore = report.actions.size();
    removeRenamedDevices(plan, report);
    const Status linksOk = ensureLinks(plan, report);
    if (afterConverged) {
      report.drift.links = report.actions.size() - actionsBefore;
    }
    if (!linksOk) {
      report.errors.push_back(linksOk.error());
      return report;
    }
    vtepName_ = plan.vtepName;
    bridgeName_ = plan.bridgeName;
    lastLinkPlan_ = linkPlan;
    auto peers = kernel_.peerState(*vtepIndex_);
    if (!peers) {
      report.errors.push_back(peers.error().withContext("read peer entries of " + plan.vtepName));
      return report;
    }
    actual_ = std::move(*peers);
    sortPeerState(actual_);  // applyToState and the diff work on lists in key order
  }

  updateDesired(plan, report.fullRead);
  const bool peerDrift = afterConverged && desired_ == before;
  auto ops = diffPeerState(desired_, actual_);
  if (!ops.empty()) {
    auto results = kernel_.apply(ops);
    for (size_t i = 0; i < ops.size(); ++i) {
      const bool ok = i < results.size() && results[i].ok();
      // A delete of what is already gone has reached its goal.
      const bool gone = !ok && i < results.size() &&
                        (results[i].error().code == ENOENT || results[i].error().code == ESRCH) &&
                        (ops[i].kind == nl::Netlink::Op::Kind::kDeleteRoute ||
                         ops[i].kind == nl::Netlink::Op::Kind::kDeleteFdb ||
                         ops[i].kind == nl::Netlink::Op::Kind::kDeleteNeighbour);
      if (ok || gone) {
        applyToState(actual_, ops[i]);
        ++report.opsApplied;
        if (peerDrift) {
          countDrift(ops[i], report);
        }
        continue;
      }
      report.errors.push_back(i < results.size()
                                  ? results[i].error()
                                  : Error::msg(ops[i].toString() + ": no answer from the kernel"));
    }
    if (ops.size() <= 8) {
      for (const auto& op : ops) {
        report.actions.push_back(op.toString());
      }
    } else {
      report.actions.push_back(fmt::format("{} peer entries written", ops.size()));
    }
  }
  // After a failure the kernel may hold something else than believed: read it back next time.
  cacheValid_ = report.errors.empty();
  return report;
}

void OverlayReconciler::updateDesired(const OverlayPlan& plan, bool rebuild) {
  // After a re-read everything is rebuilt (and the full diff then finds any drift); between
  // re-reads only the peers the plan changed are touched, so one node added costs one peer's
  // work plus linear checks, not a rebuild and sort of every peer's entries.
  if (rebuild || desiredIndex_ != vtepIndex_) {
    desired_ = desiredPeerState(plan, *vtepIndex_);
    sortPeerState(desired_);
    desiredPeers_ = plan.peers;
    desiredIndex_ = vtepIndex_;
  } else if (updateDesiredPeerState(desired_, desiredPeers_, plan.peers, *vtepIndex_)) {
    desiredPeers_ = plan.peers;
  }
}

Status OverlayReconciler::ensureLinks(const OverlayPlan& plan, ReconcileReport& report) {
  // The underlay: named, or found by the node's underlay address.
  const nl::Link* underlay = nullptr;
  if (!underlayInterface_.empty()) {
    underlay = findByName(links_, underlayInterface_);
    if (underlay == nullptr) {
      return Error{ENODEV, fmt::format("underlay interface '{}' (underlayInterface) does not exist",
                                       underlayInterface_)};
    }
  } else {
    auto a = std::find_if(addresses_.begin(), addresses_.end(),
                          [&](const nl::Address& x) { return x.local.addr == plan.underlayIp; });
    if (a != addresses_.end()) {
      underlay = findByIndex(links_, a->index);
    }
    if (underlay == nullptr) {
      return Error{EADDRNOTAVAIL,
                   fmt::format("no interface holds this node's underlay IP {} (nodes[{}]."
                               "underlayIP); assign it, or set underlayInterface",
                               plan.underlayIp.toString(), plan.nodeName)};
    }
  }
  if (underlay->name == plan.vtepName || underlay->name == plan.bridgeName) {
    return Error{EINVAL, fmt::format("the underlay interface '{}' has the name ovl uses for its "
                                     "{}; choose another vtepName or bridgeName",
                                     underlay->name,
                                     underlay->name == plan.vtepName ? "VTEP" : "pod bridge")};
  }
  // A copy: ensureVtep() may add to links_, which would leave a pointer into it dangling.
  const nl::Link underlayLink = *underlay;
  underlayIndex_ = underlayLink.index;
  if (auto st = ensureVtep(plan, underlayLink, report); !st) {
    return st;
  }
  const nl::Link* vtep = findByIndex(links_, *vtepIndex_);
  // The bridge serves the local pods; the VTEP's peers are programmed even when it fails.
  if (auto st = ensureBridge(plan, vtep != nullptr ? vtep->mtu : underlayLink.mtu - kVxlanOverhead,
                             report);
      !st) {
    report.errors.push_back(st.error());
  }
  return okStatus();
}

Status OverlayReconciler::ensureVtep(const OverlayPlan& plan, const nl::Link& underlay,
                                     ReconcileReport& report) {
  if (underlay.mtu <= kVxlanOverhead + 68) {
    return Error{EINVAL, fmt::format("underlay interface '{}' has MTU {}, too small for VXLAN",
                                     underlay.name, underlay.mtu)};
  }
  const uint32_t maxMtu = underlay.mtu - kVxlanOverhead;
  uint32_t mtu = plan.mtu.value_or(maxMtu);
  if (mtu > maxMtu) {
    // The kernel refuses it; the overlay still works with the largest MTU that fits.
    report.errors.push_back(Error{
        EINVAL, fmt::format("network.mtu {} does not fit the underlay: '{}' has MTU {}, so the "
                            "VTEP can have at most {}; using {}",
                            mtu, underlay.name, underlay.mtu, maxMtu, maxMtu)});
    mtu = maxMtu;
  }
  nl::VxlanSpec spec{plan.vtepName, plan.vni, plan.underlayIp, underlay.index,
                     plan.port,     mtu,      plan.vtepMac};
  const nl::Link* existing = findByName(links_, plan.vtepName);
  if (existing != nullptr && existing->kind != "vxlan") {
    // Not a device ovl made: never deleted, whatever its name.
    return Error{EEXIST,
                 fmt::format("a '{}' device named {} exists and is not ovl's VTEP; "
                             "remove it or set vtepName",
                             existing->kind.empty() ? "plain" : existing->kind, plan.vtepName)};
  }
  if (existing != nullptr) {
    std::string why = vtepMismatch(*existing, spec);
    if (!why.empty()) {
      report.actions.push_back(fmt::format("re-create {}: {}", plan.vtepName, why));
      if (auto st = kernel_.deleteLink(existing->index); !st) {
        return st.error().withContext("delete mis-configured " + plan.vtepName);
      }
      std::erase_if(links_, [&](const nl::Link& l) { return l.name == plan.vtepName; });
      existing = nullptr;
    }
  }
  if (existing == nullptr) {
    auto created = kernel_.createVxlan(spec);
    if (!created) {
      return created.error();
    }
    report.actions.push_back("create " + spec.toString());
    links_.push_back(*created);
    existing = &links_.back();
    // A new device holds none of the old entries: they went with the old one.
    actual_ = PeerState{};
    std::erase_if(addresses_, [&](const nl::Address& a) { return a.index == created->index; });
  }
  vtepIndex_ = existing->index;
  const nl::Link vtep = *existing;
  // Attributes that fail to apply are reported, but the peers are still programmed.
  auto attempt = [&](Status st, std::string what) {
    if (st) {
      report.actions.push_back(std::move(what));
    } else {
      report.errors.push_back(st.error());
    }
  };
  if (vtep.mtu != spec.mtu) {
    attempt(kernel_.setMtu(vtep.index, spec.mtu),
            fmt::format("set {} mtu {} (was {})", vtep.name, spec.mtu, vtep.mtu));
  }
  if (vtep.mac != spec.mac) {
    attempt(kernel_.setMac(vtep.index, spec.mac),
            fmt::format("set {} address {} (was {})", vtep.name, spec.mac.toString(),
                        vtep.mac.toString()));
  }
  if (auto st = ensureOnlyAddress(vtep.index, vtep.name, plan.vtepAddress, report); !st) {
    report.errors.push_back(st.error());
  }
  if (!vtep.up) {
    attempt(kernel_.setUp(vtep.index), "set " + vtep.name + " up");
  }
  return okStatus();
}

Status OverlayReconciler::ensureBridge(const OverlayPlan& plan, uint32_t mtu,
                                       ReconcileReport& report) {
  const nl::Link* existing = findByName(links_, plan.bridgeName);
  if (existing != nullptr && existing->kind != "bridge") {
    // Not a device ovl made: never deleted, whatever its name.
    return Error{EEXIST,
                 fmt::format("a '{}' device named {} exists and is not a bridge; "
                             "remove it or set bridgeName",
                             existing->kind.empty() ? "plain" : existing->kind, plan.bridgeName)};
  }
  if (existing == nullptr) {
    auto created = kernel_.createBridge(plan.bridgeName, mtu);
    if (!created) {
      return created.error();
    }
    report.actions.push_back(fmt::format("create bridge {} mtu {}", plan.bridgeName, mtu));
    links_.push_back(*created);
    existing = &links_.back();
  }
  bridgeIndex_ = existing->index;
  const nl::Link bridge = *existing;
  if (auto st = ensureOnlyAddress(bridge.index, bridge.name, plan.bridgeAddress, report); !st) {
    report.errors.push_back(st.error());
  }
  if (!bridge.up) {
    if (auto st = kernel_.setUp(bridge.index); !st) {
      report.errors.push_back(st.error());
    } else {
      report.actions.push_back("set " + bridge.name + " up");
    }
  }
  return okStatus();
}

Status OverlayReconciler::ensureOnlyAddress(int index, const std::string& name,
                                            const Ipv4Prefix& want, ReconcileReport& report) {
  bool present = false;
  for (const nl::Address& a : addresses_) {
    if (a.index != index) {
      continue;
    }
    if (a.local == want) {
      present = true;
      continue;
    }
    // ovl owns this device: an address it did not plan (an old subnet) goes.
    if (auto st = kernel_.deleteAddress(a); !st && st.error().code != EADDRNOTAVAIL) {
      return st;
    }
    report.actions.push_back(fmt::format("remove address {} from {}", a.local.toString(), name));
  }
  if (!present) {
    if (auto st = kernel_.addAddress(nl::Address{index, want}); !st && st.error().code != EEXIST) {
      return st;
    }
    report.actions.push_back(fmt::format("add address {} to {}", want.toString(), name));
  }
  return okStatus();
}

namespace {

// Both lists are kept in key order (sortPeerState): a binary search, not a scan per event.
template <typename T>
bool has(const std::vector<T>& v, const T& x) {
  auto less = [](const T& a, const T& b) { return peerEntryLess(a, b); };
  return std::binary_search(v.begin(), v.end(), x, less);
}

// Whether a notification about one of ovl's entry kinds contradicts what ovl believes: an
// entry it holds was deleted, or an entry it does not want appeared. The notifications of its
// own acknowledged writes agree with its belief (applyToState ran before they are read).
template <typename T>
bool contradicts(bool deleted, const T& entry, const std::vector<T>& believed,
                 const std::vector<T>& desired) {
  return deleted ? has(believed, entry) : !has(desired, entry);
}

}  // namespace

bool OverlayReconciler::eventMayBeDrift(const nl::Event& event) const {
  using K = nl::Event::Kind;
  if (event.kind == K::kOverflow) {
    return true;
  }
  if (!cacheValid_ || !vtepIndex_) {
    return false;  // the next pass re-reads everything anyway
  }
  const bool ourDevice = event.index == *vtepIndex_ ||
                         (bridgeIndex_ && event.index == *bridgeIndex_) ||
                         (underlayIndex_ && event.index == *underlayIndex_);
  switch (event.kind) {
    case K::kLink:
      // A change of ovl's devices or of the underlay (deleted, down, MTU), or a device that
      // appeared under one of ovl's names (someone re-created it).
      return ourDevice || (!event.deleted && !event.linkName.empty() &&
                           (event.linkName == vtepName_ || event.linkName == bridgeName_));
    case K::kAddress:
      return ourDevice;
    case K::kNeighbour:
      if (event.index != *vtepIndex_) {
        return false;
      }
      if (event.fdb) {
        return contradicts(event.deleted, *event.fdb, actual_.fdb, desired_.fdb);
      }
      if (event.neighbour) {
        return contradicts(event.deleted, *event.neighbour, actual_.neighbours,
                           desired_.neighbours);
      }
      // A non-permanent entry on the VTEP: harmless unless it replaced one of ovl's (same IP).
      return true;
    case K::kRoute: {
      if (!event.route) {
        return false;  // not a main-table single-path route: not ovl's
      }
      if (event.index == *vtepIndex_) {
        return contradicts(event.deleted, *event.route, actual_.routes, desired_.routes);
      }
      // Elsewhere: drift only if it took the place of one of ovl's routes (`ip route replace`
      // onto another device sends no deletion for the VTEP's route).
      auto it =
          std::lower_bound(desired_.routes.begin(), desired_.routes.end(), event.route->dst,
                           [](const nl::Route& r, const Ipv4Prefix& dst) { return r.dst < dst; });
      return !event.deleted && it != desired_.routes.end() && it->dst == event.route->dst;
    }
    case K::kOverflow:
      break;
  }
  return true;
}

ReconcileReport OverlayReconciler::cleanup(const std::string& vtepName,
                                           const std::string& bridgeName) {
  ReconcileReport report;
  auto links = kernel_.links();
  if (!links) {
    report.errors.push_back(links.error().withContext("read links"));
    return report;
  }
  for (const std::string& name : {vtepName, bridgeName}) {
    const nl::Link* l = findByName(*links, name);
    if (l == nullptr) {
      continue;
    }
    if (auto st = kernel_.deleteLink(l->index); !st) {
      report.errors.push_back(st.error().withContext("delete " + name));
    } else {
      report.actions.push_back("delete " + name);
    }
  }
  cacheValid_ = false;
  return report;
}

}  // namespace ovl
