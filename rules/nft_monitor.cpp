#include "rules/nft_monitor.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <utility>
#include <vector>

namespace ovl::nat {

namespace {

// The attribute that names the table, per message type (0 = the message names none).
uint16_t tableAttr(uint16_t msg) {
  switch (msg) {
    case NFT_MSG_NEWTABLE:
    case NFT_MSG_DELTABLE:
      return NFTA_TABLE_NAME;
    case NFT_MSG_NEWCHAIN:
    case NFT_MSG_DELCHAIN:
      return NFTA_CHAIN_TABLE;
    case NFT_MSG_NEWRULE:
    case NFT_MSG_DELRULE:
      return NFTA_RULE_TABLE;
    case NFT_MSG_NEWSET:
    case NFT_MSG_DELSET:
      return NFTA_SET_TABLE;
    case NFT_MSG_NEWSETELEM:
    case NFT_MSG_DELSETELEM:
      return NFTA_SET_ELEM_LIST_TABLE;
    default:
      return 0;
  }
}

// The top-level attribute `type` of an nftables message (after its nfgenmsg), or nullptr.
// (libmnl's mnl_attr_for_each macro does not compile as C++.)
const nlattr* findAttr(const nlmsghdr* h, uint16_t type) {
  const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(h));
  auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(h, sizeof(nfgenmsg)));
  while (mnl_attr_ok(attr, static_cast<int>(tail - reinterpret_cast<const char*>(attr)))) {
    if (mnl_attr_get_type(attr) == type) {
      return attr;
    }
    attr = mnl_attr_next(attr);
  }
  return nullptr;
}

std::string stringAttr(const nlmsghdr* h, uint16_t type) {
  const nlattr* a = findAttr(h, type);
  return a != nullptr && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0 ? mnl_attr_get_str(a) : "";
}

uint32_t genPid(const nlmsghdr* h) {
  const nlattr* a = findAttr(h, NFTA_GEN_PROC_PID);
  return a != nullptr && mnl_attr_validate(a, MNL_TYPE_U32) >= 0 ? ntohl(mnl_attr_get_u32(a)) : 0;
}

}  // namespace

Result<NftMonitor> NftMonitor::create(std::string table) {
  mnl_socket* s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (s == nullptr) {
    return Error::sys(errno, "open nftables monitor socket");
  }
  NftMonitor m(s, std::move(table));
  if (mnl_socket_bind(s, 1u << (NFNLGRP_NFTABLES - 1), MNL_SOCKET_AUTOPID) < 0) {
    return Error::sys(errno, "subscribe to nftables notifications");
  }
  // Room for the notifications of a large transaction; an overflow is still handled (a full
  // re-read), just slower.
  int size = 8 << 20;
  setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
  return m;
}

NftMonitor::NftMonitor(NftMonitor&& o) noexcept
    : sock_(std::exchange(o.sock_, nullptr)), table_(std::move(o.table_)), touched_(o.touched_) {}

NftMonitor& NftMonitor::operator=(NftMonitor&& o) noexcept {
  if (this != &o) {
    if (sock_ != nullptr) {
      mnl_socket_close(sock_);
    }
    sock_ = std::exchange(o.sock_, nullptr);
    table_ = std::move(o.table_);
    touched_ = o.touched_;
  }
  return *this;
}

NftMonitor::~NftMonitor() {
  if (sock_ != nullptr) {
    mnl_socket_close(sock_);
  }
}

int NftMonitor::fd() const {
  return mnl_socket_get_fd(sock_);
}

Result<bool> NftMonitor::drainForeignChanges() {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
  bool foreign = false;
  const auto self = static_cast<uint32_t>(::getpid());
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return foreign;
      }
      if (errno == ENOBUFS) {
        // Lost notifications: nobody can tell whose they were.
        foreign = true;
        touched_ = false;
        continue;
      }
      if (errno == EINTR) {
        continue;
      }
      return Error::sys(errno, "read nftables notifications");
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(h, len);
         h = mnl_nlmsg_next(h, &len)) {
      if (NFNL_SUBSYS_ID(h->nlmsg_type) != NFNL_SUBSYS_NFTABLES) {
        continue;
      }
      const uint16_t msg = NFNL_MSG_TYPE(h->nlmsg_type);
      if (msg == NFT_MSG_NEWGEN) {
        if (touched_ && genPid(h) != self) {
          foreign = true;
        }
        touched_ = false;
        continue;
      }
      if (uint16_t attr = tableAttr(msg); attr != 0 && stringAttr(h, attr) == table_) {
        touched_ = true;
      }
    }
  }
}

}  // namespace ovl::nat
