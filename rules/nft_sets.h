// The sets and maps of table `ip ovl`: the concatenation components their keys and values are
// made of, and one layout (name, key, data, flags, size) per set. Pure data, no kernel access.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ovl::nft {

// The concatenation components ovl's sets use, each one 32-bit register wide.
enum class Component : uint8_t {
  kAddr,   // IPv4 address, network byte order                      (nft type ipv4_addr)
  kProto,  // IP protocol number: 1 byte, then 3 zero bytes          (inet_proto)
  kPort,   // port: 2 bytes network order, then 2 zero bytes         (inet_service)
  kSlot,   // numgen result: u32 in host byte order, as numgen writes (mark: nft has no fixed-size
           //   integer type for a concat, and mark is a host-order u32, so `nft list` can print it)
};

enum class SetId : uint8_t {
  kServices,
  kNodePorts,
  kRejectServices,
  kRejectNodePorts,
  kEndpoints,
  kHairpin,
  kAffinityServices,
  kAffinityNodePorts,
  kVxlanPeers,  // the VXLAN allow-list: underlay addresses of the cluster's nodes (vxlan_allow.h)
  kAffinity,    // dynamic: filled by the kernel, never synced (keep it after the synced ones)
};
inline constexpr size_t kSetCount = 10;
inline constexpr size_t kSyncedSetCount = 9;

struct SetLayout {
  SetId id;
  const char* name;
  std::vector<Component> key;
  std::vector<Component> data;  // empty: a plain set, or a verdict map when verdict is set
  bool verdict = false;
  uint32_t flags = 0;  // NFT_SET_*
  uint32_t size = 0;   // 0 = unbounded
  uint32_t keyType() const;
  uint32_t dataType() const;  // NFT_DATA_VERDICT for verdict maps
  uint32_t keyLen() const { return static_cast<uint32_t>(key.size() * 4); }
  uint32_t dataLen() const { return static_cast<uint32_t>(data.size() * 4); }
};
const SetLayout& setLayout(SetId id);
const std::array<SetLayout, kSetCount>& setLayouts();

}  // namespace ovl::nft
