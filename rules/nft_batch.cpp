#include "rules/nft_batch.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace ovl::nft {
namespace {

// An element nest's attribute length is a u16: keep every element message well below 64 KiB.
constexpr size_t kMaxElementMessage = 60 * 1024;
constexpr size_t kMaxElementSize = 1024;
constexpr size_t kMessageRoom = 64 * 1024 + 4096;

void putNfgenmsg(nlmsghdr* nlh, uint8_t family, uint16_t resId) {
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = family;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(resId);
}

}  // namespace

NftBatch::NftBatch(NftSocket& sock, uint32_t genId) : sock_(sock) {
  reserve(kMessageRoom);
  auto* nlh = mnl_nlmsg_put_header(buf_.data() + used_);
  nlh->nlmsg_type = NFNL_MSG_BATCH_BEGIN;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = beginSeq_ = sock_.nextSeq();
  putNfgenmsg(nlh, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
  if (genId != 0) {
    mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genId));
  }
  used_ += nlh->nlmsg_len;
}

void NftBatch::reserve(size_t bytes) {
  if (buf_.size() < used_ + bytes) {
    // 1.5x: the old and the new buffer both live while it grows (a full sync is megabytes).
    buf_.resize(std::max(buf_.size() + buf_.size() / 2, used_ + bytes));
  }
}

void NftBatch::expect(size_t bytes) {
  if (buf_.size() < used_ + bytes + kMessageRoom) {
    buf_.resize(used_ + bytes + kMessageRoom);
  }
}

nlmsghdr* NftBatch::startMessage(uint16_t type, uint16_t flags, std::string what) {
  reserve(kMessageRoom);
  lastOffset_ = used_;
  auto* nlh = mnl_nlmsg_put_header(buf_.data() + used_);
  nlh->nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | type);
  nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  nlh->nlmsg_seq = sock_.nextSeq();
  putNfgenmsg(nlh, NFPROTO_IPV4, 0);
  Info info;
  info.seq = nlh->nlmsg_seq;
  info.what = std::move(what);
  infos_.push_back(std::move(info));
  return nlh;
}

void NftBatch::endMessage(nlmsghdr* nlh) {
  used_ += nlh->nlmsg_len;
}

void NftBatch::addTable(const std::string& table) {
  nlmsghdr* nlh = startMessage(NFT_MSG_NEWTABLE, NLM_F_CREATE, "add table ip " + table);
  mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table.c_str());
  endMessage(nlh);
  ++ops_;
}

void NftBatch::delTable(const std::string& table) {
  nlmsghdr* nlh = startMessage(NFT_MSG_DELTABLE, 0, "delete table ip " + table);
  mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table.c_str());
  endMessage(nlh);
  ++ops_;
}

void NftBatch::addChain(const nftnl_chain* chain, std::string what) {
  nlmsghdr* nlh = startMessage(NFT_MSG_NEWCHAIN, NLM_F_CREATE, std::move(what));
  nftnl_chain_nlmsg_build_payload(nlh, chain);
  endMessage(nlh);
  ++ops_;
}

void NftBatch::delChain(const std::string& table, const std::string& chain) {
  // The kernel deletes the chain's rules with it.
  nlmsghdr* nlh = startMessage(NFT_MSG_DELCHAIN, 0, "delete chain " + chain);
  mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, table.c_str());
  mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, chain.c_str());
  endMessage(nlh);
  ++ops_;
}

void NftBatch::flushChain(const std::string& table, const std::string& chain) {
  // DELRULE with a chain and no handle deletes every rule of the chain.
  nlmsghdr* nlh = startMessage(NFT_MSG_DELRULE, 0, "flush chain " + chain);
  mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table.c_str());
  mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, chain.c_str());
  endMessage(nlh);
  ++ops_;
}

void NftBatch::addRule(nftnl_rule* rule, std::string what) {
  nlmsghdr* nlh = startMessage(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, std::move(what));
  nftnl_rule_nlmsg_build_payload(nlh, rule);
  endMessage(nlh);
  ++ops_;
}

void NftBatch::addSet(nftnl_set* set, std::string what) {
  nlmsghdr* nlh = startMessage(NFT_MSG_NEWSET, NLM_F_CREATE, std::move(what));
  nftnl_set_nlmsg_build_payload(nlh, set);
  endMessage(nlh);
  ++ops_;
}

void NftBatch::delSet(const std::string& table, const std::string& set) {
  nlmsghdr* nlh = startMessage(NFT_MSG_DELSET, 0, "delete set " + set);
  mnl_attr_put_strz(nlh, NFTA_SET_TABLE, table.c_str());
  mnl_attr_put_strz(nlh, NFTA_SET_NAME, set.c_str());
  endMessage(nlh);
  ++ops_;
}

void NftBatch::elements(ElemOp op, const std::string& table, const std::string& set, size_t count,
                        const std::function<void(nlmsghdr*, size_t)>& put,
                        std::function<std::string(size_t)> name) {
  if (count == 0) {
    return;
  }
  // Not in Debian 12's kernel headers (6.1); the value of Linux 6.3's enum nf_tables_msg_types.
  constexpr uint16_t kMsgDestroySetElem = 30;
  auto shared = std::make_shared<std::function<std::string(size_t)>>(std::move(name));
  const bool add = op == ElemOp::kAdd;
  const std::string what = std::string(add                     ? "add"
                                       : op == ElemOp::kDelete ? "delete"
                                                               : "destroy") +
                           " elements of map " + set;
  uint16_t type = kMsgDestroySetElem;
  if (op != ElemOp::kDestroy) {
    type = add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM;
  }
  size_t i = 0;
  while (i < count) {
    nlmsghdr* nlh = startMessage(type, add ? NLM_F_CREATE | NLM_F_EXCL : 0, what);
    Info& info = infos_.back();
    info.firstElem = i;
    info.name = shared;
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table.c_str());
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set.c_str());
    nlattr* list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
    while (i < count && nlh->nlmsg_len + kMaxElementSize < kMaxElementMessage) {
      info.elemOffsets.push_back(nlh->nlmsg_len);
      nlattr* elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
      put(nlh, i);
      mnl_attr_nest_end(nlh, elem);
      ++i;
      ++ops_;
    }
    mnl_attr_nest_end(nlh, list);
    endMessage(nlh);
  }
}

uint32_t NftBatch::finish() {
  reserve(kMessageRoom);
  // The sentinel: the last real message carries NLM_F_ACK; its ack means the kernel got to the
  // end of the batch (a commit error is reported before it, on the BEGIN message).
  uint32_t sentinel = beginSeq_;
  if (!infos_.empty()) {
    sentinel = infos_.back().seq;
    reinterpret_cast<nlmsghdr*>(buf_.data() + lastOffset_)->nlmsg_flags |= NLM_F_ACK;
  }
  auto* nlh = mnl_nlmsg_put_header(buf_.data() + used_);
  nlh->nlmsg_type = NFNL_MSG_BATCH_END;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = sock_.nextSeq();
  putNfgenmsg(nlh, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
  used_ += nlh->nlmsg_len;
  buf_.resize(used_);
  finished_ = true;
  return sentinel;
}

std::string NftBatch::describe(const BatchError& e) const {
  if (e.seq == beginSeq_) {
    return "nftables batch";
  }
  auto it =
      std::find_if(infos_.begin(), infos_.end(), [&](const Info& i) { return i.seq == e.seq; });
  if (it == infos_.end()) {
    return "nftables batch (message " + std::to_string(e.seq) + ")";
  }
  if (it->name && !it->elemOffsets.empty()) {
    if (e.badOffset >= 0) {
      // The kernel points at the NFTA_LIST_ELEM nest of the element it refused (or inside it).
      auto pos = std::upper_bound(it->elemOffsets.begin(), it->elemOffsets.end(),
                                  static_cast<uint32_t>(e.badOffset));
      if (pos != it->elemOffsets.begin()) {
        const size_t idx = it->firstElem + static_cast<size_t>(pos - it->elemOffsets.begin()) - 1;
        return (*it->name)(idx);
      }
    }
    return it->what + " (" + (*it->name)(it->firstElem) + " and " +
           std::to_string(it->elemOffsets.size() - 1) + " more)";
  }
  return it->what;
}

}  // namespace ovl::nft
