// The probes of `ovlctl connectivity`: ICMP echo over a raw ICMP socket, TCP connect, and a UDP
// datagram that waits for a reply or an ICMP port unreachable. Each socket is opened inside the
// network namespace it probes from (a socket stays bound to the namespace it was made in), so
// all legs, from the pod and from the host, run at once in one poll loop on this thread: a run
// takes about one timeout however many legs it has.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cli/connectivity_plan.h"
#include "common/fd.h"
#include "common/ip.h"
#include "common/result.h"

namespace ovl::cli {

struct ProbeLeg {
  ProbeKind kind = ProbeKind::kIcmp;
  Ipv4 ip;
  uint16_t port = 0;
  int netnsFd = -1;  // the namespace to probe from; -1: the current one
};

// A socket made inside the network namespace open at netnsFd (-1: the current one).
Result<UniqueFd> socketIn(int netnsFd, int domain, int type, int protocol);

// The RFC 1071 Internet checksum of data (for the ICMP header).
uint16_t internetChecksum(const uint8_t* data, size_t len);

// "connection refused", "network unreachable (no route)", ... for an errno of a probe.
std::string probeError(int err);

struct ProbeRun {
  std::vector<LegResult> results;  // one per leg, in order
  bool interrupted = false;        // stopFd became readable: the legs not done are kSkipped
};

// Runs every leg at once. A leg that gets no answer within `timeout` fails ("no answer within
// N ms"), except UDP, which is inconclusive then. onDone(i, result) runs as each leg ends
// (progress). stopFd (a signalfd; -1: none) readable = stop at once.
ProbeRun runProbes(const std::vector<ProbeLeg>& legs, std::chrono::milliseconds timeout, int stopFd,
                   const std::function<void(size_t, const LegResult&)>& onDone);

}  // namespace ovl::cli
