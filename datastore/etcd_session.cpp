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

Result<std::optional<Ipv4Prefix>> EtcdNodeSession::claim(const NetworkConfig& network) {
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
    const std::vector<etcd::TxnOp> writes{
        etcd::TxnOp::put(key, self_.name, lease_),
        etcd::TxnOp::put(keys_.node(self_.name),
                         encodeNodeRecord(self_.name, self_.underlayIp, *candidate, ready_),
                         lease_)};
    auto t = client_.txn({etcd::Compare::absent(key)}, writes);
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
