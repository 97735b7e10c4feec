// The rp_filter check: every path the overlay creates is asked of the kernel as the route query
// with iif that its input route lookup answers (the reverse-path check included); refusals
// become the rp_filter findings (by interface), the route findings (any other refusal) and the
// log_martians note.
#include "diagnostics/checks.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "diagnostics/paths.h"

namespace ovl::diag {

namespace {

// An address outside every cluster network, to find where an off-cluster client would come
// from (TEST-NET-2, RFC 5737: never a real host).
const Ipv4 kOffClusterProbe{(198U << 24) | (51U << 16) | (100U << 8) | 1U};
// Broken paths shown per interface (one per peer would be thousands of lines).
constexpr size_t kPathsShown = 4;

std::string errnoName(int code) {
  switch (code) {
    case EXDEV:
      return "EXDEV";
    case EHOSTUNREACH:
      return "EHOSTUNREACH";
    case ENETUNREACH:
      return "ENETUNREACH";
    case EINVAL:
      return "EINVAL";
    case ENODEV:
      return "ENODEV";
  }
  return fmt::format("errno {}", code);
}

std::string kernelAnswer(const Error& e) {
  return fmt::format("{} ({})", errnoName(e.code), std::strerror(e.code));
}

std::string linkNameOf(const CheckContext& c, int index) {
  for (const auto& [name, l] : c.links) {
    if (l.index == index) {
      return name;
    }
  }
  return fmt::format("#{}", index);
}

// A leg the kernel refuses, and its answer.
struct Drop {
  Probe probe;
  Error error;
};
using DropsByIface = std::map<std::string, std::vector<Drop>>;

// What the kernel says of every leg that arrives here.
struct ProbeOutcome {
  DropsByIface drops;             // rp_filter (EXDEV), by interface
  DropsByIface unrouted;          // any other refusal
  std::set<std::string> missing;  // interfaces that do not exist
};

// The paths of this node; an off-cluster client (for the NodePort paths) is the next hop the
// underlay would take to one, when that route leaves through the underlay.
PathInputs pathInputs(const CheckContext& c) {
  PathInputs in;
  in.plan = c.m.plan;
  in.network = c.m.network;
  in.services = c.m.services;
  in.underlayInterface = c.underlay;
  in.maxPeers = c.cfg.maxPeers;
  if (const nl::Link* ul = c.link(c.underlay)) {
    auto out = c.nl.routeGet(kOffClusterProbe);
    if (out && out->oif == ul->index) {
      in.outsideClient = out->gateway ? *out->gateway : kOffClusterProbe;
    }
  }
  return in;
}

ProbeOutcome probePaths(const CheckContext& c, const std::vector<Probe>& probes) {
  // The kernel refuses a source that fails the reverse-path check with EXDEV (older kernels)
  // or, like any martian source, EINVAL (recent ones, the 6.x tested here). A refusal is the
  // reverse-path check's when rp_filter
  // is on for the interface and the kernel's route back to the source does not fit it: strict
  // (1) wants the route back through the same interface, loose (2) any route back.
  std::map<std::string, std::optional<RpFilter>> rpCache;
  auto isReversePathDrop = [&](const Probe& p, const nl::Link& l, const Error& e) {
    if (e.code != EXDEV && e.code != EINVAL) {
      return false;
    }
    auto [it, fresh] = rpCache.try_emplace(p.iif);
    if (fresh) {
      if (auto rp = c.fs.rpFilter(p.iif)) {
        it->second = *rp;
      }
    }
    if (!it->second || it->second->effective() == 0) {
      return false;
    }
    auto back = c.nl.routeGet(p.src);
    return it->second->effective() == 1 ? (!back || back->oif != l.index) : !back;
  };
  ProbeOutcome out;
  for (const Probe& p : probes) {
    const nl::Link* l = c.link(p.iif);
    if (l == nullptr) {
      out.missing.insert(p.iif);
      continue;
    }
    auto ans = c.nl.routeGet(p.dst, p.src, l->index);
    if (ans) {
      continue;
    }
    (isReversePathDrop(p, *l, ans.error()) ? out.drops : out.unrouted)[p.iif].push_back(
        Drop{p, ans.error()});
  }
  return out;
}

// The IPReversePathFilter counter, as evidence.
std::string reversePathCounterText(HostFs& fs) {
  auto netstat = fs.read("net/netstat");
  std::optional<long long> counter;
  if (netstat) {
    counter = netstatCounter(*netstat, "TcpExt", "IPReversePathFilter");
  }
  return counter ? fmt::format(
                       "{} packets dropped so far in this network namespace (TcpExt "
                       "IPReversePathFilter, /proc/net/netstat)",
                       *counter)
                 : std::string("unavailable");
}

// The effective log_martians of an interface (the higher of conf/all and its own).
std::optional<int> logMartians(HostFs& fs, const std::string& iface) {
  auto all = fs.readInt(confPath("all", "log_martians"));
  auto own = fs.readInt(confPath(iface, "log_martians"));
  if (!all || !own) {
    return std::nullopt;
  }
  return static_cast<int>(std::max(*all, *own));
}

// Each refused leg (up to kPathsShown) with the kernel's answer and, with the route back, why.
void addDropEvidence(const CheckContext& c, const std::vector<Drop>& list, Finding& f) {
  for (size_t k = 0; k < list.size(); ++k) {
    const Drop& d = list[k];
    if (k == kPathsShown) {
      f.evidence.push_back({"more paths", fmt::format("{} more of the same kind, through "
                                                      "other peers",
                                                      list.size() - kPathsShown)});
      break;
    }
    f.evidence.push_back({"path", fmt::format("{}; {}", d.probe.path, d.probe.leg)});
    f.evidence.push_back(
        {"kernel answer", fmt::format("{} -> {}", d.probe.command(), kernelAnswer(d.error))});
    auto back = c.nl.routeGet(d.probe.src);
    f.evidence.push_back(
        {"route back",
         back ? fmt::format("{} dev {}", d.probe.src.toString(), linkNameOf(c, back->oif))
              : fmt::format("{}: none ({})", d.probe.src.toString(), back.error().message)});
  }
}

// The finding for the legs reverse-path filtering drops on one interface; fixable (loose mode)
// where the mode is strict.
Finding rpFilterFinding(const CheckContext& c, const std::string& iface,
                        const std::vector<Drop>& list, const std::string& counterText) {
  auto rp = c.fs.rpFilter(iface);
  Finding f;
  f.check = "rp_filter";
  f.severity = Severity::kError;
  f.subject = iface;
  const bool strict = rp && rp->effective() == 1;
  f.title = strict ? fmt::format(
                         "strict reverse-path filtering drops overlay traffic arriving "
                         "on {}",
                         iface)
                   : fmt::format(
                         "reverse-path filtering drops overlay traffic arriving on {}: "
                         "no route back to the source",
                         iface);
  f.explanation = fmt::format(
      "{} path(s) deliver packets to {} from a source whose route back leaves through another "
      "interface. The kernel's reverse-path check drops them as spoofed, so the connection "
      "hangs, with nothing in the logs unless log_martians is on. (Recent kernels answer such "
      "a route query with EINVAL, older ones with EXDEV.)",
      list.size(), iface);
  if (strict) {
    f.explanation += fmt::format(
        "\nLoose mode (2) on {} accepts a source that is reachable through any interface; "
        "`network.masquerade: off-cluster` would remove the asymmetry instead.",
        iface);
  }
  f.evidence.push_back(
      {"rp_filter", rp ? rp->describe(iface) : "unreadable: " + rp.error().message});
  // What re-applies a value at boot or when the interface is re-created.
  for (const auto& d : findSysctlDirectives(c.cfg.sysctlSources, iface, "rp_filter")) {
    f.evidence.push_back({"sysctl.d", d.toString()});
  }
  addDropEvidence(c, list, f);
  f.evidence.push_back({"IPReversePathFilter", counterText});
  if (auto lm = logMartians(c.fs, iface)) {
    f.evidence.push_back({"log_martians", std::to_string(*lm)});
  }
  if (strict) {
    f.fixCommand = fmt::format("sysctl -w {}=2", confKey(iface, "rp_filter"));
    f.fixable = true;
    f.fix = Fix{Fix::Kind::kRpFilterLoose, iface};
  } else {
    f.fixCommand = "add a route back to the source through " + iface;
  }
  return f;
}

// The finding for the legs the kernel refuses on one interface for another reason.
Finding unroutedFinding(const std::string& iface, const std::vector<Drop>& list) {
  Finding f;
  f.check = "route";
  f.severity = Severity::kError;
  f.subject = iface;
  f.title = fmt::format("the kernel would not route overlay traffic arriving on {}", iface);
  f.explanation = "The input route lookup for these packets fails, so they are dropped.";
  for (size_t k = 0; k < list.size(); ++k) {
    const Drop& d = list[k];
    if (k == kPathsShown) {
      f.evidence.push_back(
          {"more paths", fmt::format("{} more of the same kind", list.size() - kPathsShown)});
      break;
    }
    f.evidence.push_back({"path", fmt::format("{}; {}", d.probe.path, d.probe.leg)});
    f.evidence.push_back(
        {"kernel answer", fmt::format("{} -> {}", d.probe.command(), kernelAnswer(d.error))});
  }
  return f;
}

// log_martians: drops that happen without a trace. Nothing when every interface that drops
// logs them (or none drops).
std::optional<Finding> logMartiansNote(HostFs& fs, const DropsByIface& drops,
                                       const std::string& counterText) {
  std::vector<std::string> silent;
  for (const auto& [iface, list] : drops) {
    if (auto lm = logMartians(fs, iface); lm && *lm == 0) {
      silent.push_back(iface);
    }
  }
  if (silent.empty()) {
    return std::nullopt;
  }
  Finding f;
  f.check = "log_martians";
  f.severity = Severity::kInfo;
  f.subject = fmt::format("{}", fmt::join(silent, ", "));
  f.title = "log_martians is off while reverse-path drops happen";
  f.explanation =
      "The kernel logs packets it drops as martians only with log_martians on; without it the "
      "drops above leave no trace but the IPReversePathFilter counter.";
  f.evidence.push_back({"IPReversePathFilter", counterText});
  std::vector<std::string> cmds;
  for (const auto& i : silent) {
    cmds.push_back(fmt::format("sysctl -w {}=1", confKey(i, "log_martians")));
  }
  f.fixCommand = fmt::format("{}", fmt::join(cmds, "; "));
  return f;
}

}  // namespace

void checkRpFilter(const CheckContext& c, Report& r) {
  r.checksRun.push_back("rp_filter");
  const ProbeOutcome out = probePaths(c, planProbes(pathInputs(c)));
  for (const auto& name : out.missing) {
    r.notChecked.push_back(
        fmt::format("rp_filter: interface {} does not exist; its paths were not checked", name));
  }
  const std::string counterText = reversePathCounterText(c.fs);
  for (const auto& [iface, list] : out.drops) {
    r.findings.push_back(rpFilterFinding(c, iface, list, counterText));
  }
  // A forwarded leg that ip_forward=0 refuses is the ip_forward check's finding.
  auto forwardingOff = c.fs.readInt("sys/net/ipv4/ip_forward");
  if (!forwardingOff || *forwardingOff != 0) {
    for (const auto& [iface, list] : out.unrouted) {
      r.findings.push_back(unroutedFinding(iface, list));
    }
  }
  if (auto note = logMartiansNote(c.fs, out.drops, counterText)) {
    r.checksRun.push_back("log_martians");
    r.findings.push_back(std::move(*note));
  }
}

}  // namespace ovl::diag
