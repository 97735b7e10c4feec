#include "cli/kernel_services.h"

#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "model/service.h"
#include "rules/nft_handles.h"
#include "rules/nft_socket.h"

namespace ovl::cli {

namespace {

struct ElemContext {
  const nft::SetLayout* layout;
  std::vector<KernelElement>* out;
};

int onElement(nftnl_set_elem* e, void* data) {
  auto& c = *static_cast<ElemContext*>(data);
  KernelElement k;
  k.set = c.layout->id;
  uint32_t len = 0;
  const void* key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
  if (key == nullptr || !nft::decode(c.layout->key, key, len, k.key.w)) {
    return 0;  // not ovl's layout: nothing to show (diagnose reports the table out of step)
  }
  if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
    k.verdict = static_cast<int32_t>(nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT));
  }
  if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN)) {
    k.chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
  }
  if (const void* d = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len);
      d != nullptr && !c.layout->data.empty()) {
    std::array<uint32_t, 4> w{};
    if (nft::decode(c.layout->data, d, len, w)) {
      k.value = {w[0], w[1]};
    }
  }
  if (const void* ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len); ud != nullptr) {
    k.comment = nft::parseComment(ud, len, NFTNL_UDATA_SET_ELEM_COMMENT);
  }
  c.out->push_back(std::move(k));
  return 0;
}

Result<bool> tableExists(nft::NftSocket& sock, const std::string& table) {
  std::vector<char> buf(4096, 0);
  nlmsghdr* nlh =
      nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETTABLE, NFPROTO_IPV4, NLM_F_ACK, sock.nextSeq());
  mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table.c_str());
  bool exists = false;
  Status s = sock.request(nlh, [&](const nlmsghdr*) {
    exists = true;
    return okStatus();
  });
  if (!s && s.error().code != ENOENT) {
    return s.error().withContext("get table ip " + table);
  }
  return exists;
}

// "lbaff_3_masq" -> its parts; false for a chain that is not a balancing target.
bool parseTargetChain(std::string name, KernelFrontend& f) {
  for (auto [suffix, flag] :
       {std::pair{"_masq", &f.masquerade}, std::pair{"_keep", &f.keepSource}}) {
    const std::string_view s = suffix;
    if (name.ends_with(s)) {
      *flag = true;
      name.resize(name.size() - s.size());
    }
  }
  const auto underscore = name.rfind('_');
  if (underscore == std::string::npos) {
    return false;
  }
  const std::string base = name.substr(0, underscore);
  if (base != "lb" && base != "lbaff" && base != "nplb" && base != "nplbaff") {
    return false;
  }
  f.slots = static_cast<uint32_t>(std::strtoul(name.c_str() + underscore + 1, nullptr, 10));
  return f.slots > 0;
}

std::string protoName(uint32_t p) {
  return p <= 0xff ? svc::toString(static_cast<svc::Protocol>(p)) : std::to_string(p);
}

// The frontend of an element of services/nodeports/reject_*: its key and what it does.
KernelFrontend frontendOf(const KernelElement& e) {
  KernelFrontend f;
  f.nodePort = e.set == nft::SetId::kNodePorts || e.set == nft::SetId::kRejectNodePorts;
  const auto& w = e.key.w;
  f.frontend = f.nodePort ? fmt::format("*:{}/{}", w[1], protoName(w[0]))
                          : fmt::format("{}:{}/{}", Ipv4{w[0]}.toString(), w[2], protoName(w[1]));
  const auto colon = e.comment.rfind(':');
  f.service = colon == std::string::npos ? e.comment : e.comment.substr(0, colon);
  f.port = colon == std::string::npos ? "" : e.comment.substr(colon + 1);
  if (e.verdict == NF_DROP) {
    f.action = "drop";
  } else if (parseTargetChain(e.chain, f)) {
    f.action = "balance";
  } else if (e.chain == "svc_reject" || e.chain.empty()) {
    f.action = "reject";
  } else {
    f.action = "goto " + e.chain;  // not a chain this ovl writes: shown as it is
  }
  return f;
}

// The key the endpoints and affinity maps use for a frontend: (daddr or 0, proto, port).
std::tuple<uint32_t, uint32_t, uint32_t> serviceKey(const KernelElement& e) {
  const bool nodePort = e.set == nft::SetId::kNodePorts || e.set == nft::SetId::kRejectNodePorts ||
                        e.set == nft::SetId::kAffinityNodePorts;
  const auto& w = e.key.w;
  return nodePort ? std::tuple{0u, w[0], w[1]} : std::tuple{w[0], w[1], w[2]};
}

}  // namespace

Result<KernelTable> readKernelTable(nft::NftSocket& sock, const std::string& table) {
  KernelTable t;
  auto exists = tableExists(sock, table);
  if (!exists) {
    return exists.error();
  }
  t.exists = *exists;
  for (size_t i = 0; t.exists && i < nft::kSyncedSetCount; ++i) {
    const nft::SetLayout& l = nft::setLayouts()[i];
    std::vector<char> buf(4096, 0);
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETSETELEM, NFPROTO_IPV4, NLM_F_DUMP,
                                          sock.nextSeq());
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table.c_str());
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, l.name);
    ElemContext ctx{&l, &t.elements};
    Status s = sock.request(nlh, [&](const nlmsghdr* m) {
      nft::SetHandle set(nftnl_set_alloc());
      if (set && nftnl_set_elems_nlmsg_parse(m, set.get()) >= 0) {
        nftnl_set_elem_foreach(set.get(), onElement, &ctx);
      }
      return okStatus();
    });
    if (!s && s.error().code != ENOENT) {
      return s.error().withContext(std::string("list the elements of set ") + l.name);
    }
  }
  return t;
}

std::vector<KernelFrontend> groupFrontends(const KernelTable& t) {
  using Key = std::tuple<uint32_t, uint32_t, uint32_t>;
  std::map<Key, std::map<std::string, uint32_t>> endpoints;  // key -> address -> slots
  std::map<Key, uint32_t> affinity;                          // key -> timeout
  for (const auto& e : t.elements) {
    if (e.set == nft::SetId::kEndpoints) {
      const Key k{e.key.w[0], e.key.w[1], e.key.w[2]};
      ++endpoints[k][fmt::format("{}:{}", Ipv4{e.value[0]}.toString(), e.value[1])];
    } else if (e.set == nft::SetId::kAffinityServices || e.set == nft::SetId::kAffinityNodePorts) {
      const auto underscore = e.chain.rfind('_');
      if (underscore != std::string::npos) {
        affinity[serviceKey(e)] =
            static_cast<uint32_t>(std::strtoul(e.chain.c_str() + underscore + 1, nullptr, 10));
      }
    }
  }
  std::vector<KernelFrontend> out;
  for (const auto& e : t.elements) {
    if (e.set != nft::SetId::kServices && e.set != nft::SetId::kNodePorts &&
        e.set != nft::SetId::kRejectServices && e.set != nft::SetId::kRejectNodePorts) {
      continue;
    }
    KernelFrontend f = frontendOf(e);
    const Key k = serviceKey(e);
    if (auto it = affinity.find(k); it != affinity.end()) {
      f.affinitySeconds = it->second;
    }
    if (auto it = endpoints.find(k); it != endpoints.end() && f.action == "balance") {
      for (const auto& [address, slots] : it->second) {
        f.endpoints.push_back(KernelEndpoint{address, slots});
      }
    }
    out.push_back(std::move(f));
  }
  std::stable_sort(out.begin(), out.end(), [](const KernelFrontend& a, const KernelFrontend& b) {
    return std::tie(a.service, a.nodePort, a.port) < std::tie(b.service, b.nodePort, b.port);
  });
  return out;
}

}  // namespace ovl::cli
