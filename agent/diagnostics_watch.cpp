#include "agent/diagnostics_watch.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "diagnostics/sysctl.h"
#include "netlink/netlink.h"

namespace ovl {

namespace {
constexpr size_t kPeersSampled = 8;

std::string oneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}
}  // namespace

void DiagnosticsWatch::setCluster(const NetworkConfig& network,
                                  const std::vector<svc::Service>& services) {
  network_ = network;
  servicesSource_ = &services;
  servicesStale_ = true;
  linkChanged_ = true;  // the paths may have changed
}

void DiagnosticsWatch::afterPass(const OverlayPlan& plan) {
  const bool rpFilter = cfg_.rpFilter != "off";
  const auto now = std::chrono::steady_clock::now();
  const bool full = now >= nextFull_;
  if (!full && !(linkChanged_ && rpFilter)) {
    return;
  }
  linkChanged_ = false;
  auto netlink = nl::Netlink::create();
  if (!netlink) {
    spdlog::warn("diagnostics: {}", netlink.error().message);
    return;
  }
  diag::ProcFs fs;
  // The agent keeps its own nftables table: its check is left to `ovlctl diagnose`.
  // Paths differ between peers only in their addresses: a sample of peers tells which
  // interfaces drop, without thousands of route queries on every link event.
  diag::CheckerConfig checks;
  checks.maxPeers = kPeersSampled;
  checks.rpFilter = rpFilter;
  diag::Checker checker(*netlink, fs, checks);
  if (servicesStale_ && servicesSource_ != nullptr) {
    services_ = diag::summarize(*servicesSource_);
    servicesStale_ = false;
  }
  const diag::NodeModel model{&cfg_, &plan, network_, services_, nullptr};
  diag::Report r = full ? checker.run(model) : checker.runRpFilter(model);
  if (full) {
    nextFull_ = now + std::chrono::seconds(cfg_.resyncSeconds);
  }
  if (cfg_.rpFilter == "fix") {
    checker.fix(r, model, diag::FixScope::kRpFilterOnly);
  }
  report(r, full);
  count(r);
}

// Both kinds of run check rp_filter (unless it is off), so each sets the current count.
void DiagnosticsWatch::count(const diag::Report& r) {
  if (metrics_ == nullptr) {
    return;
  }
  size_t findings = 0;
  size_t fixed = 0;
  for (const auto& f : r.findings) {
    if (f.check == "rp_filter") {
      (f.fixed ? fixed : findings) += 1;
    }
  }
  metrics_->setRpFilterFindings(findings);
  metrics_->rpFilterFixed(fixed);
}

void DiagnosticsWatch::report(diag::Report& r, bool full) {
  std::set<std::string> present;
  for (const auto& f : r.findings) {
    if (f.fixed) {
      continue;
    }
    present.insert(f.key());
    if (logged_.emplace(f.key(), fmt::format("[{}] {}: {}", f.check, f.subject, f.title)).second) {
      const auto level =
          f.severity == diag::Severity::kInfo ? spdlog::level::info : spdlog::level::warn;
      spdlog::log(level, "diagnose [{}] {}: {}. {}{}", f.check, f.subject, f.title,
                  oneLine(f.explanation), f.fixCommand.empty() ? "" : " Fix: " + f.fixCommand);
    }
  }
  for (const auto& f : r.findings) {
    if (f.fixed && f.fixable) {
      std::string evidence;
      for (const auto& [k, v] : f.evidence) {
        if (k == "rp_filter" || k == "path" || k == "kernel answer") {
          evidence += " " + k + ": " + v + ";";
        }
      }
      spdlog::warn("diagnose [{}] {}: {}. {} Fixed (rpFilter: fix):{}", f.check, f.subject, f.title,
                   oneLine(f.explanation), evidence);
    }
  }
  for (const auto& a : r.actions) {
    spdlog::warn("diagnose: {}", a);
  }
  for (const auto& n : r.notChecked) {
    spdlog::debug("diagnose: not checked: {}", n);
  }
  // A link-event run checks rp_filter only: it settles only rp_filter findings.
  for (auto it = logged_.begin(); it != logged_.end();) {
    const std::string& key = it->first;
    const bool inScope = full || key.rfind("rp_filter|", 0) == 0 ||
                         key.rfind("log_martians|", 0) == 0 || key.rfind("route|", 0) == 0;
    if (inScope && !present.contains(key)) {
      spdlog::info("diagnose: resolved: {}", it->second);
      it = logged_.erase(it);
    } else {
      ++it;
    }
  }
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : r.findings) {
    findings.push_back(diag::toJson(f));
  }
  health_.setFindings(std::move(findings), full);
}

}  // namespace ovl
