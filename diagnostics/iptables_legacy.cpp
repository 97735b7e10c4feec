#include "diagnostics/iptables_legacy.h"

#include <arpa/inet.h>
#include <libiptc/libiptc.h>
#include <linux/netfilter.h>
#include <linux/netfilter/xt_tcpudp.h>

#include <cstring>
#include <map>
#include <memory>
#include <string_view>

#include <fmt/format.h>

namespace ovl::diag {

namespace {

struct HandleFree {
  void operator()(xtc_handle* h) const {
    if (h != nullptr) {
      iptc_free(h);
    }
  }
};
using Handle = std::unique_ptr<xtc_handle, HandleFree>;

const std::map<std::string_view, uint32_t>& builtinHooks() {
  static const std::map<std::string_view, uint32_t> kHooks = {
      {"PREROUTING", NF_INET_PRE_ROUTING},
      {"INPUT", NF_INET_LOCAL_IN},
      {"FORWARD", NF_INET_FORWARD},
      {"OUTPUT", NF_INET_LOCAL_OUT},
      {"POSTROUTING", NF_INET_POST_ROUTING}};
  return kHooks;
}

uint8_t prefixLength(in_addr mask) {
  uint8_t n = 0;
  for (uint32_t m = ntohl(mask.s_addr); (m & 0x80000000U) != 0; m <<= 1) {
    ++n;
  }
  return n;
}

// One ipt_entry in the model's terms.
NftRule toRule(const ipt_entry* e, xtc_handle* h, const std::string& table,
               const std::string& chain, uint64_t position) {
  NftRule r;
  r.family = "ip";
  r.table = table;
  r.chain = chain;
  r.handle = position;
  const ipt_ip& ip = e->ip;
  if (ip.invflags != 0) {
    r.unknownCondition = true;  // "! -s", "! -p", ...: not followed
  }
  if (ip.proto != 0) {
    r.l4proto = static_cast<uint8_t>(ip.proto);
  }
  if (ip.smsk.s_addr != 0) {
    r.addrs.push_back(Ipv4Prefix{Ipv4::fromNetworkOrder(ip.src.s_addr), prefixLength(ip.smsk)});
  }
  if (ip.dmsk.s_addr != 0) {
    r.addrs.push_back(Ipv4Prefix{Ipv4::fromNetworkOrder(ip.dst.s_addr), prefixLength(ip.dmsk)});
  }
  for (const char* iface : {ip.iniface, ip.outiface}) {
    const std::string name(iface, strnlen(iface, IFNAMSIZ));
    if (name.empty()) {
      continue;
    }
    if (name.back() == '+') {
      r.unknownCondition = true;  // a wildcard ("veth+")
    } else {
      r.ifnames.push_back(name);
    }
  }
  // The matches sit between the entry and its target.
  for (size_t off = sizeof(ipt_entry); off < e->target_offset;) {
    const auto* m = reinterpret_cast<const xt_entry_match*>(reinterpret_cast<const char*>(e) + off);
    if (m->u.match_size == 0) {
      break;
    }
    off += m->u.match_size;
    const std::string_view name = m->u.user.name;
    const uint16_t* dpts = nullptr;
    uint8_t inv = 0;
    if (name == "udp") {
      const auto* u = reinterpret_cast<const xt_udp*>(m->data);
      dpts = u->dpts;
      inv = u->invflags;
    } else if (name == "tcp") {
      const auto* t = reinterpret_cast<const xt_tcp*>(m->data);
      dpts = t->dpts;
      inv = t->invflags;
    } else {
      r.unknownCondition = true;  // conntrack, mark, comment, ...
      continue;
    }
    if (inv != 0) {
      r.unknownCondition = true;
    } else if (dpts[0] == dpts[1]) {
      r.dport = dpts[0];
    } else if (dpts[0] != 0 || dpts[1] != 0xffff) {
      r.unknownCondition = true;  // a port range
    }
  }
  const char* target = iptc_get_target(e, h);
  const std::string_view t = target != nullptr ? target : "";
  r.verdict = t == "DROP" || t == "REJECT" ? Verdict::kDrop
              : t == "ACCEPT"              ? Verdict::kAccept
              : t.empty()                  ? Verdict::kNone
                                           : Verdict::kOther;
  return r;
}

}  // namespace

Result<NftRuleset> readLegacyRuleset(const std::vector<std::string>& tables) {
  NftRuleset rs;
  for (const auto& table : tables) {
    errno = 0;
    Handle h(iptc_init(table.c_str()));
    if (!h) {
      return Error{errno, fmt::format("iptables-legacy table {}: {}", table, iptc_strerror(errno))};
    }
    for (const char* chain = iptc_first_chain(h.get()); chain != nullptr;
         chain = iptc_next_chain(h.get())) {
      NftChain c;
      c.family = "ip";
      c.table = table;
      c.name = chain;
      c.legacy = true;
      if (iptc_builtin(chain, h.get()) != 0) {
        if (auto it = builtinHooks().find(chain); it != builtinHooks().end()) {
          c.hook = it->second;
        }
        c.type = table;
        ipt_counters counters{};
        const char* policy = iptc_get_policy(chain, &counters, h.get());
        c.policy = policy != nullptr && std::string_view(policy) == "DROP" ? NF_DROP : NF_ACCEPT;
      }
      uint64_t position = 0;
      for (const ipt_entry* e = iptc_first_rule(chain, h.get()); e != nullptr;
           e = iptc_next_rule(e, h.get())) {
        c.rules.push_back(toRule(e, h.get(), table, chain, ++position));
      }
      rs.chains.push_back(std::move(c));
    }
  }
  return rs;
}

}  // namespace ovl::diag
