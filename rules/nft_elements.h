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

// An element as the kernel holds it (read back, or acknowledged). The comment is kept as a
// hash: it is only ever compared, and 110,000 comment strings would double the view's size.
struct KernelElem {
  int32_t verdict = 0;
  std::string chain;
  std::array<uint32_t, 2> value{};
  size_t commentHash = 0;

  static size_t hashComment(std::string_view comment) {
    return std::hash<std::string_view>{}(comment);
  }
  bool sameAs(const DesiredElem& d) const {
    return verdict == d.data.verdict && value == d.data.value && chain == d.data.chain &&
           commentHash == hashComment(d.comment);
  }
  static KernelElem from(const DesiredElem& d) {
    return KernelElem{d.data.verdict, std::string(d.data.chain), d.data.value,
                      hashComment(d.comment)};
  }
};

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
