#include "rules/nft_socket.h"

#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ovl::nft {
namespace {

constexpr size_t kRxBufferSize = 1 << 20;
constexpr int kRcvBuf = 8 << 20;

// Parses an NLMSG_ERROR into a BatchError (code 0 = an ack).
BatchError parseError(const nlmsghdr* nlh) {
  BatchError e;
  if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr)) {
    e.code = EBADMSG;
    return e;
  }
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  e.seq = err->msg.nlmsg_seq;
  e.code = -err->error;
  if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) == 0) {
    return e;
  }
  // Extended ack attributes follow the nlmsgerr; with NETLINK_CAP_ACK the original message is
  // not echoed (NLM_F_CAPPED), otherwise its payload sits in between.
  size_t offset = sizeof(nlmsgerr);
  if ((nlh->nlmsg_flags & NLM_F_CAPPED) == 0) {
    offset += err->msg.nlmsg_len - NLMSG_HDRLEN;
  }
  struct Ctx {
    BatchError* e;
  } ctx{&e};
  mnl_attr_parse(
      nlh, static_cast<unsigned>(offset),
      [](const nlattr* attr, void* data) -> int {
        auto* c = static_cast<Ctx*>(data);
        switch (mnl_attr_get_type(attr)) {
          case NLMSGERR_ATTR_MSG:
            if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0) {
              c->e->extMessage = mnl_attr_get_str(attr);
            }
            break;
          case NLMSGERR_ATTR_OFFS:
            if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
              c->e->badOffset = mnl_attr_get_u32(attr);
            }
            break;
          default:
            break;
        }
        return MNL_CB_OK;
      },
      &ctx);
  return e;
}

}  // namespace

Result<NftSocket> NftSocket::create() {
  MnlSocketHandle sock(mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC));
  if (!sock) {
    return Error::sys(errno, "open netlink socket (NETLINK_NETFILTER)");
  }
  if (mnl_socket_bind(sock.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return Error::sys(errno, "bind netlink socket (NETLINK_NETFILTER)");
  }
  int one = 1;
  // Extended acks name the bad attribute (its offset) and give the kernel's reason; capped acks
  // keep the kernel from echoing a 64 KiB element message back with every error.
  mnl_socket_setsockopt(sock.get(), NETLINK_EXT_ACK, &one, sizeof(one));
  mnl_socket_setsockopt(sock.get(), NETLINK_CAP_ACK, &one, sizeof(one));
  const int fd = mnl_socket_get_fd(sock.get());
  // Errors of a large batch all arrive at once, before sendmsg returns.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kRcvBuf, sizeof(kRcvBuf)) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kRcvBuf, sizeof(kRcvBuf));
  }
  const uint32_t portId = mnl_socket_get_portid(sock.get());
  NftSocket s(std::move(sock), portId);
  s.seq_ = static_cast<uint32_t>(time(nullptr));
  s.rx_.resize(kRxBufferSize);
  return s;
}

Status NftSocket::growBuffers(size_t bytes) {
  // The kernel refuses a message larger than the send buffer (EMSGSIZE), and a batch must be
  // one message train in one sendmsg: grow SO_SNDBUF to fit (FORCE: above wmem_max, as root).
  if (bytes + 4096 <= sndBuf_) {
    return okStatus();
  }
  size_t want = std::max<size_t>(bytes * 2, 4 << 20);
  if (want > (1u << 30)) {
    want = 1u << 30;
  }
  const int v = static_cast<int>(want / 2);  // the kernel doubles the value it is given
  const int fd = mnl_socket_get_fd(sock_.get());
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) < 0) {
    return Error::sys(errno, "set SO_SNDBUF on the nftables socket");
  }
  int actual = 0;
  socklen_t len = sizeof(actual);
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &actual, &len);
  sndBuf_ = static_cast<size_t>(actual);
  return okStatus();
}

Status NftSocket::request(const nlmsghdr* nlh,
                          const std::function<Status(const nlmsghdr*)>& onMessage) {
  if (mnl_socket_sendto(sock_.get(), nlh, nlh->nlmsg_len) < 0) {
    return Error::sys(errno, "send netlink request");
  }
  const uint32_t seq = nlh->nlmsg_seq;
  Status failure;
  while (true) {
    const ssize_t n = mnl_socket_recvfrom(sock_.get(), rx_.data(), rx_.size());
    if (n < 0) {
      return Error::sys(errno, "receive netlink reply");
    }
    const auto* msg = reinterpret_cast<const nlmsghdr*>(rx_.data());
    int left = static_cast<int>(n);
    for (; mnl_nlmsg_ok(msg, left); msg = mnl_nlmsg_next(msg, &left)) {
      if (msg->nlmsg_seq != seq || msg->nlmsg_pid != portId_) {
        continue;  // a late reply to something else
      }
      if (msg->nlmsg_type == NLMSG_DONE) {
        return failure;
      }
      if (msg->nlmsg_type == NLMSG_ERROR) {
        const BatchError e = parseError(msg);
        if (e.code == 0) {
          return failure;
        }
        std::string text = e.extMessage.empty() ? "" : " (" + e.extMessage + ")";
        return Error{e.code, std::string(std::strerror(e.code)) + text};
      }
      if (msg->nlmsg_type < NLMSG_MIN_TYPE) {
        continue;
      }
      if (failure.ok()) {
        failure = onMessage(msg);
      }
    }
    if ((nlh->nlmsg_flags & NLM_F_DUMP) == 0 && (nlh->nlmsg_flags & NLM_F_ACK) == 0) {
      return failure;  // a plain get: one reply, no ack
    }
  }
}

Result<std::vector<BatchError>> NftSocket::sendBatch(std::span<const char> buf,
                                                     uint32_t sentinelSeq) {
  if (Status s = growBuffers(buf.size()); !s) {
    return s.error();
  }
  if (mnl_socket_sendto(sock_.get(), buf.data(), buf.size()) < 0) {
    return Error::sys(errno, "send nftables batch (" + std::to_string(buf.size()) + " bytes)");
  }
  // nfnetlink runs the whole batch inside sendmsg: every ack and error is queued by now. Read
  // until the sentinel's ack; errors of earlier messages come first (they are queued in order).
  std::vector<BatchError> errors;
  bool sentinelSeen = false;
  while (!sentinelSeen) {
    const ssize_t n = recv(mnl_socket_get_fd(sock_.get()), rx_.data(), rx_.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      }
      return Error::sys(errno, "receive nftables batch acks");
    }
    const auto* msg = reinterpret_cast<const nlmsghdr*>(rx_.data());
    int left = static_cast<int>(n);
    for (; mnl_nlmsg_ok(msg, left); msg = mnl_nlmsg_next(msg, &left)) {
      if (msg->nlmsg_type != NLMSG_ERROR) {
        continue;
      }
      BatchError e = parseError(msg);
      if (e.code != 0) {
        errors.push_back(e);
      }
      if (e.seq == sentinelSeq) {
        sentinelSeen = true;
      }
    }
  }
  if (!sentinelSeen && errors.empty()) {
    errors.push_back(BatchError{sentinelSeq, EPROTO, "no acknowledgement for the batch", -1});
  }
  return errors;
}

}  // namespace ovl::nft
