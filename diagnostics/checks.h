// The checks behind Checker::run, one entry point per check, and the context they share. Private
// to diagnostics/ (agent/ and cli/ use checker.h). Each check names itself in r.checksRun when it
// runs, appends what it finds to r.findings and what it could not check to r.notChecked; none
// changes anything.
#pragma once

#include <map>
#include <string>

#include "diagnostics/checker.h"
#include "diagnostics/finding.h"
#include "diagnostics/sysctl.h"
#include "netlink/netlink.h"

namespace ovl::diag {

// What every check of one run starts from: the kernel and the host files to ask, the checker's
// settings, what the node should be, and the links (read once per run) with the underlay
// interface among them.
struct CheckContext {
  nl::Netlink& nl;
  HostFs& fs;
  const CheckerConfig& cfg;
  const NodeModel& m;
  std::map<std::string, nl::Link> links;  // by name
  std::string underlay;                   // "" = not found
  const nl::Link* link(const std::string& name) const {
    auto it = links.find(name);
    return it == links.end() ? nullptr : &it->second;
  }
};

// rp_filter_check.cpp: the kernel's verdict on every path that arrives here; with the route
// check (paths it refuses otherwise) and the log_martians note.
void checkRpFilter(const CheckContext& c, Report& r);

// host_check.cpp: the host's settings the overlay depends on.
void checkForwarding(const CheckContext& c, Report& r);
void checkTxChecksum(const CheckContext& c, Report& r);
void checkConntrack(const CheckContext& c, Report& r);
void checkHairpin(const CheckContext& c, Report& r);

// overlay_check.cpp: the VTEP with its route, neighbour and FDB entries per peer, and the MTUs.
void checkPeers(const CheckContext& c, Report& r);
void checkMtu(const CheckContext& c, Report& r);

// nftables_check.cpp: other tables (and iptables-legacy) dropping ovl's traffic, and ovl's own
// table against the services.
void checkNftables(const CheckContext& c, Report& r);

}  // namespace ovl::diag
