// A node's membership in an etcd-backed cluster: its lease, its claimed pod subnet and its node
// record, both bound to the lease, so that etcd deletes them when the node stops renewing it.
//
// register_() grants a lease (or adopts the one this node held before a restart, if etcd still
// has it), claims a subnet with a transaction that succeeds only if the subnet key is absent (or
// already names this node), trying the subnet kept in the state directory first, and writes the
// node record. keepAlive() renews the lease; the caller does it every TTL/3. With a pinned subnet
// (etcd.podSubnet) only that one is claimed. What the node believes about itself never comes
// from etcd: repairOwnKeys() writes its record and claim back when someone changed them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "datastore/etcd_keys.h"
#include "etcd/client.h"
#include "model/cluster.h"

namespace ovl {

struct NodeIdentity {
  std::string name;
  Ipv4 underlayIp;
  // The only subnet to claim (agent.yaml's etcd.podSubnet, where the node's etcd role allows
  // writing that claim alone); unset = any free one.
  std::optional<Ipv4Prefix> pinnedSubnet;
};

class EtcdNodeSession {
 public:
  // stateDir "" = keep no state (the load generator).
  EtcdNodeSession(etcd::Client& client, EtcdKeys keys, NodeIdentity self, int leaseTtlSeconds,
                  std::string stateDir);

  // The network settings stored at <prefix>/config (EINVAL when missing or invalid, with the
  // problems; ENOTCONN/ETIMEDOUT when etcd does not answer).
  Result<NetworkConfig> readNetwork();
  // Registers (see above). ENOSPC: every subnet is taken.
  Status registerNode(const NetworkConfig& network);
  // Renews the lease. false: the lease is gone (expired or revoked): register again.
  Result<bool> keepAlive();
  // Rewrites the node record with this readiness.
  Status setReady(bool ready);
  // Compares this node's record and subnet claim in etcd with what it knows of itself (its
  // name, underlay IP, subnet and lease; etcd_keys.h's nodeRecordDrift), and writes back both
  // when either differs or is missing. Returns what differed ("" = nothing).
  Result<std::string> repairOwnKeys();
  // Revokes the lease (etcd deletes the record and the subnet claim at once).
  Status revoke();

  int64_t lease() const { return lease_; }
  const std::optional<Ipv4Prefix>& subnet() const { return subnet_; }
  int leaseTtlSeconds() const { return ttl_; }

  // The lease id kept in stateDir by an earlier run (0 = none).
  static int64_t savedLease(const std::string& stateDir);
  static std::optional<Ipv4Prefix> savedSubnet(const std::string& stateDir);

 private:
  Result<std::optional<Ipv4Prefix>> claim(const NetworkConfig& network);
  Result<std::optional<Ipv4Prefix>> claimPinned(const NetworkConfig& network);
  std::vector<etcd::TxnOp> claimWrites(const Ipv4Prefix& subnet) const;
  void save() const;

  etcd::Client& client_;
  EtcdKeys keys_;
  NodeIdentity self_;
  int ttl_;
  std::string stateDir_;
  int64_t lease_ = 0;
  std::optional<Ipv4Prefix> subnet_;
  bool ready_ = false;
};

}  // namespace ovl
