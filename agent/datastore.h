// Where the cluster (network, nodes, services) comes from. Every datastore lists a snapshot at a
// revision, then watches the changes from that revision; the agent's loop sees only whole
// snapshots (level-triggered: it converges the kernel to the latest one, whatever changed).
//
// Implementations: FileDatastore (a YAML file watched with inotify) and EtcdDatastore (etcd v3:
// the node registers itself on a lease, claims a pod subnet and watches the prefix).
#pragma once

#include <optional>
#include <string>

#include "agent/config.h"
#include "common/result.h"

namespace ovl {

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
  // What it reads, for messages: "cluster file /etc/ovl/cluster.yaml", "etcd 10.0.0.1:2379".
  virtual std::string describe() const = 0;
  // Why the datastore is not healthy right now ("" = it is): etcd unreachable, lease lost.
  // The data plane keeps running on the last snapshot meanwhile.
  virtual std::string problem() const { return ""; }
  // This node's readiness (the kernel holds the current plan), for datastores that publish it.
  virtual void reportReady(bool ready) { (void)ready; }
};

}  // namespace ovl
