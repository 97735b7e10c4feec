// The request plumbing shared by the object kinds: messages built from a fixed header and
// attributes, one request and its ack, a dump retried while the kernel reports it interrupted.
#include "netlink/request.h"

#include <cerrno>
#include <span>

#include "netlink/transport.h"

namespace ovl::nl::detail {
namespace {

// A dump interrupted by a concurrent change (NLM_F_DUMP_INTR) is retried this many times.
constexpr int kDumpAttempts = 5;

}  // namespace

Result<MsgPtr> simpleRequest(int type, int flags, const void* hdr, std::size_t hdrLen) {
  MsgPtr msg(nlmsg_alloc_simple(type, flags));
  if (!msg) {
    return Error::sys(ENOMEM, "allocate netlink message");
  }
  if (int err = nlmsg_append(msg.get(), const_cast<void*>(hdr), hdrLen, NLMSG_ALIGNTO); err < 0) {
    return nlError(err, "build netlink message");
  }
  return msg;
}

Result<MsgPtr> putU32(Result<MsgPtr> msg, int attr, uint32_t value) {
  if (!msg) {
    return msg;
  }
  if (int err = nla_put_u32(msg->get(), attr, value); err < 0) {
    return nlError(err, "build netlink message");
  }
  return msg;
}

Status run(nl_sock* sk, Result<MsgPtr> msg, const std::string& what) {
  if (!msg) {
    return msg.error().withContext(what);
  }
  nl_msg* raw = msg->get();
  auto replies = exchange(sk, std::span<nl_msg* const>(&raw, 1));
  if (replies[0].error != 0) {
    return replyError(replies[0], what);
  }
  return okStatus();
}

Status runDump(nl_sock* sk, const std::string& what, const std::function<Result<MsgPtr>()>& build,
               const std::function<Status(const nlmsghdr*)>& onMsg,
               const std::function<void()>& reset) {
  for (int attempt = 1;; ++attempt) {
    reset();
    auto req = build();
    if (!req) {
      return req.error().withContext(what);
    }
    bool interrupted = false;
    if (Status st = collect(sk, req->get(), onMsg, &interrupted); !st) {
      return st.error().withContext(what);
    }
    if (!interrupted) {
      return okStatus();
    }
    if (attempt == kDumpAttempts) {
      return Error::sys(EAGAIN, what + ": the table kept changing while it was dumped");
    }
  }
}

}  // namespace ovl::nl::detail
