#include "agent/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <string>

#include "rules/nft_sets.h"

namespace ovl {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// From a millisecond (a delta of one peer) to minutes (a first sync of 10,000 services on a
// loaded host): kube-proxy's sync histograms span the same range.
const prometheus::Histogram::BucketBoundaries kSyncBuckets{
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

constexpr const char* kSyncKinds[] = {"overlay", "services_full", "services_partial"};
constexpr const char* kSubsystems[] = {"overlay", "nftables", "conntrack"};

}  // namespace

AgentMetrics::AgentMetrics(std::string_view version, std::string_view datastore)
    : registry_(std::make_shared<prometheus::Registry>()) {
  BuildGauge()
      .Name("ovl_build_info")
      .Help("Always 1; the version label is the agent's version (git describe at build time)")
      .Register(*registry_)
      .Add({{"version", std::string(version)}})
      .Set(1);
  registerSyncMetrics();
  registerStateMetrics(datastore);
  registerEventCounters();
}

void AgentMetrics::registerSyncMetrics() {
  auto& r = *registry_;
  auto& sync = BuildHistogram()
                   .Name("ovl_sync_duration_seconds")
                   .Help(
                       "Time a pass spent bringing the kernel in step with the plan, by kind: "
                       "overlay (VTEP, bridge, routes, FDB, neighbours), services_full (NAT "
                       "table compared in full), services_partial (changed services only)")
                   .Register(r);
  for (const char* k : kSyncKinds) {
    sync_.push_back(&sync.Add({{"kind", k}}, kSyncBuckets));
  }
  lastSuccess_ = &BuildGauge()
                      .Name("ovl_sync_last_success_timestamp_seconds")
                      .Help(
                          "Unix time at which the last pass that converged (overlay and "
                          "services both programmed) ended")
                      .Register(r)
                      .Add({});
  programming_ = &BuildHistogram()
                      .Name("ovl_network_programming_duration_seconds")
                      .Help(
                          "From the moment a datastore change reached this agent (the watch "
                          "event or file change was taken by its loop) until the pass that "
                          "programmed it converged (kernel writes acknowledged); unlike "
                          "kube-proxy's it does not include the time before the agent saw it")
                      .Register(r)
                      .Add({}, kSyncBuckets);
}

void AgentMetrics::registerStateMetrics(std::string_view datastore) {
  auto& r = *registry_;
  auto gauge = [&r](const char* name, const char* help) {
    return &BuildGauge().Name(name).Help(help).Register(r).Add({});
  };
  peers_ = gauge("ovl_peers", "Remote nodes whose overlay entries the last converged pass holds");
  services_ = gauge("ovl_services", "Services in the NAT table after the last converged pass");
  endpoints_ = gauge("ovl_endpoints",
                     "Endpoints of the services (datastore plus ovl-cni registrations) after the "
                     "last converged pass");
  elements_ = &BuildGauge()
                   .Name("ovl_nft_elements")
                   .Help("Elements in each map/set of table ip ovl after the last successful sync")
                   .Register(r);
  for (size_t i = 0; i < nft::kSyncedSetCount; ++i) {
    elements_->Add({{"map", nft::setLayouts()[i].name}});
  }
  rpFindings_ = gauge("ovl_rp_filter_findings",
                      "Current rp_filter findings on ovl's paths that are not fixed");
  datastoreUp_ = &BuildGauge()
                      .Name("ovl_datastore_up")
                      .Help(
                          "1 when the datastore is healthy, 0 while it has a problem (etcd "
                          "unreachable, lease lost; the data plane keeps the last snapshot)")
                      .Register(r)
                      .Add({{"datastore", std::string(datastore)}});
  datastoreUp_->Set(1);
  cniCurrent_ = gauge("ovl_cni_registrations", "ovl-cni endpoint registrations on this node");
}

void AgentMetrics::registerEventCounters() {
  auto& r = *registry_;
  auto& errors = BuildCounter()
                     .Name("ovl_kernel_errors_total")
                     .Help(
                         "Kernel operations of a pass that failed (a write, or the read-back it "
                         "needed), by subsystem")
                     .Register(r);
  for (const char* s : kSubsystems) {
    kernelErrors_.push_back(&errors.Add({{"subsystem", s}}));
  }
  auto& drift = BuildCounter()
                    .Name("ovl_drift_repairs_total")
                    .Help(
                        "Objects a pass found changed or missing under the agent (against an "
                        "unchanged plan it had converged to) and wrote back, by kind")
                    .Register(r);
  for (auto k : kDriftKinds) {
    drift_.push_back(&drift.Add({{"kind", std::string(k)}}));
  }
  auto counter = [&r](const char* name, const char* help) {
    return &BuildCounter().Name(name).Help(help).Register(r).Add({});
  };
  rpFixes_ =
      counter("ovl_rp_filter_fixes_total",
              "rp_filter findings the agent fixed by making interfaces loose (rpFilter: fix)");
  watchRestarts_ = counter("ovl_etcd_watch_restarts_total",
                           "etcd watch streams that broke or were compacted and were opened again");
  leaseLosses_ = counter("ovl_etcd_lease_losses_total",
                         "Times this node's etcd lease was found expired or revoked, so the node "
                         "registered again");
  vxlanDropped_ =
      counter("ovl_vxlan_dropped_packets_total",
              "VXLAN packets (UDP to network.port) from sources that are not cluster "
              "nodes, dropped by the allow-list in table ip ovl (the kernel's counter)");
  auto& cni = BuildCounter()
                  .Name("ovl_cni_registrations_total")
                  .Help(
                      "ovl-cni endpoint registrations the agent saw appear (add, a CNI ADD) and "
                      "disappear (del, a CNI DEL)")
                  .Register(r);
  cniAdds_ = &cni.Add({{"operation", "add"}});
  cniDels_ = &cni.Add({{"operation", "del"}});
}

AgentMetrics::~AgentMetrics() = default;

void AgentMetrics::observeSync(SyncKind kind, std::chrono::duration<double> took) {
  sync_[static_cast<size_t>(kind)]->Observe(took.count());
}

void AgentMetrics::passSucceeded(std::chrono::system_clock::time_point at) {
  lastSuccess_->Set(std::chrono::duration<double>(at.time_since_epoch()).count());
}

void AgentMetrics::observeProgramming(std::chrono::duration<double> took) {
  programming_->Observe(took.count());
}

void AgentMetrics::setProgrammed(size_t peers, size_t services, size_t endpoints) {
  peers_->Set(static_cast<double>(peers));
  services_->Set(static_cast<double>(services));
  endpoints_->Set(static_cast<double>(endpoints));
}

void AgentMetrics::setNftElements(std::string_view map, size_t count) {
  elements_->Add({{"map", std::string(map)}}).Set(static_cast<double>(count));
}

void AgentMetrics::kernelErrors(Subsystem subsystem, size_t count) {
  kernelErrors_[static_cast<size_t>(subsystem)]->Increment(static_cast<double>(count));
}

void AgentMetrics::driftRepaired(Drift kind, size_t count) {
  drift_[static_cast<size_t>(kind)]->Increment(static_cast<double>(count));
}

void AgentMetrics::setRpFilterFindings(size_t current) {
  rpFindings_->Set(static_cast<double>(current));
}

void AgentMetrics::rpFilterFixed(size_t count) {
  rpFixes_->Increment(static_cast<double>(count));
}

void AgentMetrics::setDatastoreUp(bool up) {
  datastoreUp_->Set(up ? 1 : 0);
}

void AgentMetrics::datastoreTotals(uint64_t watchRestarts, uint64_t leaseLosses) {
  if (watchRestarts > watchRestartsSeen_) {
    watchRestarts_->Increment(static_cast<double>(watchRestarts - watchRestartsSeen_));
    watchRestartsSeen_ = watchRestarts;
  }
  if (leaseLosses > leaseLossesSeen_) {
    leaseLosses_->Increment(static_cast<double>(leaseLosses - leaseLossesSeen_));
    leaseLossesSeen_ = leaseLosses;
  }
}

void AgentMetrics::vxlanDropped(uint64_t kernelTotal) {
  const uint64_t grown = vxlanDroppedSeen_ && kernelTotal >= *vxlanDroppedSeen_
                             ? kernelTotal - *vxlanDroppedSeen_
                             : kernelTotal;
  if (grown > 0) {
    vxlanDropped_->Increment(static_cast<double>(grown));
  }
  vxlanDroppedSeen_ = kernelTotal;
}

void AgentMetrics::cniRegistrations(size_t added, size_t removed, size_t current) {
  cniAdds_->Increment(static_cast<double>(added));
  cniDels_->Increment(static_cast<double>(removed));
  cniCurrent_->Set(static_cast<double>(current));
}

std::string AgentMetrics::text() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace ovl
