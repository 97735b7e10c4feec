// Builds one nf_tables transaction: BATCH_BEGIN, the messages, BATCH_END, in one contiguous
// buffer that NftSocket sends with a single sendmsg (the kernel runs a batch only when it
// arrives as one skb). Remembers what each message is about, so that an error the kernel
// reports for (sequence number, attribute offset) can name the object.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rules/nft_handles.h"
#include "rules/nft_socket.h"

namespace ovl::nft {

class NftBatch {
 public:
  // genId != 0: the kernel refuses the batch (ERESTART) if the ruleset changed since genId.
  NftBatch(NftSocket& sock, uint32_t genId);

  void addTable(const std::string& table);
  void delTable(const std::string& table);
  void addChain(const nftnl_chain* chain, std::string what);
  void delChain(const std::string& table, const std::string& chain);
  void flushChain(const std::string& table, const std::string& chain);
  void addRule(nftnl_rule* rule, std::string what);
  void addSet(nftnl_set* set, std::string what);
  void delSet(const std::string& table, const std::string& set);

  // kAdd: NFT_MSG_NEWSETELEM, with NLM_F_EXCL (a duplicate key fails the batch); kDelete:
  // NFT_MSG_DELSETELEM (a missing key fails it); kDestroy: NFT_MSG_DESTROYSETELEM (Linux 6.3+,
  // a missing key is not an error).
  enum class ElemOp { kAdd, kDelete, kDestroy };
  // count elements, packed many to a message. put(nlh, i) writes the attributes of element i
  // inside its NFTA_LIST_ELEM nest; name(i) names it for errors.
  void elements(ElemOp op, const std::string& table, const std::string& set, size_t count,
                const std::function<void(nlmsghdr*, size_t)>& put,
                std::function<std::string(size_t)> name);

  // Closes the batch; returns the sequence number of the sentinel (the last message, sent with
  // NLM_F_ACK). Call once.
  uint32_t finish();

  std::span<const char> buffer() const { return {buf_.data(), buf_.size()}; }
  size_t operations() const { return ops_; }  // objects/elements touched
  size_t messages() const { return infos_.size(); }
  bool empty() const { return infos_.empty(); }

  // "add element 10.96.0.10 . tcp . 80 to map services" for an error the kernel reported.
  std::string describe(const BatchError& e) const;
  // About `bytes` more will be added: grow once now rather than step by step.
  void expect(size_t bytes);
  // Frees the buffer and the bookkeeping (after the batch was sent and acknowledged).
  void release() {
    Buffer().swap(buf_);
    std::vector<Info>().swap(infos_);
  }

 private:
  struct Info {
    uint32_t seq = 0;
    std::string what;                   // for non-element messages
    std::vector<uint32_t> elemOffsets;  // element messages: offset of each nest
    size_t firstElem = 0;               // index of the first element
    std::shared_ptr<std::function<std::string(size_t)>> name;
  };

  // Leaves new bytes uninitialised (libmnl writes every byte it sends, headers and padding
  // included): a full sync's buffer is sized from an estimate, and zeroing it would make every
  // page of the estimate resident, the unused end too (tens of MB at 100,000 services).
  template <typename T>
  struct UninitAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
      using other = UninitAllocator<U>;
    };
    template <typename U>
    void construct(U* p) noexcept {
      ::new (static_cast<void*>(p)) U;
    }
  };
  using Buffer = std::vector<char, UninitAllocator<char>>;

  nlmsghdr* startMessage(uint16_t type, uint16_t flags, std::string what);
  void endMessage(nlmsghdr* nlh);
  void reserve(size_t bytes);

  NftSocket& sock_;
  Buffer buf_;
  size_t used_ = 0;
  size_t lastOffset_ = 0;
  size_t ops_ = 0;
  uint32_t beginSeq_ = 0;
  std::vector<Info> infos_;
  bool finished_ = false;
};

}  // namespace ovl::nft
