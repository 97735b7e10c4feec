#include "datastore/etcd_datastore.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace ovl {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kRetry{1000};      // after a failed list, watch or registration
constexpr milliseconds kWatchRetry{200};  // after a broken watch stream (another endpoint)

// Whether an error at start-up is the configuration's (stop the agent) or etcd's availability
// (keep trying).
bool configurationError(const Error& e) {
  return e.code == EACCES || e.code == EINVAL || e.code == ENOSPC;
}

// Applies one key to the documents; `self` is this node's name. This node's own record is not
// taken from etcd (the agent puts in what it knows of itself: putSelfRecord); true when the key
// is that record, which the session thread then compares with the truth.
bool applyKv(const EtcdKeys& keys, ClusterDocuments& docs, const etcd::KeyValue& kv,
             const std::string& self) {
  switch (keys.kindOf(kv.key)) {
    case EtcdKeys::Kind::kConfig:
      docs.setNetwork(kv.key, kv.value);
      break;
    case EtcdKeys::Kind::kNode: {
      const std::string name = kv.key.substr(keys.nodes().size());
      if (name == self) {
        return true;
      }
      docs.setNode(kv.key, kv.value, NodeOrigin{name, kv.lease, kv.createRevision, false});
      break;
    }
    case EtcdKeys::Kind::kSubnet:
      if (auto subnet = keys.subnetOf(kv.key)) {
        docs.setSubnetClaim(*subnet, SubnetClaim{kv.key, kv.value, kv.lease});
      }
      break;
    case EtcdKeys::Kind::kService:
      docs.setService(kv.key, kv.value);
      break;
    case EtcdKeys::Kind::kOther:
      break;
  }
  return false;
}

// The delete of a key; true when it is this node's own record (see applyKv).
bool eraseKv(const EtcdKeys& keys, ClusterDocuments& docs, const std::string& key,
             const std::string& self) {
  switch (keys.kindOf(key)) {
    case EtcdKeys::Kind::kConfig:
      docs.clearNetwork();
      break;
    case EtcdKeys::Kind::kNode:
      if (key == keys.node(self)) {
        return true;
      }
      docs.erase(key);
      break;
    case EtcdKeys::Kind::kSubnet:
      if (auto subnet = keys.subnetOf(key)) {
        docs.eraseSubnetClaim(*subnet);
      }
      break;
    default:
      docs.erase(key);
  }
  return false;
}

}  // namespace

etcd::ClientOptions etcdClientOptions(const EtcdConfig& cfg) {
  etcd::ClientOptions o;
  o.endpoints = cfg.endpoints;
  o.caFile = cfg.caFile;
  o.certFile = cfg.certFile;
  o.keyFile = cfg.keyFile;
  return o;
}

EtcdDatastore::EtcdDatastore(const AgentConfig& cfg, std::unique_ptr<etcd::Client> client,
                             UniqueFd event)
    : cfg_(cfg),
      client_(std::move(client)),
      keys_{cfg.etcd.prefix},
      session_(*client_, keys_,
               NodeIdentity{cfg.nodeName, cfg.underlayIp.value_or(Ipv4{}), cfg.etcd.podSubnet},
               cfg.etcd.leaseTtlSeconds, cfg.stateDir),
      event_(std::move(event)),
      docs_(keys_.config()) {
  docs_.vetNodeRecords();
}

Result<std::unique_ptr<EtcdDatastore>> EtcdDatastore::create(const AgentConfig& cfg) {
  if (!cfg.underlayIp) {
    return Error{EINVAL, fmt::format("{}: underlayIP: required with datastore etcd", cfg.path)};
  }
  auto client = etcd::Client::create(etcdClientOptions(cfg.etcd));
  if (!client) {
    return client.error();
  }
  UniqueFd ev(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!ev.valid()) {
    return Error::sys(errno, "eventfd");
  }
  return std::unique_ptr<EtcdDatastore>(new EtcdDatastore(cfg, std::move(*client), std::move(ev)));
}

EtcdDatastore::~EtcdDatastore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (watch_ != nullptr) {
      watch_->cancel();
    }
  }
  cv_.notify_all();
  if (sessionThread_.joinable()) {
    sessionThread_.join();
  }
  if (watchThread_.joinable()) {
    watchThread_.join();
  }
}

std::string EtcdDatastore::describe() const {
  return fmt::format("etcd {} (prefix {})", client_->endpointsText(), keys_.prefix);
}

Status EtcdDatastore::start() {
  sessionThread_ = std::thread([this] { sessionLoop(); });
  watchThread_ = std::thread([this] { watchLoop(); });
  std::unique_lock lock(mu_);
  const bool done = cv_.wait_for(lock, kStartTimeout, [&] { return published_ || fatal_; });
  if (fatal_) {
    return *fatal_;
  }
  if (!done) {
    std::string why = sessionProblem_.empty() ? watchProblem_ : sessionProblem_;
    return Error{ETIMEDOUT, fmt::format("{}: no snapshot within {} s: {}", describe(),
                                        kStartTimeout.count(), why.empty() ? "no answer" : why)};
  }
  return okStatus();
}

bool EtcdDatastore::maybeChanged() {
  uint64_t n = 0;
  return ::read(event_.get(), &n, sizeof n) == sizeof n;
}

std::optional<ClusterLoad> EtcdDatastore::loadIfChanged() {
  // Built here, on the agent's thread, from every change applied so far: a burst of changes
  // (10,000 services written in batches of 100) costs one build, not one per batch. The watch
  // thread waits meanwhile; its events queue up in the stream.
  std::lock_guard lock(mu_);
  if (!dirty_) {
    return std::nullopt;
  }
  const auto t0 = Clock::now();
  ClusterLoad load = docs_.build();
  load.issues.insert(load.issues.end(), selfIssues_.begin(), selfIssues_.end());
  load.revision = static_cast<uint64_t>(docsRevision_);
  dirty_ = false;
  spdlog::debug("etcd: snapshot at revision {} built in {:.1f} ms", docsRevision_,
                std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  return load;
}

std::optional<ClusterChange> EtcdDatastore::nextChange() {
  {
    std::lock_guard lock(mu_);
    if (!dirty_) {
      return std::nullopt;
    }
    const auto t0 = Clock::now();
    if (auto changes = docs_.serviceChanges()) {
      dirty_ = false;
      changes->issues.insert(changes->issues.end(), selfIssues_.begin(), selfIssues_.end());
      spdlog::debug("etcd: revision {}: {} service(s) changed, {} removed, in {:.2f} ms",
                    docsRevision_, changes->upserts.size(), changes->removed.size(),
                    std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      return ClusterChange{ServiceDelta{std::move(changes->upserts), std::move(changes->removed),
                                        std::move(changes->issues),
                                        static_cast<uint64_t>(docsRevision_)}};
    }
  }
  auto load = loadIfChanged();
  if (!load) {
    return std::nullopt;
  }
  return ClusterChange{std::move(*load)};
}

std::string EtcdDatastore::problem() const {
  std::lock_guard lock(mu_);
  if (!sessionProblem_.empty() && !watchProblem_.empty()) {
    return sessionProblem_ + "; " + watchProblem_;
  }
  return sessionProblem_ + watchProblem_;
}

void EtcdDatastore::reportReady(bool ready) {
  {
    std::lock_guard lock(mu_);
    if (wantReady_ == ready) {
      return;
    }
    wantReady_ = ready;
  }
  cv_.notify_all();
}

void EtcdDatastore::wake() const {
  uint64_t one = 1;
  (void)!::write(event_.get(), &one, sizeof one);
}

bool EtcdDatastore::pause(milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stopping_; });
}

void EtcdDatastore::changed(int64_t revision) {
  docsRevision_ = revision;
  dirty_ = true;
  published_ = true;
  cv_.notify_all();
  wake();
}

void EtcdDatastore::republish() {
  dirty_ = true;
  if (published_) {
    wake();  // before the first list, start() waits for that list instead
  }
}

void EtcdDatastore::sessionFailed(const Error& e) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    if (!registered_ && configurationError(e)) {
      fatal_ = e;
    }
    changed = sessionProblem_ != e.message;
    sessionProblem_ = e.message;
  }
  if (changed) {
    spdlog::warn("{}", e.message);
    wake();
  }
  cv_.notify_all();
}

void EtcdDatastore::sessionLoop() {
  std::optional<NetworkConfig> network;
  Clock::time_point lastRenewal = Clock::now();
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        return;
      }
    }
    if (session_.lease() == 0) {
      if (!registerNode(network)) {
        if (!pause(kRetry)) {
          return;
        }
        continue;
      }
      lastRenewal = Clock::now();
    } else if (!renewLease(lastRenewal)) {
      network.reset();  // re-read: the settings may have changed meanwhile
      continue;
    }
    if (!writeReadinessUntilNextRenewal()) {
      return;
    }
  }
}

bool EtcdDatastore::registerNode(std::optional<NetworkConfig>& network) {
  if (!network) {
    auto n = session_.readNetwork();
    if (!n) {
      sessionFailed(n.error());
      return false;
    }
    network = *n;
  }
  if (auto st = session_.registerNode(*network); !st) {
    sessionFailed(st.error());
    return false;
  }
  spdlog::info("etcd: node {} registered: pod subnet {}, lease {:x} (TTL {} s)", cfg_.nodeName,
               session_.subnet()->toString(), session_.lease(), cfg_.etcd.leaseTtlSeconds);
  {
    std::lock_guard lock(mu_);
    registered_ = true;
    sessionProblem_.clear();
    selfLease_ = session_.lease();
    selfSubnet_ = session_.subnet();
    putSelfRecord();
    republish();
    // The record carries the readiness last written, which may be stale: write it again.
    writtenReady_ = !wantReady_;
  }
  cv_.notify_all();
  wake();
  return true;
}

bool EtcdDatastore::renewLease(Clock::time_point& lastRenewal) {
  auto alive = session_.keepAlive();
  if (alive && *alive) {
    lastRenewal = Clock::now();
    bool changed = false;
    {
      std::lock_guard lock(mu_);
      changed = !sessionProblem_.empty();
      sessionProblem_.clear();
    }
    if (changed) {
      spdlog::info("etcd: lease renewed again; datastore healthy");
      wake();
    }
    return true;
  }
  if (alive) {
    sessionFailed(Error{ENOENT,
                        "etcd: this node's lease expired or was revoked (its record "
                        "and subnet claim are gone); registering again"});
    ++leaseLosses_;
    return false;
  }
  const auto silent = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - lastRenewal);
  const bool expired = silent.count() >= cfg_.etcd.leaseTtlSeconds;
  sessionFailed(alive.error().withContext(
      fmt::format("etcd: lease not renewed for {} s{}", silent.count(),
                  expired ? " (past its TTL: peers drop this node; the data plane keeps running; "
                            "registering again when etcd answers)"
                          : "")));
  return true;  // tried again after the period
}

bool EtcdDatastore::writeReadinessUntilNextRenewal() {
  // Readiness changes are written as they come; otherwise wait one renewal period.
  const milliseconds period{cfg_.etcd.leaseTtlSeconds * 1000 / 3};
  std::unique_lock lock(mu_);
  expireSelfIssues();
  const auto until = Clock::now() + period;
  while (!stopping_ && Clock::now() < until) {
    if (checkSelf_ && session_.lease() != 0) {
      checkSelf_ = false;
      lock.unlock();
      repairOwnKeys();
      lock.lock();
      continue;
    }
    if (wantReady_ != writtenReady_ && session_.lease() != 0) {
      const bool ready = wantReady_;
      lock.unlock();
      const Status st = session_.setReady(ready);
      lock.lock();
      if (st) {
        writtenReady_ = ready;
      } else {
        break;  // etcd trouble: the renewal says more
      }
      continue;
    }
    cv_.wait_until(lock, until);
  }
  return !stopping_;
}

void EtcdDatastore::putSelfRecord() {
  if (!selfSubnet_) {
    return;
  }
  // What this node knows of itself, whatever etcd holds: its underlay IP from agent.yaml, its
  // subnet from its own claim.
  docs_.setNode(
      keys_.node(cfg_.nodeName),
      encodeNodeRecord(cfg_.nodeName, cfg_.underlayIp.value_or(Ipv4{}), *selfSubnet_, false),
      NodeOrigin{cfg_.nodeName, selfLease_, 0, true});
}

void EtcdDatastore::repairOwnKeys() {
  auto found = session_.repairOwnKeys();
  if (!found) {
    spdlog::warn("etcd: checking this node's own record and claim: {}", found.error().message);
    return;  // the lease renewal tells whether the lease is gone
  }
  if (found->empty()) {
    return;
  }
  const std::string key = keys_.node(cfg_.nodeName);
  const std::string message = fmt::format(
      "this node's own keys were changed by someone else ({}); this agent keeps what it knows "
      "of itself (underlayIP {} from {}, podSubnet {} from its claim), its VTEP and bridge stay "
      "as they are, and it wrote its record and claim back",
      *found, cfg_.underlayIp.value_or(Ipv4{}).toString(), cfg_.path,
      session_.subnet() ? session_.subnet()->toString() : "?");
  spdlog::warn("etcd: {}: {}", key, message);
  std::lock_guard lock(mu_);
  selfIssues_ = {ConfigIssue{SourceMark{key}, "node", message}};
  selfIssuesUntil_ = Clock::now() + kSelfIssueTime;
  republish();
}

void EtcdDatastore::expireSelfIssues() {
  if (!selfIssues_.empty() && Clock::now() >= selfIssuesUntil_) {
    selfIssues_.clear();
    republish();
  }
}

void EtcdDatastore::setWatchProblem(const std::string& p) {
  bool changed = false;
  {
    std::lock_guard lock(mu_);
    changed = watchProblem_ != p;
    watchProblem_ = p;
  }
  if (changed) {
    if (!p.empty()) {
      spdlog::warn("{}", p);
    }
    wake();
  }
}

void EtcdDatastore::watchLoop() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stopping_ || registered_; });
    if (stopping_) {
      return;
    }
  }
  int64_t revision = 0;
  bool listed = false;
  for (;;) {
    if (!listed) {
      auto r = listAll();
      if (!r) {
        setWatchProblem(r.error().message);
        if (!pause(kRetry)) {
          return;
        }
        continue;
      }
      revision = *r;
      listed = true;
    }
    auto w = client_->watch(keys_.all(), etcd::Client::prefixEnd(keys_.all()), revision + 1);
    if (!w) {
      setWatchProblem(w.error().message);
      if (!pause(kRetry)) {
        return;
      }
      continue;
    }
    const WatchEnd end = follow(**w, revision);
    if (end == WatchEnd::kStopping) {
      return;
    }
    listed = end != WatchEnd::kCompacted;
    ++watchRestarts_;
    w->reset();
    if (!pause(listed ? kWatchRetry : milliseconds{0})) {
      return;
    }
  }
}

// Every key under the prefix, as a fresh snapshot, read page by page (so the raw keys and values
// of one page at most are held beside the documents); returns the revision it was read at.
Result<int64_t> EtcdDatastore::listAll() {
  const auto t0 = Clock::now();
  ClusterDocuments fresh(keys_.config());  // read before taking the lock
  size_t keys = 0;
  Clock::duration storing{};
  auto onPage = [&](etcd::RangePage& page) {
    if (page.first) {  // (again, after a failover midway)
      fresh = ClusterDocuments(keys_.config());
      fresh.vetNodeRecords();
      keys = 0;
      storing = {};
    }
    const auto p0 = Clock::now();
    for (auto& kv : page.kvs) {
      applyKv(keys_, fresh, kv, cfg_.nodeName);
      kv.value = std::string();  // let the page's copy go as soon as the documents hold theirs
    }
    storing += Clock::now() - p0;
    keys += page.kvs.size();
    return okStatus();
  };
  auto r = client_->rangePages(keys_.all(), etcd::Client::prefixEnd(keys_.all()), onPage);
  if (!r) {
    return r.error();
  }
  using Ms = std::chrono::duration<double, std::milli>;
  spdlog::debug("etcd: listed {} keys at revision {} in {:.1f} ms ({:.1f} ms of it storing them)",
                keys, *r, Ms(Clock::now() - t0).count(), Ms(storing).count());
  std::lock_guard lock(mu_);
  docs_ = std::move(fresh);
  putSelfRecord();
  checkSelf_ = true;  // whatever happened while the watch was down
  changed(*r);
  return *r;
}

// Applies the watch's events until it ends; `revision` follows what was applied.
EtcdDatastore::WatchEnd EtcdDatastore::follow(etcd::Watch& w, int64_t& revision) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      return WatchEnd::kStopping;
    }
    watch_ = &w;
  }
  WatchEnd end = WatchEnd::kBroken;
  for (;;) {
    auto b = w.next();
    if (!b) {
      std::lock_guard lock(mu_);
      if (stopping_) {
        return WatchEnd::kStopping;  // watch_ stays: stop() cancelled it
      }
      // Resumed at once, on the next endpoint if need be; a problem only if that fails.
      spdlog::info("etcd: {}; resuming the watch from revision {}", b.error().message,
                   revision + 1);
      break;
    }
    setWatchProblem("");
    if (b->compactRevision > 0) {
      spdlog::warn("etcd: revision {} was compacted (oldest kept: {}); listing again", revision + 1,
                   b->compactRevision);
      end = WatchEnd::kCompacted;
      break;
    }
    if (b->progress) {
      revision = std::max(revision, b->revision);
      continue;
    }
    std::lock_guard lock(mu_);
    for (const auto& e : b->events) {
      const bool own = e.type == etcd::WatchEvent::Type::kPut
                           ? applyKv(keys_, docs_, e.kv, cfg_.nodeName)
                           : eraseKv(keys_, docs_, e.kv.key, cfg_.nodeName);
      if (own || (selfSubnet_ && e.kv.key == keys_.subnet(*selfSubnet_))) {
        checkSelf_ = true;  // the session thread compares them with the truth
      }
      revision = std::max(revision, e.kv.modRevision);
    }
    changed(revision);
  }
  std::lock_guard lock(mu_);
  watch_ = nullptr;
  return end;
}

Status EtcdDatastore::deregister(const AgentConfig& cfg) {
  const int64_t lease = EtcdNodeSession::savedLease(cfg.stateDir);
  if (lease == 0) {
    return okStatus();
  }
  auto client = etcd::Client::create(etcdClientOptions(cfg.etcd));
  if (!client) {
    return client.error();
  }
  if (auto st = (*client)->leaseRevoke(lease); !st) {
    return st.error().withContext("leaving the cluster");
  }
  spdlog::info("etcd: revoked lease {:x}: this node's record and subnet claim are deleted", lease);
  return okStatus();
}

Result<NetworkConfig> EtcdDatastore::readNetwork(const AgentConfig& cfg) {
  auto client = etcd::Client::create(etcdClientOptions(cfg.etcd));
  if (!client) {
    return client.error();
  }
  EtcdNodeSession session(
      **client, EtcdKeys{cfg.etcd.prefix},
      NodeIdentity{cfg.nodeName, cfg.underlayIp.value_or(Ipv4{}), cfg.etcd.podSubnet},
      cfg.etcd.leaseTtlSeconds, "");
  return session.readNetwork();
}

}  // namespace ovl
