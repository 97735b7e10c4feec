// rtnetlink over libnl-3 (route). Requests are built with libnl's rtnl_*_build_*_request() from
// libnl objects, each owned by one unique_ptr (netlink/nl_handles.h); they are sent and their
// acks collected by netlink/transport.h, which pipelines many requests per sendmsg() and keeps
// the kernel's errno and extended-ack text. Replies are parsed back into libnl objects and then
// into ovl's value types (netlink/types.h).
//
// The Netlink facade is defined one file per kernel object kind: link.cpp, bridge_port.cpp,
// address.cpp, neighbour.cpp (neighbours and FDB entries), route.cpp (routes and route queries)
// and event_monitor.cpp, over the request plumbing of request.h and the translators declared in
// messages.h. This file holds the socket, the facade's creation and the pipelined batch, whose
// operations span several kinds.
#include "netlink/netlink.h"

#include "netlink/libnl.h"  // before any other libnl header: see the name clash there

#include <linux/netlink.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "netlink/messages.h"
#include "netlink/nl_handles.h"
#include "netlink/transport.h"

namespace ovl::nl {

using detail::MsgPtr;

// --- Socket ----------------------------------------------------------------------------------

Result<Socket> Socket::create() {
  nl_sock* s = nl_socket_alloc();
  if (s == nullptr) {
    return Error::sys(ENOMEM, "allocate netlink socket");
  }
  if (int err = nl_connect(s, NETLINK_ROUTE); err < 0) {
    nl_socket_free(s);
    return detail::nlError(err, "connect NETLINK_ROUTE socket");
  }
  return Socket(s);
}

Socket::Socket(Socket&& o) noexcept : sock_(std::exchange(o.sock_, nullptr)) {}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    if (sock_ != nullptr) {
      nl_socket_free(sock_);
    }
    sock_ = std::exchange(o.sock_, nullptr);
  }
  return *this;
}

Socket::~Socket() {
  if (sock_ != nullptr) {
    nl_socket_free(sock_);  // closes the fd
  }
}

// --- Netlink ---------------------------------------------------------------------------------

Result<Netlink> Netlink::create() {
  auto s = Socket::create();
  if (!s) {
    return s.error().withContext("open rtnetlink");
  }
  detail::tuneRequestSocket(s->get());
  return Netlink(std::move(*s));
}

// --- pipelined batch -------------------------------------------------------------------------

namespace detail {

Result<MsgPtr> opRequest(const Netlink::Op& op) {
  using Kind = Netlink::Op::Kind;
  switch (op.kind) {
    case Kind::kReplaceNeighbour:
      return neighbourRequest(op.neighbour, false);
    case Kind::kDeleteNeighbour:
      return neighbourRequest(op.neighbour, true);
    case Kind::kReplaceFdb:
      return fdbRequest(op.fdbEntry, NLM_F_CREATE | NLM_F_REPLACE, false);
    case Kind::kDeleteFdb:
      return fdbRequest(op.fdbEntry, 0, true);
    case Kind::kReplaceRoute:
      return routeRequest(op.route, false);
    case Kind::kDeleteRoute:
      return routeRequest(op.route, true);
  }
  return Error::sys(EINVAL, "unknown op kind");
}

}  // namespace detail

std::vector<Status> Netlink::applyBatch(std::span<const Op> ops) {
  std::vector<Status> out(ops.size());
  const std::size_t window = detail::windowSize(sock_.get());
  std::vector<MsgPtr> owned;
  std::vector<nl_msg*> msgs;
  std::vector<std::size_t> opIndex;
  owned.reserve(window);
  msgs.reserve(window);
  opIndex.reserve(window);
  for (std::size_t start = 0; start < ops.size(); start += window) {
    const std::size_t end = std::min(ops.size(), start + window);
    owned.clear();
    msgs.clear();
    opIndex.clear();
    for (std::size_t i = start; i < end; ++i) {
      auto msg = detail::opRequest(ops[i]);
      if (!msg) {
        out[i] = msg.error().withContext(ops[i].toString());
        continue;
      }
      msgs.push_back(msg->get());
      owned.push_back(std::move(*msg));
      opIndex.push_back(i);
    }
    if (msgs.empty()) {
      continue;
    }
    auto replies = detail::exchange(sock_.get(), msgs);
    for (std::size_t k = 0; k < replies.size(); ++k) {
      const std::size_t i = opIndex[k];
      if (replies[k].error != 0) {
        out[i] = detail::replyError(replies[k], ops[i].toString());
      }
    }
  }
  return out;
}

}  // namespace ovl::nl
