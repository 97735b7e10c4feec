// ovl's own nftables table: read back from the kernel (existence and the keys of each synced
// set), the same from the services plan, and the findings where the two differ. The sets' key
// layouts are the ones the table is programmed with (rules/nft_layout.h).
#include "diagnostics/nft_inspect.h"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "rules/nft_handles.h"
#include "rules/nft_layout.h"
#include "rules/nft_socket.h"

namespace ovl::diag {

Result<OwnTable> readOwnTable(nft::NftSocket& sock, const std::string& table) {
  OwnTable t;
  {
    std::vector<char> buf(4096, 0);
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETTABLE, NFPROTO_IPV4, NLM_F_ACK,
                                          sock.nextSeq());
    mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table.c_str());
    Status s = sock.request(nlh, [&](const nlmsghdr*) {
      t.exists = true;
      return okStatus();
    });
    if (!s) {
      if (s.error().code == ENOENT) {
        return t;
      }
      return s.error().withContext("get table ip " + table);
    }
  }
  for (const auto& l : nft::setLayouts()) {
    if (l.id == nft::SetId::kAffinity) {
      continue;  // filled by the kernel
    }
    auto& keys = t.keys[l.name];
    std::vector<char> buf(4096, 0);
    nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), NFT_MSG_GETSETELEM, NFPROTO_IPV4, NLM_F_DUMP,
                                          sock.nextSeq());
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table.c_str());
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, l.name);
    Status s = sock.request(nlh, [&](const nlmsghdr* m) {
      nft::SetHandle set(nftnl_set_alloc());
      if (!set || nftnl_set_elems_nlmsg_parse(m, set.get()) < 0) {
        return okStatus();
      }
      struct Ctx {
        const nft::SetLayout* l;
        std::set<std::string>* keys;
      } ctx{&l, &keys};
      nftnl_set_elem_foreach(
          set.get(),
          [](nftnl_set_elem* e, void* data) -> int {
            auto& c = *static_cast<Ctx*>(data);
            uint32_t len = 0;
            const void* k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
            nft::ElemKey key;
            if (k != nullptr && nft::decode(c.l->key, k, len, key.w)) {
              c.keys->insert(nft::keyToString(*c.l, key));
            } else {
              c.keys->insert("(malformed key)");
            }
            return 0;
          },
          &ctx);
      return okStatus();
    });
    if (!s && s.error().code != ENOENT) {
      return s.error().withContext(std::string("list elements of set ") + l.name);
    }
  }
  return t;
}

OwnTable desiredOwnTable(const nat::NatPlan& plan,
                         const std::optional<nat::VxlanAllowPlan>& allow) {
  OwnTable t;
  t.exists = true;
  nft::DesiredIndex d = nft::DesiredIndex::of(plan);
  if (allow) {
    d.setVxlanAllow(*allow);
  }
  for (size_t i = 0; i < nft::kSyncedSetCount; ++i) {
    const auto& l = nft::setLayouts()[i];
    auto& keys = t.keys[l.name];
    for (const auto& [key, elem] : d.elems(i)) {
      keys.insert(nft::keyToString(l, key));
    }
  }
  return t;
}

std::vector<Finding> compareOwnTable(const OwnTable& desired, const OwnTable& actual,
                                     const std::string& table) {
  std::vector<Finding> out;
  const std::string subject = "table ip " + table;
  if (!actual.exists) {
    Finding f;
    f.check = "nft_table";
    f.severity = Severity::kError;
    f.subject = subject;
    f.title = "ovl's nftables table is missing";
    f.explanation =
        "Without it no service address is translated: cluster IPs and NodePorts do not answer. "
        "The agent creates it on its next pass; if it stays missing the agent is not running.";
    f.fixCommand = "systemctl restart ovl-agent";
    out.push_back(std::move(f));
    return out;
  }
  for (const auto& [set, want] : desired.keys) {
    static const std::set<std::string> kEmpty;
    auto it = actual.keys.find(set);
    const auto& have = it == actual.keys.end() ? kEmpty : it->second;
    std::vector<std::string> missing, extra;
    std::set_difference(want.begin(), want.end(), have.begin(), have.end(),
                        std::back_inserter(missing));
    std::set_difference(have.begin(), have.end(), want.begin(), want.end(),
                        std::back_inserter(extra));
    if (missing.empty() && extra.empty()) {
      continue;
    }
    Finding f;
    f.check = "nft_table";
    f.severity = Severity::kError;
    f.subject = subject + " set " + set;
    f.title = fmt::format("out of step with the datastore: {} element(s) missing, {} extra",
                          missing.size(), extra.size());
    f.explanation =
        set == nft::setLayout(nft::SetId::kVxlanPeers).name
            ? "The VXLAN allow-list does not hold the cluster's nodes: overlay traffic from a "
              "missing node is dropped, and an extra address may send VXLAN to the pods. A "
              "running agent repairs this within a second; a lasting difference means the agent "
              "is down or failing (see its log)."
            : "The table does not hold what the cluster's services say: traffic to the missing "
              "keys is not translated (or goes to endpoints that are gone). A running agent "
              "repairs this within a second; a lasting difference means the agent is down or "
              "failing (see its log).";
    auto sample = [](const std::vector<std::string>& v) {
      std::vector<std::string> s(v.begin(), v.begin() + std::min<size_t>(v.size(), 5));
      return fmt::format("{}{}", fmt::join(s, ", "), v.size() > 5 ? ", ..." : "");
    };
    if (!missing.empty()) {
      f.evidence.push_back({"missing", sample(missing)});
    }
    if (!extra.empty()) {
      f.evidence.push_back({"extra", sample(extra)});
    }
    f.fixCommand = "systemctl restart ovl-agent";
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Finding> vxlanAllowFindings(const std::optional<nat::VxlanDropCounter>& counter,
                                        const nat::VxlanAllowPlan& plan, const std::string& table) {
  Finding f;
  f.check = "vxlan_allow";
  f.subject = fmt::format("table ip {} chain {}", table, nat::kVxlanChain);
  const std::string rule =
      fmt::format("udp dport {} ip saddr != @vxlan_peers counter drop", plan.port);
  if (!counter) {
    f.severity = Severity::kError;
    f.title =
        fmt::format("the VXLAN allow-list is missing: UDP {} is accepted from anyone", plan.port);
    f.explanation =
        "Any host that can reach this node's underlay address can send VXLAN with the cluster's "
        "VNI, and the pods receive its inner packets with whatever source it forged. The agent "
        "writes the rule on its next pass; if it stays missing the agent is not running.";
    f.evidence.push_back({"expected rule", rule});
    f.fixCommand = "systemctl restart ovl-agent";
    return {std::move(f)};
  }
  f.severity = Severity::kInfo;
  f.title = fmt::format("{} VXLAN packets from non-cluster sources dropped", counter->packets);
  f.explanation = fmt::format(
      "Only the underlay addresses of the cluster's {} node(s) may send to UDP port {}; the rest "
      "is dropped and counted here. A host on the same link that forges a node's address is "
      "not stopped by this (an encrypted underlay, IPsec or WireGuard, would be).",
      plan.sources.size(), plan.port);
  f.evidence.push_back({"rule", rule});
  f.evidence.push_back(
      {"dropped", fmt::format("{} packets, {} bytes", counter->packets, counter->bytes)});
  return {std::move(f)};
}

}  // namespace ovl::diag
