// The netlink socket ovl talks nf_tables over: one libmnl socket (NETLINK_NETFILTER), bound to
// the network namespace current when it is created. Requests, dumps and atomic batches.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "rules/nft_handles.h"

namespace ovl::nft {

// One error the kernel reported for one message of a batch.
struct BatchError {
  uint32_t seq = 0;
  int code = 0;            // positive errno
  std::string extMessage;  // NLMSGERR_ATTR_MSG, "" when the kernel gave none
  int64_t badOffset = -1;  // NLMSGERR_ATTR_OFFS: offset of the bad attribute in the message
};

class NftSocket {
 public:
  static Result<NftSocket> create();

  NftSocket(NftSocket&&) noexcept = default;
  NftSocket& operator=(NftSocket&&) noexcept = default;

  // Next sequence number for a message this socket sends.
  uint32_t nextSeq() { return ++seq_; }
  uint32_t portId() const { return portId_; }

  // Sends one request (nlh, already built) and calls onMessage for every reply until the
  // kernel's ack / NLMSG_DONE. A dump is a request with NLM_F_DUMP.
  Status request(const nlmsghdr* nlh, const std::function<Status(const nlmsghdr*)>& onMessage);

  // Sends a whole batch (BEGIN .. END, built by NftBatch) with one sendmsg, so the kernel gets
  // it as one skb and runs it as one transaction. Collects the errors the kernel reports; the
  // batch was committed iff the result is empty and the message carrying sentinelSeq (sent
  // with NLM_F_ACK) was acknowledged.
  Result<std::vector<BatchError>> sendBatch(std::span<const char> buf, uint32_t sentinelSeq);

 private:
  explicit NftSocket(MnlSocketHandle sock, uint32_t portId)
      : sock_(std::move(sock)), portId_(portId) {}
  Status growBuffers(size_t bytes);

  MnlSocketHandle sock_;
  uint32_t portId_ = 0;
  uint32_t seq_ = 0;
  size_t sndBuf_ = 0;
  std::vector<char> rx_;
};

}  // namespace ovl::nft
