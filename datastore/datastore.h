// datastore/: where the cluster comes from: this interface, the file datastore and the etcd
// datastore (registration on a lease, subnet claim, watch). Includes common/, model/ and etcd/.
//
// Where the cluster (network, nodes, services) comes from. Every datastore lists a snapshot at a
// revision, then watches the changes from that revision; the agent's loop converges the kernel to
// the latest state, whatever changed (level-triggered). A datastore that stores services apart
// (etcd) may hand over only the services that changed since the last snapshot or change, so a
// change to one service of 10,000 costs the agent one service's work.
//
// Implementations: FileDatastore (a YAML file watched with inotify) and EtcdDatastore (etcd v3:
// the node registers itself on a lease, claims a pod subnet and watches the prefix).
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "model/config.h"

namespace ovl {

// The services that changed since the last snapshot or delta, network and nodes unchanged.
struct ServiceDelta {
  std::vector<svc::Service> upserts;  // accepted now, new or changed
  std::vector<std::string> removed;   // ids no longer accepted
  std::vector<ConfigIssue> issues;    // every current problem of the cluster, as in a snapshot
  uint64_t revision = 0;
};
using ClusterChange = std::variant<ClusterLoad, ServiceDelta>;

// How often the datastore lost its footing since it started, for the agent's metrics: totals
// that only grow (0 for a datastore without a watch stream or a lease).
struct DatastoreCounters {
  uint64_t watchRestarts = 0;  // a watch stream that broke or was compacted, then opened again
  uint64_t leaseLosses = 0;    // the node's lease found expired or revoked, so it re-registered
};

class Datastore {
 public:
  virtual ~Datastore() = default;

  // Gets the first snapshot within reach: for etcd, registers this node and claims its subnet.
  // An error here stops the agent (a refused certificate, an exhausted pool, an etcd that does
  // not answer within the start-up time).
  virtual Status start() { return okStatus(); }
  // Readable (POLLIN) when the cluster or the datastore's health may have changed.
  virtual int fd() const = 0;
  // Drains fd(); true when the cluster may have changed.
  virtual bool maybeChanged() = 0;
  // The latest snapshot, when it differs from the one returned last (or on the first call).
  virtual std::optional<ClusterLoad> loadIfChanged() = 0;
  // What changed since the last call: nothing, a whole snapshot (always the first time), or
  // only some services.
  virtual std::optional<ClusterChange> nextChange() {
    auto load = loadIfChanged();
    if (!load) {
      return std::nullopt;
    }
    return ClusterChange{std::move(*load)};
  }
  // What it reads, for messages: "cluster file /etc/ovl/cluster.yaml", "etcd 10.0.0.1:2379".
  virtual std::string describe() const = 0;
  // Why the datastore is not healthy right now ("" = it is): etcd unreachable, lease lost.
  // The data plane keeps running on the last snapshot meanwhile.
  virtual std::string problem() const { return ""; }
  // This node's readiness (the kernel holds the current plan), for datastores that publish it.
  virtual void reportReady(bool ready) { (void)ready; }
  // Safe to call from the agent's thread while the datastore's own threads run.
  virtual DatastoreCounters counters() const { return {}; }
};

}  // namespace ovl
