// An in-memory OverlayKernel with the kernel's semantics where the reconciler depends on them
// (EEXIST on a taken name, ENOENT on deleting what is absent, entries vanish with their
// device), plus counters and injected failures.
#pragma once

#include <functional>
#include <map>

#include "overlay/overlay_kernel.h"

namespace ovl::test {

class FakeKernel : public OverlayKernel {
 public:
  int addLink(nl::Link l) {
    l.index = nextIndex_++;
    links_.push_back(l);
    return l.index;
  }
  nl::Link* link(const std::string& name) {
    for (auto& l : links_) {
      if (l.name == name) {
        return &l;
      }
    }
    return nullptr;
  }
  std::vector<nl::Address>& addressList() { return addresses_; }
  PeerState& peers(int index) { return peers_[index]; }

  int reads = 0;      // full dumps (links)
  int peerReads = 0;  // peer-state dumps
  int writes = 0;     // ops sent
  std::function<std::optional<Error>(const nl::Netlink::Op&)> failOp;

  Result<std::vector<nl::Link>> links() override {
    ++reads;
    return links_;
  }
  Result<std::vector<nl::Address>> addresses() override { return addresses_; }
  Result<nl::Link> createVxlan(const nl::VxlanSpec& s) override {
    if (link(s.name)) {
      return Error::sys(EEXIST, "create " + s.name);
    }
    nl::Link l{
        0,     s.name, "vxlan",      s.mac,
        s.mtu, false,  std::nullopt, nl::VxlanInfo{s.vni, s.local, s.underlayIndex, s.port, false}};
    l.index = addLink(l);
    return l;
  }
  Result<nl::Link> createBridge(const std::string& name, uint32_t mtu) override {
    if (link(name)) {
      return Error::sys(EEXIST, "create " + name);
    }
    nl::Link l{0, name, "bridge", MacAddr{}, mtu, false, std::nullopt, std::nullopt};
    l.index = addLink(l);
    return l;
  }
  Status deleteLink(int index) override {
    auto n = std::erase_if(links_, [&](const nl::Link& l) { return l.index == index; });
    if (n == 0) {
      return Error::sys(ENODEV, "delete link");
    }
    std::erase_if(addresses_, [&](const nl::Address& a) { return a.index == index; });
    peers_.erase(index);
    return okStatus();
  }
  Status setUp(int index) override {
    return with(index, [](nl::Link& l) { l.up = true; });
  }
  Status setMtu(int index, uint32_t mtu) override {
    return with(index, [&](nl::Link& l) { l.mtu = mtu; });
  }
  Status setMac(int index, const MacAddr& mac) override {
    return with(index, [&](nl::Link& l) { l.mac = mac; });
  }
  Status addAddress(const nl::Address& a) override {
    addresses_.push_back(a);
    return okStatus();
  }
  Status deleteAddress(const nl::Address& a) override {
    std::erase(addresses_, a);
    return okStatus();
  }
  Result<PeerState> peerState(int index) override {
    ++peerReads;
    return peers_[index];
  }
  std::vector<Status> apply(std::span<const nl::Netlink::Op> ops) override {
    std::vector<Status> out;
    for (const auto& op : ops) {
      ++writes;
      if (failOp) {
        if (auto e = failOp(op)) {
          out.push_back(*e);
          continue;
        }
      }
      PeerState& s = peers_[indexOf(op)];
      if (isDelete(op) && !contains(s, op)) {
        out.push_back(Error::sys(ENOENT, op.toString()));
        continue;
      }
      kernelApply(s, op);
      out.push_back(okStatus());
    }
    return out;
  }

 private:
  using Kind = nl::Netlink::Op::Kind;
  static int indexOf(const nl::Netlink::Op& op) {
    switch (op.kind) {
      case Kind::kReplaceNeighbour:
      case Kind::kDeleteNeighbour:
        return op.neighbour.index;
      case Kind::kReplaceFdb:
      case Kind::kDeleteFdb:
        return op.fdbEntry.index;
      default:
        return op.route.index;
    }
  }
  static bool isDelete(const nl::Netlink::Op& op) {
    return op.kind == Kind::kDeleteNeighbour || op.kind == Kind::kDeleteFdb ||
           op.kind == Kind::kDeleteRoute;
  }
  static bool contains(const PeerState& s, const nl::Netlink::Op& op) {
    switch (op.kind) {
      case Kind::kDeleteNeighbour:
        return std::find(s.neighbours.begin(), s.neighbours.end(), op.neighbour) !=
               s.neighbours.end();
      case Kind::kDeleteFdb:
        return std::find(s.fdb.begin(), s.fdb.end(), op.fdbEntry) != s.fdb.end();
      default:
        return std::find_if(s.routes.begin(), s.routes.end(), [&](const nl::Route& r) {
                 return r.dst == op.route.dst;
               }) != s.routes.end();
    }
  }
  // The kernel's semantics, written independently of the production applyToState() so that a
  // mistake there shows up as a difference here.
  static void kernelApply(PeerState& s, const nl::Netlink::Op& op) {
    switch (op.kind) {
      case Kind::kReplaceNeighbour:  // one entry per IP: NLM_F_REPLACE overwrites its MAC
        for (auto& n : s.neighbours) {
          if (n.ip == op.neighbour.ip) {
            n = op.neighbour;
            return;
          }
        }
        s.neighbours.push_back(op.neighbour);
        return;
      case Kind::kDeleteNeighbour:  // by IP
        std::erase_if(s.neighbours,
                      [&](const nl::Neighbour& n) { return n.ip == op.neighbour.ip; });
        return;
      case Kind::kReplaceFdb:  // vxlan: NLM_F_REPLACE rewrites the MAC's first remote
        for (auto& f : s.fdb) {
          if (f.mac == op.fdbEntry.mac) {
            f.dst = op.fdbEntry.dst;
            return;
          }
        }
        s.fdb.push_back(op.fdbEntry);
        return;
      case Kind::kDeleteFdb:  // by MAC and remote
        std::erase(s.fdb, op.fdbEntry);
        return;
      case Kind::kReplaceRoute:  // one route per destination in the table
        for (auto& r : s.routes) {
          if (r.dst == op.route.dst) {
            r = op.route;
            return;
          }
        }
        s.routes.push_back(op.route);
        return;
      case Kind::kDeleteRoute:
        std::erase_if(s.routes, [&](const nl::Route& r) { return r.dst == op.route.dst; });
        return;
    }
  }

  Status with(int index, const std::function<void(nl::Link&)>& f) {
    for (auto& l : links_) {
      if (l.index == index) {
        f(l);
        return okStatus();
      }
    }
    return Error::sys(ENODEV, "link #" + std::to_string(index));
  }

  int nextIndex_ = 1;
  std::vector<nl::Link> links_;
  std::vector<nl::Address> addresses_;
  std::map<int, PeerState> peers_;
};

}  // namespace ovl::test
