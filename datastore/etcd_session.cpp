#include "datastore/etcd_session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "model/config.h"

namespace ovl {

namespace {

constexpr int kMaxClaimAttempts = 64;  // each lost race marks one more subnet taken
constexpr const char* kLeaseFile = "etcd-lease";
constexpr const char* kSubnetFile = "subnet";

std::string readSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

// Written to a temporary name, then renamed: a crash never leaves half a file.
void writeSmallFile(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << "\n";
    if (!out) {
      spdlog::warn("cannot write {}", tmp);
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    spdlog::warn("cannot rename {} to {}: {}", tmp, path, ec.message());
  }
}

}  // namespace

EtcdNodeSession::EtcdNodeSession(etcd::Client& client, EtcdKeys keys, NodeIdentity self,
                                 int leaseTtlSeconds, std::string stateDir)
    : client_(client),
      keys_(std::move(keys)),
      self_(std::move(self)),
      ttl_(leaseTtlSeconds),
      stateDir_(std::move(stateDir)) {
  if (!stateDir_.empty()) {
    subnet_ = savedSubnet(stateDir_);
  }
}

int64_t EtcdNodeSession::savedLease(const std::string& stateDir) {
  const std::string text = readSmallFile(stateDir + "/" + kLeaseFile);
  if (text.empty()) {
    return 0;
  }
  try {
    return static_cast<int64_t>(std::stoull(text, nullptr, 16));
  } catch (const std::exception&) {
    return 0;
  }
}

std::optional<Ipv4Prefix> EtcdNodeSession::savedSubnet(const std::string& stateDir) {
  return Ipv4Prefix::parse(readSmallFile(stateDir + "/" + kSubnetFile));
}

void EtcdNodeSession::save() const {
  if (stateDir_.empty()) {
    return;
  }
  writeSmallFile(stateDir_ + "/" + kLeaseFile, fmt::format("{:x}", lease_));
  if (subnet_) {
    writeSmallFile(stateDir_ + "/" + kSubnetFile, subnet_->toString());
  }
}

Result<NetworkConfig> EtcdNodeSession::readNetwork() {
  auto r = client_.range(keys_.config());
  if (!r) {
    return r.error();
  }
  if (r->kvs.empty()) {
    return Error{EINVAL,
                 fmt::format("etcd key {} is missing: store the network settings there (the "
                             "cluster file's network section as YAML or JSON), for example "
                             "etcdctl put {} '{{podCIDR: 10.244.0.0/16, serviceCIDR: "
                             "10.96.0.0/12}}'",
                             keys_.config(), keys_.config())};
  }
  ClusterDocuments docs(keys_.config());
  docs.setNetwork(keys_.config(), r->kvs[0].value);
  ClusterLoad load = docs.build();
  if (load.fatal) {
    std::string text;
    for (const auto& line : issueLines(load.issues)) {
      text += (text.empty() ? "" : "; ") + line;
    }
    return Error{EINVAL, fmt::format("the network settings in etcd are not usable: {}", text)};
  }
  return load.cluster.network;
}

std::vector<etcd::TxnOp> EtcdNodeSession::claimWrites(const Ipv4Prefix& subnet) const {
  return {etcd::TxnOp::put(keys_.subnet(subnet), self_.name, lease_),
          etcd::TxnOp::put(keys_.node(self_.name),
                           encodeNodeRecord(self_.name, self_.underlayIp, subnet, ready_), lease_)};
}

// The pinned subnet or nothing: another node's claim on it is waited out (it may be a dead
// node's, expiring with its lease), never answered by claiming another subnet.
Result<std::optional<Ipv4Prefix>> EtcdNodeSession::claimPinned(const NetworkConfig& network) {
  const Ipv4Prefix& pinned = *self_.pinnedSubnet;
  if (pinned.len != network.subnetLength || !network.podCidr.contains(pinned)) {
    return Error{EINVAL, fmt::format("etcd.podSubnet {}: expected a /{} of network.podCIDR {} "
                                     "(the network settings in {})",
                                     pinned.toString(), network.subnetLength,
                                     network.podCidr.toString(), keys_.config())};
  }
  const std::string key = keys_.subnet(pinned);
  auto t = client_.txn({etcd::Compare::absent(key)}, claimWrites(pinned));
  if (t && !t->succeeded) {
    t = client_.txn({etcd::Compare::valueIs(key, self_.name)}, claimWrites(pinned));
  }
  if (!t) {
    return t.error();
  }
  if (t->succeeded) {
    return std::optional<Ipv4Prefix>(pinned);
  }
  auto holder = client_.range(key);
  const std::string who = holder && !holder->kvs.empty() ? holder->kvs[0].value : "?";
  return Error{EADDRINUSE,
               fmt::format("etcd.podSubnet {} is claimed by node '{}' ({}); waiting for that "
                           "claim to go (its lease to expire)",
                           pinned.toString(), who.substr(0, 64), key)};
}

Result<std::optional<Ipv4Prefix>> EtcdNodeSession::claim(const NetworkConfig& network) {
  if (self_.pinnedSubnet) {
    return claimPinned(network);
  }
  auto listed = client_.rangePrefix(keys_.subnets());
  if (!listed) {
    return listed.error();
  }
  std::set<Ipv4Prefix> taken;
  std::optional<Ipv4Prefix> mine;  // a claim that names this node already (an earlier lease)
  for (const auto& kv : listed->kvs) {
    auto p = keys_.subnetOf(kv.key);
    if (!p) {
      continue;
    }
    if (kv.value == self_.name && !mine) {
      mine = p;
    } else {
      taken.insert(*p);
    }
  }
  std::optional<Ipv4Prefix> preferred = subnet_ ? subnet_ : mine;
  if (subnet_ && mine && *mine != *subnet_) {
    taken.insert(*mine);  // an older claim of ours; the kept subnet comes first
  }
  const uint64_t seed = std::hash<std::string>{}(self_.name);
  for (int attempt = 0; attempt < kMaxClaimAttempts; ++attempt) {
    auto candidate = chooseSubnet(network, taken, preferred, seed);
    if (!candidate) {
      return std::optional<Ipv4Prefix>{};
    }
    const std::string key = keys_.subnet(*candidate);
    const std::vector<etcd::TxnOp> writes = claimWrites(*candidate);
    auto t = client_.txn({etcd::Compare::absent(key)}, writes);
    if (!t && t.error().code == EACCES) {
      // Per-node roles (examples/etcd/rbac.sh) allow one claim: the subnet the admin pinned.
      return t.error().withContext(
          fmt::format("claiming {}: this node's etcd user may not write it; if its role allows "
                      "one pinned subnet, set etcd.podSubnet to it in agent.yaml",
                      key));
    }
    if (!t) {
      return t.error();
    }
    if (!t->succeeded) {
      // Taken, perhaps by this node under an earlier lease: then it moves to this lease.
      t = client_.txn({etcd::Compare::valueIs(key, self_.name)}, writes);
      if (!t) {
        return t.error();
      }
    }
    if (t->succeeded) {
      return candidate;
    }
    taken.insert(*candidate);
    preferred.reset();
  }
  return Error{EAGAIN, fmt::format("could not claim a pod subnet after {} attempts: other nodes "
                                   "took each one first",
                                   kMaxClaimAttempts)};
}

Status EtcdNodeSession::registerNode(const NetworkConfig& network) {
  if (lease_ == 0 && !stateDir_.empty()) {
    // After a restart within the TTL, etcd still holds this node's lease: keep it, and nothing
    // about the node changes for its peers.
    if (int64_t saved = savedLease(stateDir_); saved != 0) {
      auto ka = client_.leaseKeepAlive(saved);
      if (ka && ka->ttl > 0) {
        lease_ = saved;
        spdlog::info("etcd: kept lease {:x} of the previous run ({} s left)", saved, ka->ttl);
      }
    }
  }
  if (lease_ == 0) {
    auto granted = client_.leaseGrant(ttl_);
    if (!granted) {
      return granted.error();
    }
    lease_ = granted->id;
  }
  auto claimed = claim(network);
  if (!claimed) {
    return claimed.error();
  }
  if (!*claimed) {
    return Error{ENOSPC,
                 fmt::format("no free /{} left in network.podCIDR {}: all {} subnets are claimed "
                             "(keys under {}); remove stale claims or enlarge podCIDR",
                             network.subnetLength, network.podCidr.toString(), subnetCount(network),
                             keys_.subnets())};
  }
  if (subnet_ && **claimed != *subnet_) {
    spdlog::warn("etcd: pod subnet {} of the previous run is taken; claimed {}",
                 subnet_->toString(), (*claimed)->toString());
  }
  subnet_ = **claimed;
  save();
  return okStatus();
}

Result<bool> EtcdNodeSession::keepAlive() {
  if (lease_ == 0) {
    return false;
  }
  auto ka = client_.leaseKeepAlive(lease_);
  if (!ka) {
    return ka.error();
  }
  if (ka->ttl <= 0) {
    lease_ = 0;
    return false;
  }
  return true;
}

Status EtcdNodeSession::setReady(bool ready) {
  ready_ = ready;
  if (lease_ == 0 || !subnet_) {
    return okStatus();  // written with the record when registering
  }
  auto p = client_.put(keys_.node(self_.name),
                       encodeNodeRecord(self_.name, self_.underlayIp, *subnet_, ready), lease_);
  if (!p) {
    return p.error();
  }
  return okStatus();
}

Result<std::string> EtcdNodeSession::repairOwnKeys() {
  if (lease_ == 0 || !subnet_) {
    return std::string();  // not registered: registering writes both
  }
  const std::string recordKey = keys_.node(self_.name);
  const std::string claimKey = keys_.subnet(*subnet_);
  auto record = client_.range(recordKey);
  if (!record) {
    return record.error();
  }
  auto claimed = client_.range(claimKey);
  if (!claimed) {
    return claimed.error();
  }
  std::string found;
  auto note = [&](const std::string& key, const std::string& what) {
    if (!what.empty()) {
      found += fmt::format("{}{}: {}", found.empty() ? "" : "; ", key, what);
    }
  };
  note(recordKey, record->kvs.empty()
                      ? "missing"
                      : nodeRecordDrift(record->kvs[0].value, record->kvs[0].lease, self_.name,
                                        self_.underlayIp, *subnet_, lease_));
  note(claimKey,
       claimed->kvs.empty()
           ? "missing"
           : subnetClaimDrift(claimed->kvs[0].value, claimed->kvs[0].lease, self_.name, lease_));
  if (found.empty()) {
    return found;
  }
  if (auto t = client_.txn({}, claimWrites(*subnet_)); !t) {
    return t.error().withContext(fmt::format("writing back {} and {}", recordKey, claimKey));
  }
  return found;
}

Status EtcdNodeSession::revoke() {
  if (lease_ == 0) {
    return okStatus();
  }
  auto st = client_.leaseRevoke(lease_);
  if (st) {
    lease_ = 0;
  }
  return st;
}

}  // namespace ovl
