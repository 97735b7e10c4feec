// The elements of ovl's sets and maps: a key, the data (a verdict or values) and a comment, as
// wanted (views into a DesiredIndex) and as the kernel holds them; their wire bytes (the register
// layout of nft_sets.h's components); and the userdata comments that rules and elements carry.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_map.h>

#include "rules/nft_handles.h"
#include "rules/nft_sets.h"

namespace ovl::nft {

// A set key as values in host order, one per component, compared component by component (the
// order NatPlan sorts in). Unused components are 0.
struct ElemKey {
  std::array<uint32_t, 4> w{};
  auto operator<=>(const ElemKey&) const = default;
};

// The data of an element: a verdict (+ chain) for verdict maps, values for data maps.
struct ElemData {
  int32_t verdict = 0;              // NF_DROP, NF_ACCEPT, NFT_GOTO, NFT_JUMP (verdict maps)
  std::string_view chain;           // for NFT_GOTO / NFT_JUMP
  std::array<uint32_t, 2> value{};  // data maps
};

// An element as wanted, as handed to the batch builder: views into a DesiredIndex.
struct DesiredElem {
  ElemKey key;
  ElemData data;
  std::string_view comment;
};

// An element as the kernel holds it (read back, or acknowledged). Its verdict, chain and
// comment are kept as one hash: they are only ever compared with the wanted element, and as
// strings they would triple the view's size (1.1 million elements at 100,000 services).
struct KernelElem {
  std::array<uint32_t, 2> value{};
  uint64_t hash = 0;  // hashOf(verdict, chain, comment)

  static uint64_t hashOf(int32_t verdict, std::string_view chain, std::string_view comment) {
    const uint64_t a = std::hash<std::string_view>{}(chain);
    const uint64_t b = std::hash<std::string_view>{}(comment);
    // boost::hash_combine's mixing, twice: the verdict, then the comment onto the chain.
    uint64_t h = a ^ (static_cast<uint32_t>(verdict) + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    return h ^ (b + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  }
  bool sameAs(const DesiredElem& d) const {
    return value == d.data.value && hash == hashOf(d.data.verdict, d.data.chain, d.comment);
  }
  static KernelElem from(const DesiredElem& d) {
    return KernelElem{d.data.value, hashOf(d.data.verdict, d.data.chain, d.comment)};
  }
};

// The elements of one set as the kernel holds them, in key order. A B-tree holds them in
// nodes of many values: about 1.1x their size, where a std::map node costs 32 bytes more than
// each element plus the allocator's rounding (1.1 million elements at 100,000 services).
using KernelElems = absl::btree_map<ElemKey, KernelElem>;

// Wire encoding of keys and data (the register bytes). Returns the number of bytes written.
size_t encode(const std::vector<Component>& comps, const std::array<uint32_t, 4>& w, uint8_t* out);
// False when len does not match the layout.
bool decode(const std::vector<Component>& comps, const void* data, size_t len,
            std::array<uint32_t, 4>& w);

// "10.96.0.10 . tcp . 80" for messages.
std::string keyToString(const SetLayout& layout, const ElemKey& key);

// A rule comment as stored in NFTNL_RULE_USERDATA (and back); "" when there is none.
UdataHandle commentUdata(std::string_view comment, uint8_t type);
std::string parseComment(const void* data, uint32_t len, uint8_t type);

}  // namespace ovl::nft
