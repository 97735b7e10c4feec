// etcd/: the etcd v3 client, the only code that talks gRPC. Includes common/ only.
//
// An etcd v3 client over gRPC (etcd/proto/etcd.proto): KV Range/Put/DeleteRange/Txn/Compact,
// the Watch stream and Leases, over several endpoints with failover, plain or TLS with a client
// certificate.
//
// Failover: the client talks to one endpoint at a time. A call that fails because the endpoint
// is unreachable or does not answer in time (UNAVAILABLE, DEADLINE_EXCEEDED) is retried once on
// each other endpoint, and the first one that answers becomes the current one. gRPC reconnects
// in the background with a backoff capped at one second, so an etcd that comes back is used
// again within about a second.
//
// Errors carry an errno-like code (see kind()) and a message naming the endpoint, the request
// and the key. A TLS handshake the server refuses (no or an unknown client certificate) is
// reported as such (EACCES), not retried forever.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace ovl::etcd {

struct ClientOptions {
  static constexpr std::chrono::milliseconds kDefaultRequestTimeout{3000};

  std::vector<std::string> endpoints;  // "host:port", tried in order
  // TLS when caFile is set: the server's certificate is checked against caFile; certFile and
  // keyFile, when set, are this client's certificate and key (mTLS).
  std::string caFile;
  std::string certFile;
  std::string keyFile;
  std::chrono::milliseconds requestTimeout = kDefaultRequestTimeout;  // per unary call
};

struct KeyValue {
  std::string key;
  std::string value;
  int64_t createRevision = 0;
  int64_t modRevision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // the store's revision the result was read at
};

// One page of a range read page by page (Client::rangePages).
struct RangePage {
  std::vector<KeyValue> kvs;  // moved out of etcd's answer, not copied
  int64_t revision = 0;       // the revision every page of this read is read at
  // The first page of a read: when an endpoint fails midway, the read starts over on the next
  // one (at that member's latest revision), so what the earlier pages gave must be dropped.
  bool first = false;
};

// One comparison of a transaction; `Compare::absent(key)` is the usual "create if not there".
struct Compare {
  enum class Target { kCreateRevision, kValue, kLease };
  enum class Op { kEqual, kNotEqual };
  std::string key;
  Target target = Target::kCreateRevision;
  Op op = Op::kEqual;
  int64_t number = 0;  // create revision or lease
  std::string value;

  static Compare absent(std::string key) {
    return Compare{std::move(key), Target::kCreateRevision, Op::kEqual, 0, {}};
  }
  static Compare valueIs(std::string key, std::string value) {
    return Compare{std::move(key), Target::kValue, Op::kEqual, 0, std::move(value)};
  }
};

// One operation of a transaction: a put (with an optional lease) or a delete of one key.
struct TxnOp {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  int64_t lease = 0;

  static TxnOp put(std::string key, std::string value, int64_t lease = 0) {
    return TxnOp{Kind::kPut, std::move(key), std::move(value), lease};
  }
  static TxnOp del(std::string key) { return TxnOp{Kind::kDelete, std::move(key), {}, 0}; }
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;
};

struct LeaseInfo {
  int64_t id = 0;
  int64_t ttl = 0;  // seconds left; <= 0: the lease does not exist (expired or revoked)
  int64_t grantedTtl = 0;
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for a delete: the key, and mod_revision = the revision of the delete
};

// What one read of a watch stream gave.
struct WatchBatch {
  std::vector<WatchEvent> events;
  int64_t revision = 0;         // the store's revision in the response header
  int64_t compactRevision = 0;  // > 0: the start revision was compacted; re-list
  bool progress = false;        // no events: the watch was created, or a progress notification
};

class Client;

// A watch on a key range, created with progress_notify (etcd then sends the current revision
// when nothing changed for a while). next() blocks until events, a progress notification, or the
// stream ends; cancel() (from any thread) ends a blocked next().
class Watch {
 public:
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;

  Result<WatchBatch> next();
  void cancel();
  const std::string& endpoint() const { return endpoint_; }

 private:
  friend class Client;
  struct Stream;
  explicit Watch(std::unique_ptr<Stream> stream, std::string endpoint);
  std::unique_ptr<Stream> stream_;
  std::string endpoint_;
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> create(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Keys in [key, rangeEnd); rangeEnd "" = the key alone. revision 0 = the latest. Read page by
  // page (consistently, at one revision), so a large prefix is not one huge message.
  Result<RangeResult> range(const std::string& key, const std::string& rangeEnd = "",
                            int64_t revision = 0);
  Result<RangeResult> rangePrefix(const std::string& prefix) {
    return range(prefix, prefixEnd(prefix));
  }
  // The same read at the latest revision, handed over one page at a time as each arrives, so
  // that a caller can use each page and let it go before the next (a large prefix is then
  // never held whole as raw keys and values as well as what the caller makes of them). A
  // failed `page` ends the read with its error. Returns the revision the pages were read at.
  using PageFn = std::function<Status(RangePage& page)>;
  Result<int64_t> rangePages(const std::string& key, const std::string& rangeEnd,
                             const PageFn& page);
  Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);
  // The number of keys deleted.
  Result<int64_t> deleteRange(const std::string& key, const std::string& rangeEnd = "");
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure = {});
  Status compact(int64_t revision);

  Result<LeaseInfo> leaseGrant(int64_t ttlSeconds);
  Status leaseRevoke(int64_t id);
  // One keep-alive round trip: the lease's TTL after renewal (<= 0: the lease is gone).
  Result<LeaseInfo> leaseKeepAlive(int64_t id);
  Result<LeaseInfo> leaseTimeToLive(int64_t id);

  // A watch of [key, rangeEnd) from startRevision (0 = now), with progress notifications.
  Result<std::unique_ptr<Watch>> watch(const std::string& key, const std::string& rangeEnd,
                                       int64_t startRevision);

  // The end of the range of keys starting with prefix ("/ovl/" -> "/ovl0").
  static std::string prefixEnd(const std::string& prefix);
  std::string endpointsText() const;  // "a:2379,b:2379"

 private:
  struct Endpoint;
  explicit Client(ClientOptions options);
  // Runs fn on the current endpoint, then on each other one while the failure is the
  // endpoint's (ENOTCONN, ETIMEDOUT); the first that answers becomes the current one.
  Status call(const std::function<Status(Endpoint&)>& fn);
  // One unary RPC through call(): `method(endpoint, context, request, response)`.
  // A range read page by page through call(), from `revision` (0: the latest).
  Status readPages(const std::string& key, const std::string& rangeEnd, int64_t revision,
                   const PageFn& page);
  template <typename Req, typename Resp, typename Method>
  Status unary(const std::string& what, const Req& req, Resp& resp, Method method);

  ClientOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::atomic<size_t> current_{0};
};

}  // namespace ovl::etcd
