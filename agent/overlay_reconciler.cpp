#include "agent/overlay_reconciler.h"

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

}  // namespace

ReconcileReport OverlayReconciler::reconcile(const OverlayPlan& plan, bool fullRead) {
  ReconcileReport report;
  vtepName_ = plan.vtepName;
  bridgeName_ = plan.bridgeName;
  report.fullRead = fullRead || !cacheValid_;
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
    if (auto st = ensureLinks(plan, report); !st) {
      report.errors.push_back(st.error());
      return report;
    }
    auto peers = kernel_.peerState(*vtepIndex_);
    if (!peers) {
      report.errors.push_back(peers.error().withContext("read peer entries of " + plan.vtepName));
      return report;
    }
    actual_ = std::move(*peers);
  }

  desired_ = desiredPeerState(plan, *vtepIndex_);
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
  // A copy: ensureVtep() may add to links_, which would leave a pointer into it dangling.
  const nl::Link underlayLink = *underlay;
  underlayIndex_ = underlayLink.index;
  if (auto st = ensureVtep(plan, underlayLink, report); !st) {
    return st;
  }
  const nl::Link* vtep = findByIndex(links_, *vtepIndex_);
  return ensureBridge(plan, vtep != nullptr ? vtep->mtu : underlayLink.mtu - kVxlanOverhead,
                      report);
}

Status OverlayReconciler::ensureVtep(const OverlayPlan& plan, const nl::Link& underlay,
                                     ReconcileReport& report) {
  if (!plan.mtu && underlay.mtu <= kVxlanOverhead + 68) {
    return Error{EINVAL, fmt::format("underlay interface '{}' has MTU {}, too small for VXLAN",
                                     underlay.name, underlay.mtu)};
  }
  nl::VxlanSpec spec{plan.vtepName,   plan.vni,
                     plan.underlayIp, underlay.index,
                     plan.port,       plan.mtu ? *plan.mtu : underlay.mtu - kVxlanOverhead,
                     plan.vtepMac};
  const nl::Link* existing = findByName(links_, plan.vtepName);
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
  nl::Link vtep = *existing;
  if (vtep.mtu != spec.mtu) {
    if (auto st = kernel_.setMtu(vtep.index, spec.mtu); !st) {
      return st;
    }
    report.actions.push_back(fmt::format("set {} mtu {} (was {})", vtep.name, spec.mtu, vtep.mtu));
  }
  if (vtep.mac != spec.mac) {
    if (auto st = kernel_.setMac(vtep.index, spec.mac); !st) {
      return st;
    }
    report.actions.push_back(fmt::format("set {} address {} (was {})", vtep.name,
                                         spec.mac.toString(), vtep.mac.toString()));
  }
  if (auto st = ensureOnlyAddress(vtep.index, vtep.name, plan.vtepAddress, report); !st) {
    return st;
  }
  if (!vtep.up) {
    if (auto st = kernel_.setUp(vtep.index); !st) {
      return st;
    }
    report.actions.push_back("set " + vtep.name + " up");
  }
  return okStatus();
}

Status OverlayReconciler::ensureBridge(const OverlayPlan& plan, uint32_t mtu,
                                       ReconcileReport& report) {
  const nl::Link* existing = findByName(links_, plan.bridgeName);
  if (existing != nullptr && existing->kind != "bridge") {
    report.actions.push_back(fmt::format("re-create {}: it is a '{}' device, not a bridge",
                                         plan.bridgeName, existing->kind));
    if (auto st = kernel_.deleteLink(existing->index); !st) {
      return st.error().withContext("delete " + plan.bridgeName);
    }
    std::erase_if(links_, [&](const nl::Link& l) { return l.name == plan.bridgeName; });
    existing = nullptr;
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
    return st;
  }
  if (!bridge.up) {
    if (auto st = kernel_.setUp(bridge.index); !st) {
      return st;
    }
    report.actions.push_back("set " + bridge.name + " up");
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

template <typename T>
bool has(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
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
    case K::kRoute:
      if (event.index != *vtepIndex_ || !event.route) {
        return false;  // not a main-table route through the VTEP: not ovl's
      }
      return contradicts(event.deleted, *event.route, actual_.routes, desired_.routes);
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
