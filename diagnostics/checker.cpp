// The orchestration of the checks (which run, in what order, from one context) and of the
// fixes (apply, check again, persist the rp_filter fix). The checks themselves are in
// rp_filter_check.cpp, host_check.cpp, overlay_check.cpp and nftables_check.cpp.
#include "diagnostics/checker.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "diagnostics/checks.h"
#include "diagnostics/ethtool.h"
#include "diagnostics/sysctl.h"

namespace ovl::diag {

std::string underlayInterface(nl::Netlink& netlink, const AgentConfig& agent,
                              const OverlayPlan& plan) {
  if (!agent.underlayInterface.empty()) {
    return agent.underlayInterface;
  }
  auto addrs = netlink.addresses();
  if (!addrs) {
    return "";
  }
  for (const auto& a : *addrs) {
    if (a.local.addr == plan.underlayIp) {
      auto l = netlink.linkByIndex(a.index);
      if (l && *l) {
        return (*l)->name;
      }
    }
  }
  return "";
}

// ---- running, fixing, persisting -------------------------------------------------------------

namespace {

// The links and the underlay interface every check starts from; false (with the reason in
// r.notChecked) when the links cannot be read.
bool prepare(CheckContext& c, Report& r) {
  r.node = c.m.plan->nodeName;
  auto links = c.nl.links();
  if (!links) {
    r.notChecked.push_back("links: " + links.error().message);
    return false;
  }
  for (auto& l : *links) {
    c.links.emplace(l.name, l);
  }
  c.underlay = underlayInterface(c.nl, *c.m.agent, *c.m.plan);
  return true;
}

}  // namespace

Report Checker::run(const NodeModel& m) {
  Report r;
  CheckContext c{nl_, fs_, cfg_, m, {}, ""};
  if (!prepare(c, r)) {
    return r;
  }
  if (c.underlay.empty()) {
    r.notChecked.push_back(
        fmt::format("underlay: no interface holds {} and underlayInterface "
                    "is not set",
                    m.plan->underlayIp.toString()));
  }
  checkForwarding(c, r);
  if (cfg_.rpFilter) {
    checkRpFilter(c, r);
  }
  checkPeers(c, r);
  checkMtu(c, r);
  checkTxChecksum(c, r);
  checkConntrack(c, r);
  checkHairpin(c, r);
  if (cfg_.nftables) {
    checkNftables(c, r);
  }
  return r;
}

Report Checker::runRpFilter(const NodeModel& m) {
  Report r;
  CheckContext c{nl_, fs_, cfg_, m, {}, ""};
  if (prepare(c, r)) {
    checkRpFilter(c, r);
  }
  return r;
}

Status Checker::applyFix(const Finding& f, Report& r) {
  switch (f.fix.kind) {
    case Fix::Kind::kNone:
      return okStatus();
    case Fix::Kind::kRpFilterLoose: {
      const std::string path = confPath(f.fix.iface, "rp_filter");
      auto before = fs_.read(path);
      if (Status s = fs_.write(path, "2"); !s) {
        return s;
      }
      r.actions.push_back(fmt::format("{} = 2 (was {})", confKey(f.fix.iface, "rp_filter"),
                                      before ? *before : "?"));
      return okStatus();
    }
    case Fix::Kind::kHairpinOn: {
      auto l = nl_.linkByName(f.fix.iface);
      if (!l) {
        return l.error();
      }
      if (!*l) {
        return Error::sys(ENODEV, "bridge port " + f.fix.iface + " is gone");
      }
      if (Status s = nl_.setHairpin((*l)->index, true); !s) {
        return s;
      }
      r.actions.push_back(fmt::format("bridge port {}: hairpin on (was off)", f.fix.iface));
      return okStatus();
    }
    case Fix::Kind::kTxChecksumOff:
      if (Status s = setTxChecksum(f.fix.iface, false); !s) {
        return s;
      }
      r.actions.push_back(fmt::format("{}: tx checksum offload off (was on)", f.fix.iface));
      return okStatus();
  }
  return okStatus();
}

void Checker::fix(Report& r, const NodeModel& m, FixScope scope) {
  const bool rpFilterOnly = scope == FixScope::kRpFilterOnly;
  std::set<std::string> applied;
  for (const auto& f : r.findings) {
    if (!f.fixable || f.fixed || (rpFilterOnly && f.fix.kind != Fix::Kind::kRpFilterLoose)) {
      continue;
    }
    if (Status s = applyFix(f, r); !s) {
      r.notChecked.push_back(
          fmt::format("fix of {} {}: {}", f.check, f.subject, s.error().message));
    } else {
      applied.insert(f.key());
    }
  }
  if (applied.empty()) {
    return;
  }
  const Report again = rpFilterOnly ? runRpFilter(m) : run(m);
  std::set<std::string> still;
  for (const auto& f : again.findings) {
    still.insert(f.key());
  }
  for (auto& f : r.findings) {
    // A note that only held while the drops happened (log_martians) is settled with them.
    if ((applied.contains(f.key()) || f.check == "log_martians") && !still.contains(f.key())) {
      f.fixed = true;
    }
  }
}

Status Checker::persist(Report& r, const std::string& dir) {
  std::vector<std::string> ifaces;
  for (const auto& f : r.findings) {
    if (f.fix.kind == Fix::Kind::kRpFilterLoose && f.fixed) {
      ifaces.push_back(f.fix.iface);
    }
  }
  if (ifaces.empty()) {
    return okStatus();
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Error{ec.value(), fmt::format("sysctl dir {}: {}", dir, ec.message())};
  }
  const std::string path = dir + "/" + kDropInName;
  {
    std::ifstream in(path);
    if (in) {
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (auto& i : dropInInterfaces(text)) {
        ifaces.push_back(i);
      }
    }
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << dropInText(ifaces);
    out.flush();
    if (!out) {
      return Error::sys(errno != 0 ? errno : EIO, "write " + tmp);
    }
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return Error{ec.value(), fmt::format("rename {} to {}: {}", tmp, path, ec.message())};
  }
  r.actions.push_back(fmt::format("wrote {} (rp_filter = 2 on {})", path, fmt::join(ifaces, ", ")));
  return okStatus();
}

}  // namespace ovl::diag
