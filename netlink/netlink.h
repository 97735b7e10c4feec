// ovl's rtnetlink layer over libnl-3 (route). Every C handle has one move-only RAII owner.
// All calls act on the network namespace the calling thread is in when the Netlink object is
// created (the socket is bound to that namespace for its whole life).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "netlink/types.h"

struct nl_sock;

namespace ovl::nl {

// Move-only owner of a connected NETLINK_ROUTE libnl socket.
class Socket {
 public:
  static Result<Socket> create();
  Socket(Socket&&) noexcept;
  Socket& operator=(Socket&&) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();
  nl_sock* get() const { return sock_; }

 private:
  explicit Socket(nl_sock* s) : sock_(s) {}
  nl_sock* sock_ = nullptr;
};

// One request socket; one method family per kernel object kind. Errors name the object and
// carry the kernel's errno and reason.
class Netlink {
 public:
  static Result<Netlink> create();

  // --- links
  Result<std::vector<Link>> links();
  Result<std::optional<Link>> linkByName(const std::string& name);
  Result<std::optional<Link>> linkByIndex(int index);
  // Creates the VXLAN device (down); fails with EEXIST if the name is taken.
  Result<Link> createVxlan(const VxlanSpec& spec);
  Result<Link> createBridge(const std::string& name, uint32_t mtu);
  Status deleteLink(int index);
  Status setUp(int index);
  Status setMtu(int index, uint32_t mtu);
  Status setMac(int index, const MacAddr& mac);
  Status setMaster(int index, int masterIndex);
  // Creates a veth pair: `spec.name` here, its peer `spec.peerName` directly in the network
  // namespace open at `spec.peerNetnsFd` (so the peer's name never has to be free here). Both
  // ends down; fails with EEXIST if either name is taken.
  Result<Link> createVeth(const VethSpec& spec);
  // A bridge port's hairpin mode (IFLA_BRPORT_MODE in AF_BRIDGE IFLA_PROTINFO, what `bridge link
  // set dev X hairpin on` sends): frames may leave through the port they came in on.
  Status setHairpin(int index, bool on);
  // nullopt when the interface is not a bridge port.
  Result<std::optional<bool>> hairpin(int index);

  // --- IPv4 addresses
  Result<std::vector<Address>> addresses(std::optional<int> index = std::nullopt);
  Status addAddress(const Address& a);  // EEXIST if present
  Status deleteAddress(const Address& a);

  // --- permanent neighbours (ARP) on one interface
  Result<std::vector<Neighbour>> neighbours(int index);  // only NUD_PERMANENT IPv4 entries
  Status replaceNeighbour(const Neighbour& n);           // NLM_F_CREATE|NLM_F_REPLACE
  Status deleteNeighbour(const Neighbour& n);

  // --- FDB entries (AF_BRIDGE, NTF_SELF) on one VXLAN interface
  Result<std::vector<FdbEntry>> fdb(int index);  // only entries with a dst (unicast remotes)
  Status appendFdb(const FdbEntry& f);   // NLM_F_CREATE|NLM_F_APPEND (like `bridge fdb append`)
  Status replaceFdb(const FdbEntry& f);  // NLM_F_CREATE|NLM_F_REPLACE
  Status deleteFdb(const FdbEntry& f);

  // --- IPv4 routes, main table
  Result<std::vector<Route>> routes(int index);  // routes whose output interface is index
  Status replaceRoute(const Route& r);
  Status deleteRoute(const Route& r);

  // --- route queries (what `ip route get DST [from SRC] [iif DEV]` sends). With iif, the kernel
  // runs the real input-route lookup for a packet arriving on iif from src, including the
  // reverse-path check: a packet rp_filter would drop fails with EXDEV (EINVAL on recent
  // kernels, 6.x, which report every martian source so), one that cannot be forwarded
  // (ip_forward off) with EHOSTUNREACH/ENETUNREACH. The error carries that errno.
  // iif 0: an output lookup, as for a packet this host sends.
  Result<RouteAnswer> routeGet(Ipv4 dst, std::optional<Ipv4> src = std::nullopt, int iif = 0);

  // --- bridge ports (AF_BRIDGE): every enslaved port with its hairpin mode
  Result<std::vector<BridgePort>> bridgePorts();  // (setHairpin: with the links above)

  // --- pipelined writes: many requests in flight, one ack each (used for cold programming of
  // thousands of objects). Returns one Status per op, in order.
  struct Op {
    enum class Kind {
      kReplaceNeighbour,
      kDeleteNeighbour,
      kReplaceFdb,
      kDeleteFdb,
      kReplaceRoute,
      kDeleteRoute
    };
    Kind kind;
    Neighbour neighbour{};
    FdbEntry fdbEntry{};
    Route route{};
    std::string toString() const;
  };
  std::vector<Status> applyBatch(std::span<const Op> ops);

 private:
  explicit Netlink(Socket s) : sock_(std::move(s)) {}
  Socket sock_;
};

// Subscribes to link, IPv4 address, neighbour and IPv4 route notifications. fd() is for poll();
// drain() reads everything pending without blocking. An overflow (ENOBUFS) is reported as
// Event::Kind::kOverflow: the caller must then re-read the kernel state in full.
struct Event {
  enum class Kind { kLink, kAddress, kNeighbour, kRoute, kOverflow };
  Kind kind = Kind::kLink;
  bool deleted = false;  // RTM_DEL*
  int index = 0;         // interface the object belongs to (0 if unknown)
  // The object, when it is of a kind ovl programs (parsed as the dumps parse it): a permanent
  // IPv4 neighbour, an FDB entry with a remote, a main-table single-path IPv4 route; the
  // device name of a link.
  std::optional<Neighbour> neighbour;
  std::optional<FdbEntry> fdb;
  std::optional<Route> route;
  std::string linkName;
  std::string toString() const;
};

class EventMonitor {
 public:
  static Result<EventMonitor> create();
  int fd() const;
  Result<std::vector<Event>> drain();

 private:
  explicit EventMonitor(Socket s) : sock_(std::move(s)) {}
  Socket sock_;
};

}  // namespace ovl::nl
