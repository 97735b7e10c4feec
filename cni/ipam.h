// ovl-cni's address management: which addresses of the node's pod subnet are held, and by which
// container interface.
//
// The pure part (IpamState and the functions on it) is unit-tested; IpamStore keeps one state
// per network on disk (<dataDir>/<network>/allocations.json), read and rewritten atomically
// under an exclusive flock(2) on <dataDir>/<network>/lock, so concurrent plugin invocations
// (a runtime starting many containers at once) never hand out one address twice, and the
// allocations survive restarts of the runtime and of the node (put dataDir on persistent
// storage to keep them across reboots).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/ip.h"
#include "common/result.h"

namespace ovl::cni {

struct Holder {
  std::string containerId;
  std::string ifname;
  auto operator<=>(const Holder&) const = default;
};

struct IpamState {
  std::optional<Ipv4> last;            // the address handed out last (round robin from there)
  std::map<Ipv4, Holder> allocations;  // held addresses
  // The network namespace each address was attached in (pod_network.h's netnsIdentity), so an
  // ADD of the same holder into another namespace can be told from a repeated one. Missing for
  // allocations made before it was recorded.
  std::map<Ipv4, std::string> sandboxes;

  bool operator==(const IpamState&) const = default;
  std::string toJson() const;
  static Result<IpamState> parse(const std::string& text, const std::string& source);
};

// The address `who` holds in `subnet`, if any.
std::optional<Ipv4> findAllocation(const IpamState& s, const Holder& who);

// An address of `subnet` for `who`: the one it already holds there (a repeated ADD), else the
// next free one after `last`, wrapping around. Never the network address (the VTEP's), the
// gateway, nor the broadcast address. ENOSPC when every address is held.
Result<Ipv4> allocate(IpamState& s, const Ipv4Prefix& subnet, Ipv4 gateway, const Holder& who);

// Frees what `who` holds (every address, in any subnet); returns the freed addresses.
std::vector<Ipv4> release(IpamState& s, const Holder& who);

// Frees every address whose holder is not in `valid`; returns what was freed.
std::vector<std::pair<Ipv4, Holder>> collectGarbage(IpamState& s, const std::set<Holder>& valid);

class IpamStore {
 public:
  // Creates <dataDir>/<network>/ if needed.
  static Result<IpamStore> open(const std::string& dataDir, const std::string& network);

  // Runs fn on the state under the lock, and writes the state back if fn changed it. Waits for
  // the lock up to `wait` (EAGAIN after that: another invocation holds it too long).
  Status update(const std::function<Status(IpamState&)>& fn,
                std::chrono::milliseconds wait = std::chrono::seconds(10));
  // A snapshot under the lock.
  Result<IpamState> read(std::chrono::milliseconds wait = std::chrono::seconds(10));

  const std::string& dir() const { return dir_; }

 private:
  IpamStore(std::string dir, UniqueFd lock) : dir_(std::move(dir)), lock_(std::move(lock)) {}
  Status lock(std::chrono::milliseconds wait);
  void unlock();
  Result<IpamState> load() const;

  std::string dir_;
  UniqueFd lock_;
};

}  // namespace ovl::cni
