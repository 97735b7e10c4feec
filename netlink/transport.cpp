#include "netlink/transport.h"

#include "netlink/libnl.h"  // see the name clash explained there

#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unordered_map>

namespace ovl::nl::detail {
namespace {

constexpr int kRequestReceiveBuffer = 8 << 20;
constexpr int kRequestSendBuffer = 1 << 20;
// Upper bound of requests in flight: enough to amortise the syscalls, small enough that the
// acks of one window fit the receive buffer even where SO_RCVBUFFORCE is not permitted.
constexpr std::size_t kMaxWindow = 256;
// Conservative kernel memory charged per queued ack (the skb truesize is ~0.7-1.3 KiB).
constexpr std::size_t kAckTruesize = 2048;
// Bytes of requests per sendmsg(); well below the send buffer (netlink refuses datagrams
// larger than sk_sndbuf - 32 with EMSGSIZE).
constexpr std::size_t kMaxDatagram = 64 * 1024;
// One ack: nlmsghdr + nlmsgerr (capped, so without the echoed request) + extended-ack TLVs.
constexpr std::size_t kAckSlot = 2048;
// The kernel caps dump skbs at 32 KiB; twice that leaves no room for truncation.
constexpr std::size_t kDumpBuffer = 64 * 1024;
constexpr int kReceiveTimeoutSeconds = 30;

sockaddr_nl kernelAddress() {
  sockaddr_nl a{};
  a.nl_family = AF_NETLINK;
  return a;
}

ssize_t sendToKernel(int fd, const void* data, std::size_t len) {
  sockaddr_nl kernel = kernelAddress();
  ssize_t r;
  do {
    r = sendto(fd, data, len, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof(kernel));
  } while (r < 0 && errno == EINTR);
  return r;
}

// Reads the extended-ack message (NLMSGERR_ATTR_MSG) that follows an nlmsgerr, if any.
std::string extAckMessage(const nlmsghdr* h, std::size_t avail) {
  if ((h->nlmsg_flags & NLM_F_ACK_TLVS) == 0) {
    return {};
  }
  const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  std::size_t payload = sizeof(nlmsgerr);
  if ((h->nlmsg_flags & NLM_F_CAPPED) == 0 && e->msg.nlmsg_len > NLMSG_HDRLEN) {
    payload += e->msg.nlmsg_len - NLMSG_HDRLEN;  // the echoed request's payload
  }
  std::size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(payload);
  const std::size_t end = std::min<std::size_t>(h->nlmsg_len, avail);
  const auto* base = reinterpret_cast<const char*>(h);
  while (off + sizeof(nlattr) <= end) {
    const auto* a = reinterpret_cast<const nlattr*>(base + off);
    if (a->nla_len < sizeof(nlattr) || off + a->nla_len > end) {
      break;
    }
    if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      const char* s = base + off + NLA_HDRLEN;
      return std::string(s, strnlen(s, a->nla_len - NLA_HDRLEN));
    }
    off += NLA_ALIGN(a->nla_len);
  }
  return {};
}

// Calls onAck(seq, reply) for every NLMSG_ERROR (ack or error) in one received datagram. A
// datagram cut short (MSG_TRUNC) still yields its error code when the nlmsgerr itself arrived.
template <typename F>
void forEachAck(const char* data, std::size_t len, F&& onAck) {
  std::size_t off = 0;
  while (off + NLMSG_HDRLEN <= len) {
    const auto* h = reinterpret_cast<const nlmsghdr*>(data + off);
    if (h->nlmsg_len < NLMSG_HDRLEN) {
      return;
    }
    const std::size_t avail = len - off;
    if (h->nlmsg_type == NLMSG_ERROR && avail >= NLMSG_LENGTH(sizeof(nlmsgerr))) {
      const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
      onAck(h->nlmsg_seq, Reply{-e->error, e->error != 0 ? extAckMessage(h, avail) : ""});
    }
    off += NLMSG_ALIGN(h->nlmsg_len);
  }
}

// The state of one exchange: a reply per request, filled as acks arrive.
struct Exchange {
  std::vector<Reply> out;
  std::vector<bool> answered;
  std::unordered_map<uint32_t, std::size_t> bySeq;  // sequence number -> request
  std::size_t pending = 0;                          // sent, not yet answered
};

// Sends the (completed) requests, many per datagram: the kernel runs rtnetlink_rcv_msg() for
// each message of the datagram in turn, inside this sendmsg(), and queues one ack per message.
// The requests of a datagram that cannot be sent are answered with the send's errno.
void sendPacked(int fd, std::span<nl_msg* const> msgs, Exchange* x) {
  const std::size_t n = msgs.size();
  std::vector<char> datagram;
  for (std::size_t i = 0; i < n;) {
    datagram.clear();
    const std::size_t first = i;
    while (i < n) {
      const nlmsghdr* h = nlmsg_hdr(msgs[i]);
      const std::size_t len = NLMSG_ALIGN(h->nlmsg_len);
      if (!datagram.empty() && datagram.size() + len > kMaxDatagram) {
        break;
      }
      const auto* p = reinterpret_cast<const char*>(h);
      datagram.insert(datagram.end(), p, p + len);
      ++i;
    }
    if (sendToKernel(fd, datagram.data(), datagram.size()) < 0) {
      const int err = errno;
      for (std::size_t j = first; j < i; ++j) {
        x->out[j] = Reply{err, "send failed"};
        x->answered[j] = true;
      }
    } else {
      x->pending += i - first;
    }
  }
}

// Reads acks until every sent request has its own. Returns 0, or the errno that ended the
// collection early (ETIMEDOUT when the receive timeout passed, ENOBUFS when acks were lost).
int receiveAcks(int fd, Exchange* x) {
  thread_local std::vector<char> area;
  const std::size_t slots = std::min(std::max<std::size_t>(x->pending, 1), kMaxWindow);
  area.resize(slots * kAckSlot);
  std::vector<iovec> iov(slots);
  std::vector<mmsghdr> hdrs(slots);
  bool overrun = false;
  while (x->pending > 0) {
    for (std::size_t k = 0; k < slots; ++k) {
      iov[k] = iovec{area.data() + k * kAckSlot, kAckSlot};
      hdrs[k] = mmsghdr{};
      hdrs[k].msg_hdr.msg_iov = &iov[k];
      hdrs[k].msg_hdr.msg_iovlen = 1;
    }
    // MSG_WAITFORONE: block for the first ack, then take whatever else is queued. After an
    // overrun the lost acks will never come, so only what is queued is read.
    const int flags = overrun ? MSG_DONTWAIT : MSG_WAITFORONE;
    const int got = recvmmsg(fd, hdrs.data(), static_cast<unsigned>(std::min(x->pending, slots)),
                             flags, nullptr);
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == ENOBUFS && !overrun) {
        overrun = true;  // the kernel dropped acks that did not fit the receive buffer
        continue;
      }
      return (errno == EAGAIN || errno == EWOULDBLOCK) ? (overrun ? ENOBUFS : ETIMEDOUT) : errno;
    }
    for (int k = 0; k < got; ++k) {
      forEachAck(area.data() + k * kAckSlot, std::min<std::size_t>(hdrs[k].msg_len, kAckSlot),
                 [&](uint32_t seq, Reply r) {
                   auto it = x->bySeq.find(seq);
                   if (it == x->bySeq.end() || x->answered[it->second]) {
                     return;  // a stale ack of an earlier, abandoned exchange
                   }
                   x->out[it->second] = std::move(r);
                   x->answered[it->second] = true;
                   --x->pending;
                 });
    }
  }
  return 0;
}

}  // namespace

void setReceiveBuffer(nl_sock* sk, int bytes) {
  const int fd = nl_socket_get_fd(sk);
  // SO_RCVBUFFORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN, which ovl has anyway);
  // without it the kernel silently caps SO_RCVBUF at rmem_max.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  }
}

void tuneRequestSocket(nl_sock* sk) {
  const int fd = nl_socket_get_fd(sk);
  const int one = 1;
  // Extended acks carry the kernel's reason text ("Nexthop device is not up"); capped acks do
  // not echo the failed request back, which keeps every ack small.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  setReceiveBuffer(sk, kRequestReceiveBuffer);
  const int snd = kRequestSendBuffer;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
  }
  timeval tv{};
  tv.tv_sec = kReceiveTimeoutSeconds;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

std::size_t windowSize(nl_sock* sk) {
  int rcvbuf = 0;
  socklen_t len = sizeof(rcvbuf);
  if (getsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len) != 0 || rcvbuf <= 0) {
    return 16;
  }
  return std::clamp<std::size_t>(static_cast<std::size_t>(rcvbuf) / kAckTruesize, 1, kMaxWindow);
}

std::vector<Reply> exchange(nl_sock* sk, std::span<nl_msg* const> msgs) {
  const int fd = nl_socket_get_fd(sk);
  const std::size_t n = msgs.size();
  Exchange x;
  x.out.resize(n);
  x.answered.assign(n, false);
  x.bySeq.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    nl_complete_msg(sk, msgs[i]);  // port, next sequence number, NLM_F_REQUEST | NLM_F_ACK
    x.bySeq.emplace(nlmsg_hdr(msgs[i])->nlmsg_seq, i);
  }
  sendPacked(fd, msgs, &x);
  const int failure = receiveAcks(fd, &x);
  if (x.pending > 0) {
    for (std::size_t i = 0; i < n; ++i) {
      if (!x.answered[i]) {
        x.out[i] = Reply{failure != 0 ? failure : EIO, "no ack received"};
      }
    }
  }
  return std::move(x.out);
}

Status collect(nl_sock* sk, nl_msg* request, const std::function<Status(const nlmsghdr*)>& onMsg,
               bool* interrupted) {
  *interrupted = false;
  const int fd = nl_socket_get_fd(sk);
  nl_complete_msg(sk, request);
  nlmsghdr* req = nlmsg_hdr(request);
  if ((req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP) {
    req->nlmsg_flags &= ~NLM_F_ACK;  // a dump ends with NLMSG_DONE, it has no ack of its own
  }
  const uint32_t seq = req->nlmsg_seq;
  if (sendToKernel(fd, req, req->nlmsg_len) < 0) {
    return Error::sys(errno, "send request");
  }

  std::vector<char> buf(kDumpBuffer);
  Status result;  // the first error; the dump is still read to its end, or the kernel would
                  // refuse the socket's next dump with EBUSY while this one is unfinished
  for (;;) {
    iovec iov{buf.data(), buf.size()};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    const ssize_t len = recvmsg(fd, &mh, 0);
    if (len < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Error::sys(errno, "receive reply");
    }
    if ((mh.msg_flags & MSG_TRUNC) != 0) {
      return Error::sys(EMSGSIZE, "receive reply: message truncated");
    }
    auto remaining = static_cast<std::size_t>(len);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, remaining);
         h = NLMSG_NEXT(h, remaining)) {
      if (h->nlmsg_seq != seq) {
        continue;  // stale reply of an earlier request
      }
      if ((h->nlmsg_flags & NLM_F_DUMP_INTR) != 0) {
        *interrupted = true;
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        // NLMSG_DONE carries the dump's own status (an int, negative errno) since 4.x.
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
          int err = 0;
          std::memcpy(&err, NLMSG_DATA(h), sizeof(err));
          if (err < 0 && result.ok()) {
            result = Error{-err, std::strerror(-err)};
          }
        }
        return result;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) {
          return Error::sys(EBADMSG, "short error message");
        }
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (e->error == 0) {
          return result;  // the ack that ends a get
        }
        Error err{-e->error, std::strerror(-e->error)};
        if (std::string ext = extAckMessage(h, h->nlmsg_len); !ext.empty()) {
          err.message += " (" + ext + ")";
        }
        return err;
      }
      if (h->nlmsg_type < NLMSG_MIN_TYPE) {
        continue;  // NLMSG_NOOP, NLMSG_OVERRUN
      }
      if (result.ok()) {
        if (auto st = onMsg(h); !st) {
          result = st;
        }
      }
    }
  }
}

Error replyError(const Reply& r, const std::string& context) {
  Error e = Error::sys(r.error, context);
  if (!r.extAck.empty()) {
    e.message += " (" + r.extAck + ")";
  }
  return e;
}

}  // namespace ovl::nl::detail
