// The `etcd` datastore (key layout: datastore/etcd_keys.h). Two threads talk to etcd; the agent's
// loop takes the changes through fd()/nextChange(): a whole snapshot, or only the services that
// changed when nothing else did.
//
//  - The session thread registers this node (EtcdNodeSession: lease, subnet claim, node record)
//    and renews the lease every TTL/3. When etcd says the lease is gone (expired while etcd was
//    unreachable, or revoked) it registers again, claiming its previous subnet first. It also
//    writes the node's readiness.
//  - The watch thread lists the prefix at a revision, then watches from that revision + 1,
//    applying each batch of events to the stored documents; the agent's thread builds a snapshot
//    (or the services' difference) from them when it asks (nextChange), so a burst costs one
//    build. A broken stream is
//    resumed from the last revision seen + 1 on the next endpoint; a compacted revision leads to
//    a new list, so a change is never missed nor applied twice. A member that vanished without
//    closing the connection is noticed by gRPC's keepalive pings (etcd/client.cpp).
//
// Node records are vetted (model/node_identity.h: own name, subnet claimed on its own lease, the
// older record keeps a contested value). This node's own record never comes from etcd: the
// snapshot carries what the agent knows of itself, and when its record or claim in etcd is
// changed by someone else, the session thread writes them back and the change is reported.
//
// While etcd is unreachable the last snapshot stays in force (the data plane keeps running) and
// problem() says what is wrong, which makes the agent report itself not ready.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "datastore/datastore.h"
#include "datastore/etcd_keys.h"
#include "datastore/etcd_session.h"
#include "etcd/client.h"

namespace ovl {

// The client options agent.yaml's etcd section describes.
etcd::ClientOptions etcdClientOptions(const EtcdConfig& cfg);

class EtcdDatastore final : public Datastore {
 public:
  static constexpr std::chrono::seconds kStartTimeout{30};
  // How long a change of this node's own keys by someone else stays in the reported issues
  // (/readyz configIssues) after it was written back: long enough for a probe to see it.
  static constexpr std::chrono::seconds kSelfIssueTime{300};

  static Result<std::unique_ptr<EtcdDatastore>> create(const AgentConfig& cfg);
  ~EtcdDatastore() override;
  EtcdDatastore(const EtcdDatastore&) = delete;
  EtcdDatastore& operator=(const EtcdDatastore&) = delete;

  Status start() override;
  int fd() const override { return event_.get(); }
  bool maybeChanged() override;
  std::optional<ClusterLoad> loadIfChanged() override;
  std::optional<ClusterChange> nextChange() override;
  std::string describe() const override;
  std::string problem() const override;
  void reportReady(bool ready) override;
  DatastoreCounters counters() const override {
    return {watchRestarts_.load(), leaseLosses_.load()};
  }

  // For `ovl-agent --cleanup`: revokes the lease of the last run (kept in stateDir), so peers
  // drop this node at once; and reads the network settings.
  static Status deregister(const AgentConfig& cfg);
  static Result<NetworkConfig> readNetwork(const AgentConfig& cfg);

 private:
  using Clock = std::chrono::steady_clock;
  EtcdDatastore(const AgentConfig& cfg, std::unique_ptr<etcd::Client> client, UniqueFd event);

  // The session thread: registration, lease renewal at TTL/3, readiness writes.
  void sessionLoop();
  bool registerNode(std::optional<NetworkConfig>& network);  // false: failed, retry
  bool renewLease(Clock::time_point& lastRenewal);  // false: the lease is gone, register again
  bool writeReadinessUntilNextRenewal();            // false: stopping
  void sessionFailed(const Error& e);
  // The watch thread: a list, then a watch from its revision; a list again after a compaction.
  enum class WatchEnd { kBroken, kCompacted, kStopping };
  void watchLoop();
  Result<int64_t> listAll();
  WatchEnd follow(etcd::Watch& w, int64_t& revision);
  void setWatchProblem(const std::string& problem);
  // A new state of docs_ at `revision` (mu_ held): wakes the agent.
  void changed(int64_t revision);
  // docs_ or the issues changed at the same revision (mu_ held): a new snapshot is due.
  void republish();
  // This node's own record in docs_ as it knows itself, not as etcd holds it (mu_ held).
  void putSelfRecord();
  // The session thread: this node's record and claim compared with the truth, written back and
  // reported (selfIssues_) when someone changed them.
  void repairOwnKeys();
  void expireSelfIssues();  // mu_ held
  void wake() const;
  // Waits up to `d` or until stopping; false when stopping.
  bool pause(std::chrono::milliseconds d);

  AgentConfig cfg_;
  std::unique_ptr<etcd::Client> client_;
  EtcdKeys keys_;
  EtcdNodeSession session_;  // used by the session thread only (and before it starts)
  UniqueFd event_;           // eventfd: a new snapshot or a health change

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool registered_ = false;  // at least once
  std::optional<Error> fatal_;
  ClusterDocuments docs_;  // what etcd holds under the prefix, as documents
  int64_t docsRevision_ = 0;
  bool dirty_ = false;      // docs_ changed since the last snapshot
  bool published_ = false;  // listed at least once
  std::string sessionProblem_;
  std::string watchProblem_;
  bool wantReady_ = false;
  bool writtenReady_ = false;
  // What this node knows of itself once registered (its claim's subnet and its lease), for the
  // watch thread, which keeps etcd's version of this node's record out of docs_.
  std::optional<Ipv4Prefix> selfSubnet_;
  int64_t selfLease_ = 0;
  bool checkSelf_ = false;               // its record or claim changed: compare with the truth
  std::vector<ConfigIssue> selfIssues_;  // someone changed them: said until selfIssuesUntil_
  Clock::time_point selfIssuesUntil_{};
  etcd::Watch* watch_ = nullptr;            // the open watch stream, to cancel it when stopping
  std::atomic<uint64_t> watchRestarts_{0};  // counters(): written by the threads, read by the agent
  std::atomic<uint64_t> leaseLosses_{0};

  std::thread sessionThread_;
  std::thread watchThread_;
};

}  // namespace ovl
