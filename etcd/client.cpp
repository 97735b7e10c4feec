#include "etcd/client.h"

#include <fmt/format.h>
#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "etcd/proto/etcd.grpc.pb.h"

namespace ovl::etcd {

namespace pb = etcdserverpb;

namespace {

constexpr int64_t kPageSize = 2000;  // keys per Range page
// gRPC's reconnect backoff grows to two minutes by default; an etcd member that comes back
// should be used again within a second.
constexpr int kReconnectBackoffInitialMs = 100;
// A connection attempt into a partition (SYNs dropped) gives up after this long, so the next one
// starts soon after the partition heals (gRPC calls this the minimum reconnect backoff; its
// default is 20 s).
constexpr int kConnectTimeoutMs = 2000;
constexpr int kReconnectBackoffMaxMs = 1000;
// HTTP/2 pings on a connection with calls in flight, so a member that vanished without closing
// the connection is noticed. etcd refuses pings more often than every 5 s
// (--grpc-keepalive-min-time) and, by default, pings without calls.
constexpr int kKeepaliveTimeMs = 10'000;
constexpr const char* kBackupPollMs = "100";
constexpr int kKeepaliveTimeoutMs = 5'000;

// gRPC's status for a refused TLS handshake often says only "Endpoint read failed" (with TLS 1.3
// the server's alert arrives after the client thinks the handshake is done); the reason (such
// as "sslv3 alert bad certificate" or "tlsv13 alert certificate required") goes to gRPC's log.
// The log is taken over: TLS reasons are kept for the next error message, the rest is dropped
// (every failure reaches the caller as a status, which the caller logs).
struct TlsReason {
  std::mutex mu;
  std::string text;
  std::chrono::steady_clock::time_point at;
};
TlsReason& tlsReason() {
  static TlsReason r;
  return r;
}
constexpr std::chrono::seconds kTlsReasonFresh{5};

void grpcLog(gpr_log_func_args* args) {
  const std::string_view msg = args->message != nullptr ? args->message : "";
  if (msg.find("SSL routines") != std::string_view::npos ||
      msg.find("alert") != std::string_view::npos) {
    TlsReason& r = tlsReason();
    std::lock_guard lock(r.mu);
    r.text = std::string(msg);
    r.at = std::chrono::steady_clock::now();
  }
}

std::string recentTlsReason() {
  TlsReason& r = tlsReason();
  std::lock_guard lock(r.mu);
  if (r.text.empty() || std::chrono::steady_clock::now() - r.at > kTlsReasonFresh) {
    return "";
  }
  return r.text;
}

Result<std::string> readPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) {
    text << in.rdbuf();
  }
  if (!in || text.str().empty()) {
    return Error::sys(errno != 0 ? errno : EINVAL, fmt::format("etcd {} {}", what, path));
  }
  return text.str();
}

// A gRPC status as an ovl error: the code says what the caller can do about it.
//   ENOTCONN   endpoint unreachable (try another, or later)
//   ETIMEDOUT  no answer in time (same)
//   EACCES     TLS refused, authentication or permission denied (configuration)
//   ERANGE     the revision asked for was compacted
//   EIO        anything else
Error toError(const grpc::Status& st, const std::string& endpoint, const std::string& what,
              bool tls = false) {
  const std::string detail = st.error_message();
  int code = EIO;
  std::string hint;
  switch (st.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      code = ENOTCONN;
      // (gRPC names the TCP connect a "tcp handshaker" too: only TLS words count.)
      if (tls) {
        const std::string reason = recentTlsReason();
        const bool tlsWords = detail.find("SSL") != std::string::npos ||
                              detail.find("ssl") != std::string::npos ||
                              detail.find("TLS") != std::string::npos ||
                              detail.find("Handshake failed") != std::string::npos ||
                              detail.find("certificate") != std::string::npos;
        if (tlsWords || !reason.empty()) {
          code = EACCES;
          hint = fmt::format(
              "{}; the TLS handshake failed: check caFile, certFile and keyFile (the server "
              "refuses a client without a certificate signed by its CA, and this client refuses "
              "a server whose certificate is not signed by caFile or does not name the endpoint)",
              reason.empty() ? "" : "; TLS: " + reason);
        }
      }
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      code = ETIMEDOUT;
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      code = EACCES;
      break;
    case grpc::StatusCode::OUT_OF_RANGE:
      code = ERANGE;
      break;
    default:
      break;
  }
  return Error{code, fmt::format("etcd {}: {}: {} (gRPC code {}){}", endpoint, what,
                                 detail.empty() ? "no detail" : detail,
                                 static_cast<int>(st.error_code()), hint)};
}

bool endpointFailure(const Error& e) {
  return e.code == ENOTCONN || e.code == ETIMEDOUT;
}

KeyValue fromPb(const pb::KeyValue& kv) {
  return KeyValue{kv.key(),          kv.value(),   kv.create_revision(),
                  kv.mod_revision(), kv.version(), kv.lease()};
}

// The same, taking the key and value out of the answer instead of copying them (a page of
// 2,000 services is a few megabytes).
KeyValue takeFromPb(pb::KeyValue& kv) {
  return KeyValue{std::move(*kv.mutable_key()),
                  std::move(*kv.mutable_value()),
                  kv.create_revision(),
                  kv.mod_revision(),
                  kv.version(),
                  kv.lease()};
}

void toPb(const TxnOp& op, pb::RequestOp* out) {
  if (op.kind == TxnOp::Kind::kPut) {
    auto* put = out->mutable_request_put();
    put->set_key(op.key);
    put->set_value(op.value);
    put->set_lease(op.lease);
  } else {
    out->mutable_request_delete_range()->set_key(op.key);
  }
}

}  // namespace

struct Client::Endpoint {
  std::string name;
  bool tls = false;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Watch::Stub> watch;
  std::unique_ptr<pb::Lease::Stub> lease;
};

struct Watch::Stream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<pb::WatchRequest, pb::WatchResponse>> rw;
  bool finished = false;
};

Watch::Watch(std::unique_ptr<Stream> stream, std::string endpoint)
    : stream_(std::move(stream)), endpoint_(std::move(endpoint)) {}

Watch::~Watch() {
  cancel();
  if (!stream_->finished) {
    // Drain what is left so Finish() does not wait for messages nobody reads.
    pb::WatchResponse r;
    while (stream_->rw->Read(&r)) {
    }
    (void)stream_->rw->Finish();
  }
}

void Watch::cancel() {
  stream_->context.TryCancel();
}

Result<WatchBatch> Watch::next() {
  pb::WatchResponse r;
  for (;;) {
    if (stream_->finished) {
      return Error{ENOTCONN, fmt::format("etcd {}: watch: the stream is closed", endpoint_)};
    }
    if (!stream_->rw->Read(&r)) {
      stream_->finished = true;
      grpc::Status st = stream_->rw->Finish();
      if (st.ok()) {
        return Error{ENOTCONN,
                     fmt::format("etcd {}: watch: the server ended the stream", endpoint_)};
      }
      return toError(st, endpoint_, "watch");
    }
    WatchBatch b;
    b.revision = r.header().revision();
    if (r.compact_revision() > 0) {
      b.compactRevision = r.compact_revision();
      return b;
    }
    if (r.canceled()) {
      return Error{EIO, fmt::format("etcd {}: watch canceled by the server: {}", endpoint_,
                                    r.cancel_reason().empty() ? "no reason" : r.cancel_reason())};
    }
    // No events: the answer to the create request, or a progress notification.
    b.progress = r.events_size() == 0;
    b.events.reserve(static_cast<size_t>(r.events_size()));
    for (const auto& e : r.events()) {
      b.events.push_back(WatchEvent{
          e.type() == pb::Event::DELETE ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut,
          fromPb(e.kv())});
    }
    return b;
  }
}

Client::Client(ClientOptions options) : options_(std::move(options)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(const ClientOptions& options) {
  // With the synchronous API, a connection that gRPC opens in the background (after the last
  // one broke) is read only by its "backup poller", every 5 s by default: a reconnect then takes
  // seconds after etcd is reachable again, and attempts time out with the server's SETTINGS frame
  // unread. gRPC reads this once, when it starts; a value set by the user wins.
  ::setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", kBackupPollMs, /*overwrite=*/0);
  static std::once_flag logOnce;
  std::call_once(logOnce, [] { gpr_set_log_function(grpcLog); });
  if (options.endpoints.empty()) {
    return Error{EINVAL, "etcd: no endpoints given; expected at least one host:port"};
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (options.caFile.empty()) {
    if (!options.certFile.empty() || !options.keyFile.empty()) {
      return Error{EINVAL, "etcd: certFile/keyFile given without caFile; TLS needs caFile"};
    }
    creds = grpc::InsecureChannelCredentials();
  } else {
    if (options.certFile.empty() != options.keyFile.empty()) {
      return Error{EINVAL, "etcd: certFile and keyFile go together; only one is given"};
    }
    grpc::SslCredentialsOptions ssl;
    auto ca = readPem(options.caFile, "caFile");
    if (!ca) {
      return ca.error();
    }
    ssl.pem_root_certs = *ca;
    if (!options.certFile.empty()) {
      auto cert = readPem(options.certFile, "certFile");
      if (!cert) {
        return cert.error();
      }
      auto key = readPem(options.keyFile, "keyFile");
      if (!key) {
        return key.error();
      }
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  }
  std::unique_ptr<Client> c(new Client(options));
  for (const auto& ep : options.endpoints) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kReconnectBackoffInitialMs);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, kConnectTimeoutMs);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kReconnectBackoffMaxMs);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
    auto e = std::make_unique<Endpoint>();
    e->name = ep;
    e->tls = !options.caFile.empty();
    e->channel = grpc::CreateCustomChannel(ep, creds, args);
    e->kv = pb::KV::NewStub(e->channel);
    e->watch = pb::Watch::NewStub(e->channel);
    e->lease = pb::Lease::NewStub(e->channel);
    c->endpoints_.push_back(std::move(e));
  }
  return c;
}

std::string Client::prefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string Client::endpointsText() const {
  std::string out;
  for (const auto& e : endpoints_) {
    out += (out.empty() ? "" : ",") + e->name;
  }
  return out;
}

Status Client::call(const std::function<Status(Endpoint&)>& fn) {
  const size_t n = endpoints_.size();
  const size_t first = current_.load();
  Status last;
  for (size_t i = 0; i < n; ++i) {
    const size_t idx = (first + i) % n;
    last = fn(*endpoints_[idx]);
    if (last || !endpointFailure(last.error())) {
      if (i > 0) {
        current_.store(idx);
      }
      return last;
    }
  }
  return last;
}

namespace {

// A context with the client's per-call deadline.
void setDeadline(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
}

}  // namespace

Result<RangeResult> Client::range(const std::string& key, const std::string& rangeEnd,
                                  int64_t revision) {
  RangeResult out;
  Status st = readPages(key, rangeEnd, revision, [&](RangePage& page) {
    if (page.first) {
      out = RangeResult{};
    }
    out.revision = page.revision;
    if (out.kvs.empty()) {
      out.kvs = std::move(page.kvs);
    } else {
      std::move(page.kvs.begin(), page.kvs.end(), std::back_inserter(out.kvs));
    }
    return okStatus();
  });
  if (!st) {
    return st.error();
  }
  return out;
}

Result<int64_t> Client::rangePages(const std::string& key, const std::string& rangeEnd,
                                   const PageFn& page) {
  int64_t revision = 0;
  Status st = readPages(key, rangeEnd, 0, [&](RangePage& p) {
    revision = p.revision;
    return page(p);
  });
  if (!st) {
    return st.error();
  }
  return revision;
}

Status Client::readPages(const std::string& key, const std::string& rangeEnd, int64_t revision,
                         const PageFn& page) {
  return call([&](Endpoint& ep) -> Status {
    pb::RangeRequest req;
    req.set_key(key);
    req.set_range_end(rangeEnd);
    req.set_revision(revision);
    req.set_limit(rangeEnd.empty() ? 0 : kPageSize);
    for (bool first = true;; first = false) {
      grpc::ClientContext ctx;
      setDeadline(ctx, options_.requestTimeout);
      pb::RangeResponse resp;
      grpc::Status gs = ep.kv->Range(&ctx, req, &resp);
      if (!gs.ok()) {
        return toError(gs, ep.name, "range " + key, ep.tls);
      }
      const bool more = resp.more() && resp.kvs_size() > 0;
      if (more) {
        // The next page: after the last key, at the revision of the first page.
        req.set_key(resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0'));
        req.set_revision(resp.header().revision());
      }
      RangePage p;
      p.revision = resp.header().revision();
      p.first = first;
      p.kvs.reserve(static_cast<size_t>(resp.kvs_size()));
      for (auto& kv : *resp.mutable_kvs()) {
        p.kvs.push_back(takeFromPb(kv));
      }
      if (auto st = page(p); !st) {
        return st;
      }
      if (!more) {
        return okStatus();
      }
    }
  });
}

template <typename Req, typename Resp, typename Method>
Status Client::unary(const std::string& what, const Req& req, Resp& resp, Method method) {
  return call([&](Endpoint& ep) -> Status {
    grpc::ClientContext ctx;
    setDeadline(ctx, options_.requestTimeout);
    grpc::Status gs = method(ep, &ctx, req, &resp);
    if (!gs.ok()) {
      return toError(gs, ep.name, what, ep.tls);
    }
    return okStatus();
  });
}

Result<int64_t> Client::put(const std::string& key, const std::string& value, int64_t lease) {
  pb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  req.set_lease(lease);
  pb::PutResponse resp;
  if (auto st = unary(
          "put " + key, req, resp,
          [](Endpoint& ep, auto* ctx, auto& rq, auto* rs) { return ep.kv->Put(ctx, rq, rs); });
      !st) {
    return st.error();
  }
  return resp.header().revision();
}

Result<int64_t> Client::deleteRange(const std::string& key, const std::string& rangeEnd) {
  pb::DeleteRangeRequest req;
  req.set_key(key);
  req.set_range_end(rangeEnd);
  pb::DeleteRangeResponse resp;
  if (auto st = unary("delete " + key, req, resp,
                      [](Endpoint& ep, auto* ctx, auto& rq, auto* rs) {
                        return ep.kv->DeleteRange(ctx, rq, rs);
                      });
      !st) {
    return st.error();
  }
  return resp.deleted();
}

Result<TxnResult> Client::txn(const std::vector<Compare>& compares,
                              const std::vector<TxnOp>& success,
                              const std::vector<TxnOp>& failure) {
  pb::TxnRequest req;
  for (const auto& c : compares) {
    auto* pc = req.add_compare();
    pc->set_key(c.key);
    pc->set_result(c.op == Compare::Op::kEqual ? pb::Compare::EQUAL : pb::Compare::NOT_EQUAL);
    switch (c.target) {
      case Compare::Target::kCreateRevision:
        pc->set_target(pb::Compare::CREATE);
        pc->set_create_revision(c.number);
        break;
      case Compare::Target::kValue:
        pc->set_target(pb::Compare::VALUE);
        pc->set_value(c.value);
        break;
      case Compare::Target::kLease:
        pc->set_target(pb::Compare::LEASE);
        pc->set_lease(c.number);
        break;
    }
  }
  for (const auto& op : success) {
    toPb(op, req.add_success());
  }
  for (const auto& op : failure) {
    toPb(op, req.add_failure());
  }
  pb::TxnResponse resp;
  const std::string what =
      "transaction on " + (compares.empty() ? std::string("-") : compares[0].key);
  if (auto st = unary(
          what, req, resp,
          [](Endpoint& ep, auto* ctx, auto& rq, auto* rs) { return ep.kv->Txn(ctx, rq, rs); });
      !st) {
    return st.error();
  }
  return TxnResult{resp.succeeded(), resp.header().revision()};
}

Status Client::compact(int64_t revision) {
  pb::CompactionRequest req;
  req.set_revision(revision);
  req.set_physical(true);
  pb::CompactionResponse resp;
  return unary(
      fmt::format("compact at revision {}", revision), req, resp,
      [](Endpoint& ep, auto* ctx, auto& rq, auto* rs) { return ep.kv->Compact(ctx, rq, rs); });
}

Result<LeaseInfo> Client::leaseGrant(int64_t ttlSeconds) {
  pb::LeaseGrantRequest req;
  req.set_ttl(ttlSeconds);
  pb::LeaseGrantResponse resp;
  const std::string what = fmt::format("grant a lease of {} s", ttlSeconds);
  if (auto st = unary(what, req, resp,
                      [](Endpoint& ep, auto* ctx, auto& rq, auto* rs) {
                        return ep.lease->LeaseGrant(ctx, rq, rs);
                      });
      !st) {
    return st.error();
  }
  if (!resp.error().empty()) {
    return Error{EIO, fmt::format("etcd: {}: {}", what, resp.error())};
  }
  return LeaseInfo{resp.id(), resp.ttl(), resp.ttl()};
}

Status Client::leaseRevoke(int64_t id) {
  pb::LeaseRevokeRequest req;
  req.set_id(id);
  pb::LeaseRevokeResponse resp;
  return unary(fmt::format("revoke lease {:x}", id), req, resp,
               [](Endpoint& ep, auto* ctx, auto& rq, auto* rs) {
                 return ep.lease->LeaseRevoke(ctx, rq, rs);
               });
}

Result<LeaseInfo> Client::leaseKeepAlive(int64_t id) {
  LeaseInfo out;
  Status st = call([&](Endpoint& ep) -> Status {
    grpc::ClientContext ctx;
    setDeadline(ctx, options_.requestTimeout);
    auto rw = ep.lease->LeaseKeepAlive(&ctx);
    pb::LeaseKeepAliveRequest req;
    req.set_id(id);
    pb::LeaseKeepAliveResponse resp;
    const bool ok = rw->Write(req) && rw->Read(&resp);
    rw->WritesDone();
    if (ok) {
      ctx.TryCancel();  // one round trip is all this call is for
    }
    grpc::Status gs = rw->Finish();
    if (!ok) {
      return toError(gs.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream ended") : gs,
                     ep.name, fmt::format("keep lease {:x} alive", id), ep.tls);
    }
    out = LeaseInfo{resp.id(), resp.ttl(), 0};
    return okStatus();
  });
  if (!st) {
    return st.error();
  }
  return out;
}

Result<LeaseInfo> Client::leaseTimeToLive(int64_t id) {
  pb::LeaseTimeToLiveRequest req;
  req.set_id(id);
  pb::LeaseTimeToLiveResponse resp;
  if (auto st = unary(fmt::format("time to live of lease {:x}", id), req, resp,
                      [](Endpoint& ep, auto* ctx, auto& rq, auto* rs) {
                        return ep.lease->LeaseTimeToLive(ctx, rq, rs);
                      });
      !st) {
    return st.error();
  }
  return LeaseInfo{resp.id(), resp.ttl(), resp.grantedttl()};
}

Result<std::unique_ptr<Watch>> Client::watch(const std::string& key, const std::string& rangeEnd,
                                             int64_t startRevision) {
  std::unique_ptr<Watch> out;
  Status st = call([&](Endpoint& ep) -> Status {
    auto stream = std::make_unique<Watch::Stream>();
    stream->rw = ep.watch->Watch(&stream->context);
    pb::WatchRequest req;
    auto* create = req.mutable_create_request();
    create->set_key(key);
    create->set_range_end(rangeEnd);
    create->set_start_revision(startRevision);
    create->set_progress_notify(true);
    if (!stream->rw->Write(req)) {
      grpc::Status gs = stream->rw->Finish();
      stream->finished = true;
      return toError(gs.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream ended") : gs,
                     ep.name, "watch " + key, ep.tls);
    }
    out.reset(new Watch(std::move(stream), ep.name));
    return okStatus();
  });
  if (!st) {
    return st.error();
  }
  return out;
}

}  // namespace ovl::etcd
