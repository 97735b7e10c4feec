#include "rules/conntrack.h"

#include <arpa/inet.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <set>
#include <string>
#include <tuple>

#include <fmt/format.h>

namespace ovl::conntrack {

namespace {

// Large dumps arrive faster than a default-sized socket buffer drains (ENOBUFS).
constexpr unsigned int kRecvBufferBytes = 4u << 20;

// (original destination address, original destination port, reply source address, reply
// source port), host order.
using FlowKey = std::tuple<uint32_t, uint16_t, uint32_t, uint16_t>;

struct ConntrackFree {
  void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};
using ConntrackPtr = std::unique_ptr<nf_conntrack, ConntrackFree>;

struct DumpState {
  const std::set<FlowKey>* wanted = nullptr;
  std::vector<ConntrackPtr> matches;
  bool cloneFailed = false;
};

int collect(enum nf_conntrack_msg_type /*type*/, struct nf_conntrack* ct, void* data) {
  auto* st = static_cast<DumpState*>(data);
  if (nfct_get_attr_u8(ct, ATTR_L3PROTO) != AF_INET ||
      nfct_get_attr_u8(ct, ATTR_L4PROTO) != IPPROTO_UDP) {
    return NFCT_CB_CONTINUE;
  }
  const uint32_t origDst = ntohl(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST));
  const uint16_t origPort = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  const uint32_t replySrc = ntohl(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC));
  const uint16_t replyPort = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
  if (st->wanted->contains(FlowKey{origDst, origPort, replySrc, replyPort}) ||
      st->wanted->contains(FlowKey{0, origPort, replySrc, replyPort})) {
    nf_conntrack* copy = nfct_clone(ct);
    if (copy == nullptr) {
      st->cloneFailed = true;
      return NFCT_CB_STOP;
    }
    st->matches.emplace_back(copy);
  }
  return NFCT_CB_CONTINUE;
}

std::string describe(const nf_conntrack* ct) {
  auto addr = [ct](nf_conntrack_attr a) {
    return Ipv4::fromNetworkOrder(nfct_get_attr_u32(ct, a)).toString();
  };
  auto port = [ct](nf_conntrack_attr a) { return ntohs(nfct_get_attr_u16(ct, a)); };
  return fmt::format("udp {}:{} -> {}:{} (reply from {}:{})", addr(ATTR_ORIG_IPV4_SRC),
                     port(ATTR_ORIG_PORT_SRC), addr(ATTR_ORIG_IPV4_DST), port(ATTR_ORIG_PORT_DST),
                     addr(ATTR_REPL_IPV4_SRC), port(ATTR_REPL_PORT_SRC));
}

}  // namespace

void Conntrack::Closer::operator()(nfct_handle* h) const {
  nfct_close(h);
}

Result<Conntrack> Conntrack::create() {
  nfct_handle* h = nfct_open(CONNTRACK, 0);
  if (h == nullptr) {
    return Error::sys(errno, "open conntrack netlink socket (nfct_open)");
  }
  nfnl_rcvbufsiz(nfct_nfnlh(h), kRecvBufferBytes);
  return Conntrack(h);
}

Result<size_t> Conntrack::deleteUdpFlows(const std::vector<StaleUdpFlow>& flows) {
  if (flows.empty()) {
    return size_t{0};
  }
  std::set<FlowKey> wanted;
  for (const auto& f : flows) {
    wanted.emplace(f.vip.value, f.port, f.endpoint.value, f.endpointPort);
  }

  DumpState st;
  st.wanted = &wanted;
  if (nfct_callback_register(h_.get(), NFCT_T_ALL, collect, &st) != 0) {
    return Error::sys(errno, "conntrack: register dump callback");
  }
  uint32_t family = AF_INET;
  const int rc = nfct_query(h_.get(), NFCT_Q_DUMP, &family);
  const int dumpErr = errno;
  nfct_callback_unregister(h_.get());
  if (st.cloneFailed) {
    return Error::sys(ENOMEM, "conntrack: copy a matching entry of the dump");
  }
  if (rc != 0) {
    return Error::sys(dumpErr, "conntrack: dump the IPv4 table");
  }

  size_t deleted = 0;
  for (const auto& ct : st.matches) {
    if (nfct_query(h_.get(), NFCT_Q_DESTROY, ct.get()) == 0) {
      ++deleted;
    } else if (errno != ENOENT) {  // ENOENT: it expired since the dump
      return Error::sys(errno, fmt::format("conntrack: delete {} ({} of {} deleted)",
                                           describe(ct.get()), deleted, st.matches.size()));
    }
  }
  return deleted;
}

}  // namespace ovl::conntrack
