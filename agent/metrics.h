// AgentMetrics: ovl-agent's Prometheus metrics (prometheus-cpp's registry), what the run loop and
// the diagnostics watch record in them, and their text exposition for GET /metrics on the health
// listener. The loop calls the record methods; the HTTP thread calls text(). Every series the agent
// can have exists from the start (at 0), so rates and increases work from the first scrape.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
class Histogram;
template <typename T>
class Family;
}  // namespace prometheus

namespace ovl {

class AgentMetrics {
 public:
  // What a sync duration was measured for: the overlay's reconcile, or a NAT sync that compared
  // the whole table (a full sync: first sync, read-back, resync) or only the changed keys.
  enum class SyncKind { kOverlay, kServicesFull, kServicesPartial };
  // Who refused a kernel operation.
  enum class Subsystem { kOverlay, kNftables, kConntrack };
  // What kind of object a pass wrote back after someone changed it (kDriftKinds names them).
  enum class Drift { kLink, kRoute, kFdb, kNeighbour, kNftElement, kNftChain };

  // version: ovl_build_info's label. datastore: "file" or "etcd", the label of ovl_datastore_up.
  AgentMetrics(std::string_view version, std::string_view datastore);
  ~AgentMetrics();
  AgentMetrics(const AgentMetrics&) = delete;
  AgentMetrics& operator=(const AgentMetrics&) = delete;

  void observeSync(SyncKind kind, std::chrono::duration<double> took);
  // A pass converged: the kernel holds the plan; wall-clock time of its end.
  void passSucceeded(std::chrono::system_clock::time_point at);
  // From the datastore change reaching the agent to the end of the pass that programmed it.
  void observeProgramming(std::chrono::duration<double> took);
  void setProgrammed(size_t peers, size_t services, size_t endpoints);
  // The elements of one of table ip ovl's maps/sets (rules/nft_sets.h names), after a sync.
  void setNftElements(std::string_view map, size_t count);
  void kernelErrors(Subsystem subsystem, size_t count);
  void driftRepaired(Drift kind, size_t count);
  void setRpFilterFindings(size_t current);
  void rpFilterFixed(size_t count);
  void setDatastoreUp(bool up);
  // The datastore's own totals (datastore.h DatastoreCounters); the counters follow them.
  void datastoreTotals(uint64_t watchRestarts, uint64_t leaseLosses);
  // The kernel's count of VXLAN packets the allow-list dropped (rules/vxlan_allow.h), as read.
  // ovl_vxlan_dropped_packets_total follows it: it starts at the kernel's value and grows by
  // what the kernel's grew; when the kernel's restarts lower (its rule was re-created: a port
  // change, a repair), it grows by the new value, so the metric never goes down.
  void vxlanDropped(uint64_t kernelTotal);
  // ovl-cni registrations that appeared and disappeared since the last read; `current` in all.
  void cniRegistrations(size_t added, size_t removed, size_t current);

  // The Prometheus text exposition format (version 0.0.4) of every metric.
  std::string text() const;

  // The label values of ovl_drift_repairs_total, in the order of Drift.
  static constexpr std::string_view kDriftKinds[] = {"link",      "route",       "fdb",
                                                     "neighbour", "nft_element", "nft_chain"};

 private:
  void registerSyncMetrics();
  void registerStateMetrics(std::string_view datastore);
  void registerEventCounters();

  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<prometheus::Histogram*> sync_;  // by SyncKind
  prometheus::Gauge* lastSuccess_;
  prometheus::Histogram* programming_;
  prometheus::Gauge* peers_;
  prometheus::Gauge* services_;
  prometheus::Gauge* endpoints_;
  prometheus::Family<prometheus::Gauge>* elements_;
  std::vector<prometheus::Counter*> kernelErrors_;  // by Subsystem
  std::vector<prometheus::Counter*> drift_;         // by Drift
  prometheus::Gauge* rpFindings_;
  prometheus::Counter* rpFixes_;
  prometheus::Gauge* datastoreUp_;
  prometheus::Counter* watchRestarts_;
  prometheus::Counter* leaseLosses_;
  uint64_t watchRestartsSeen_ = 0;  // the datastore's totals as last followed
  uint64_t leaseLossesSeen_ = 0;
  prometheus::Counter* vxlanDropped_;
  std::optional<uint64_t> vxlanDroppedSeen_;  // the kernel's count as last followed
  prometheus::Counter* cniAdds_;
  prometheus::Counter* cniDels_;
  prometheus::Gauge* cniCurrent_;
};

}  // namespace ovl
