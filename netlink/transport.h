// Private to netlink/: the request/ack transport under Netlink. Messages are built with libnl's
// rtnl_*_build_*_request(), completed with nl_complete_msg() (port, sequence number, NLM_F_ACK)
// and sent raw on the libnl socket's fd, so that many requests go out in one sendmsg() and each
// ack is matched back to its request by sequence number, with the kernel's own errno and
// extended-ack text (libnl 3.7 neither pipelines nor reports extended acks).
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

struct nl_sock;
struct nl_msg;
struct nlmsghdr;

namespace ovl::nl::detail {

// The kernel's answer to one request.
struct Reply {
  int error = 0;       // positive errno; 0 = acknowledged
  std::string extAck;  // NLMSGERR_ATTR_MSG (e.g. "Nexthop device is not up"), may be empty
};

// Sets the options the transport relies on: extended and capped acks, a receive buffer large
// enough for a full window of acks, and a receive timeout so a lost ack cannot hang the caller.
void tuneRequestSocket(nl_sock* sk);

// Enlarges the receive buffer to `bytes` (SO_RCVBUFFORCE when privileged, else up to rmem_max).
void setReceiveBuffer(nl_sock* sk, int bytes);

// How many requests may be in flight at once on sk: every ack is queued in the socket's
// receive buffer until read, and an ack that does not fit is dropped by the kernel (ENOBUFS).
std::size_t windowSize(nl_sock* sk);

// Sends msgs (at most windowSize(sk)) in one sendmsg() and collects one reply per message, in
// the order of msgs. A failed request does not stop the others: the kernel processes every
// message of the datagram and acks each.
std::vector<Reply> exchange(nl_sock* sk, std::span<nl_msg* const> msgs);

// Runs one dump (NLM_F_DUMP set in request) or one get (ended by the kernel's ack). onMsg is
// called for every reply message (not for NLMSG_DONE/ERROR); after an error it returns the
// remaining replies are read and dropped. *interrupted is set when the kernel flagged a dump as
// inconsistent (NLM_F_DUMP_INTR: the table changed while it was being dumped).
Status collect(nl_sock* sk, nl_msg* request, const std::function<Status(const nlmsghdr*)>& onMsg,
               bool* interrupted);

// "context: strerror(err) (extended ack)" as an Error carrying err.
Error replyError(const Reply& r, const std::string& context);

}  // namespace ovl::nl::detail
