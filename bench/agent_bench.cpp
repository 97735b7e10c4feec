// ovl-bench-agent: the real ovl-agent with the file datastore, as an operator meets it, against
// its peers, side by side in one run. For `--services S --endpoints E` (ClusterIP services, one
// TCP port each; the endpoints map then holds S x E elements):
//
//  1. cold start, in a fresh namespace per sample, agent and peer alternating (which goes first
//     alternates by run):
//     - "exec to /readyz 200": from just before fork() of `ip netns exec NS ovl-agent` (process
//       start, reading agent.yaml, parsing the cluster file, planning, programming the overlay,
//       the first nftables sync with the kernel's own commit time and whatever the agent reads
//       back or checks before it calls itself ready) until GET /readyz (polled every 5 ms from
//       the namespace) first answers 200;
//     - "exec to every element in the kernel": from the same instant until the nftables
//       notification group of that namespace has reported all S x E elements of the `endpoints`
//       map (the kernel sends them as it commits the batch; what the agent does after its commit
//       is not in this timer);
//     - peer, `nft -f`: from just before fork() of `ip netns exec NS nft -f FILE` (nft's start,
//       parsing, evaluation, the kernel's commit) until nft exits, and until the same
//       notifications report S x E elements. FILE is the ruleset the agent programmed, dumped
//       once with `nft list table ip ovl` and made reloadable (see makeNftReloadable).
//  2. one service changed: two agents running side by side, one holding S services and one
//     holding 100 (two namespaces); per change, the cluster file is written in full next to the
//     watched one and renamed onto it, with one endpoint of one service replaced. Timed from
//     just before rename() until the notification group reports the new element in `endpoints`
//     (so: inotify, the agent's re-read and parse of the whole file, planning, the sync, the
//     kernel's commit). The two sizes alternate change by change.
//  3. peak RSS: VmHWM of the S-service agent of figure 2 read at the END of its run (after all
//     its changes), and for reference VmHWM at first readiness (figure 1).
// `--services 100000` runs the same figures; a peer that does not finish within --peer-timeout
// seconds is killed and skipped for the rest of the run, and the output says so.
// Every namespace is made for the measurement and deleted after it; nothing touches the host's
// own network.
#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "bench/bench_util.h"

#ifndef OVL_AGENT_PATH
#define OVL_AGENT_PATH "ovl-agent"
#endif

namespace {

using ovl::bench::describe;
using ovl::bench::nowMs;
using ovl::bench::ScopedNetns;
using ovl::bench::sh;

constexpr int kHealthPort = 19766;
constexpr int kSmallServices = 100;

// Service i's cluster IP is 10.96.0.10 + i; endpoint k of the whole cluster is
// 10.244.(1 + k/250).(2 + k%250) modulo 253 x 250 (the addressing of services_bench.cpp).
std::string vipOf(int i) {
  const uint32_t v = (10u << 24 | 96u << 16 | 10u) + static_cast<uint32_t>(i);
  return fmt::format("{}.{}.{}.{}", v >> 24, v >> 16 & 255, v >> 8 & 255, v & 255);
}

uint32_t endpointOf(int k) {
  k %= 253 * 250;
  return 10u << 24 | 244u << 16 | static_cast<uint32_t>(1 + k / 250) << 8 |
         static_cast<uint32_t>(2 + k % 250);
}

// Change c's new endpoint: 10.245.(c / 250).(2 + c % 250), never one of the synthetic ones.
uint32_t changedEndpoint(int c) {
  return 10u << 24 | 245u << 16 | static_cast<uint32_t>(c / 250) << 8 |
         static_cast<uint32_t>(2 + c % 250);
}

std::string ipString(uint32_t v) {
  return fmt::format("{}.{}.{}.{}", v >> 24, v >> 16 & 255, v >> 8 & 255, v & 255);
}

// The cluster file, one text chunk per service so that a change rewrites one chunk.
class ClusterFile {
 public:
  // The new content is written to `temp` (outside the watched directory, so that writing it
  // wakes nobody) and renamed onto `path`.
  ClusterFile(std::string path, std::string temp, int services, int endpoints)
      : path_(std::move(path)), temp_(std::move(temp)), endpoints_(endpoints) {
    eps_.resize(static_cast<size_t>(services));
    for (int i = 0; i < services; ++i) {
      for (int j = 0; j < endpoints; ++j) {
        eps_[static_cast<size_t>(i)].push_back(endpointOf(i * endpoints + j));
      }
      chunks_.push_back(chunk(i));
    }
  }
  // Replaces endpoint c % E of service (c * 7919) % S by changedEndpoint(c); returns it.
  uint32_t change(int c) {
    const size_t i = static_cast<size_t>(c) * 7919 % eps_.size();
    eps_[i][static_cast<size_t>(c % endpoints_)] = changedEndpoint(c);
    chunks_[i] = chunk(static_cast<int>(i));
    return changedEndpoint(c);
  }
  // Writes the whole file to the temporary path; rename() then puts it in place.
  const std::string& writeTemp() const {
    const std::string& tmp = temp_;
    std::ofstream out(tmp, std::ios::trunc);
    out << "network:\n  podCIDR: 10.244.0.0/16\n  serviceCIDR: 10.96.0.0/12\n"
           "nodes:\n  - name: node1\n    underlayIP: 192.168.50.1\n    podSubnet: 10.244.0.0/24\n"
           "services:\n";
    for (const auto& c : chunks_) {
      out << c;
    }
    out.close();
    if (!out) {
      throw std::runtime_error("cannot write " + tmp);
    }
    return tmp;
  }
  void write() const { sh(fmt::format("mv {} {}", writeTemp(), path_)); }
  const std::string& path() const { return path_; }

 private:
  std::string chunk(int i) const {
    std::string s = fmt::format(
        "  - namespace: bench\n    name: svc-{}\n    clusterIP: {}\n    ports:\n"
        "      - name: http\n        port: 80\n        targetPort: 8080\n    endpoints:\n",
        i, vipOf(i));
    for (uint32_t ip : eps_[static_cast<size_t>(i)]) {
      s += fmt::format("      - ip: {}\n        node: node2\n", ipString(ip));
    }
    return s;
  }
  std::string path_, temp_;
  int endpoints_;
  std::vector<std::vector<uint32_t>> eps_;
  std::vector<std::string> chunks_;
};

// Runs fn with this thread in the named namespace, then returns to the original one.
template <typename F>
auto inNetns(const std::string& name, F&& fn) {
  int orig = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (orig < 0 || fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
    throw std::runtime_error("cannot enter namespace " + name);
  }
  ::close(fd);
  struct Back {
    int orig;
    ~Back() {
      (void)::setns(orig, CLONE_NEWNET);
      ::close(orig);
    }
  } back{orig};
  return fn();
}

// The nftables notification group of one namespace, read by a thread of its own: counts the
// elements added to the `endpoints` map, with the time of the last, and reports when a given
// endpoint address first appears in an element of that map.
class NftWatch {
 public:
  explicit NftWatch(const std::string& ns) {
    nl_ = inNetns(ns, [] { return mnl_socket_open(NETLINK_NETFILTER); });
    int group = NFNLGRP_NFTABLES;
    int rcvbuf = 1 << 30;  // a limit, not an allocation: 1.1 million notifications may queue
    if (nl_ == nullptr || mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0 ||
        setsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) <
            0 ||
        mnl_socket_setsockopt(nl_, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
      throw std::runtime_error("nftables notification group: " + std::string(strerror(errno)));
    }
    timeval tv{0, 100000};
    setsockopt(mnl_socket_get_fd(nl_), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    thread_ = std::thread([this] { loop(); });
  }
  ~NftWatch() {
    stop_ = true;
    thread_.join();
    mnl_socket_close(nl_);
  }
  NftWatch(const NftWatch&) = delete;
  NftWatch& operator=(const NftWatch&) = delete;

  // Waits until `count` elements were added (or the deadline); the time of the last one, or
  // nullopt.
  std::optional<double> waitCount(size_t count, double deadlineMs) {
    std::unique_lock lk(mu_);
    cv_.wait_until(lk, toTimePoint(deadlineMs), [&] { return added_ >= count; });
    return added_ >= count ? std::optional<double>(lastMs_) : std::nullopt;
  }
  // Arms the watch for one address; waitSeen then returns when it first appears.
  void expect(uint32_t ip) {
    std::lock_guard lk(mu_);
    target_ = ip;
    seenMs_.reset();
  }
  std::optional<double> waitSeen(double deadlineMs) {
    std::unique_lock lk(mu_);
    cv_.wait_until(lk, toTimePoint(deadlineMs), [&] { return seenMs_.has_value(); });
    return seenMs_;
  }
  size_t added() {
    std::lock_guard lk(mu_);
    return added_;
  }
  bool lost() const { return lost_; }

 private:
  static std::chrono::steady_clock::time_point toTimePoint(double ms) {
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double, std::milli>(ms)));
  }
  void loop() {
    std::vector<char> buf(1 << 20);
    while (!stop_) {
      ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
      if (n < 0) {
        lost_ = lost_ || errno == ENOBUFS;
        continue;
      }
      const double t = nowMs();
      int left = static_cast<int>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(h, left);
           h = mnl_nlmsg_next(h, &left)) {
        if ((h->nlmsg_type & 0xff) == NFT_MSG_NEWSETELEM) {
          message(h, t);
        }
      }
    }
  }
  // One NEWSETELEM message: the elements of the `endpoints` map it adds.
  void message(const nlmsghdr* h, double t) {
    const nlattr* set = nullptr;
    const nlattr* elems = nullptr;
    const auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(h));
    for (auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(h, sizeof(nfgenmsg)));
         mnl_attr_ok(a, static_cast<int>(tail - reinterpret_cast<const char*>(a)));
         a = mnl_attr_next(a)) {
      if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET) {
        set = a;
      } else if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS) {
        elems = a;
      }
    }
    if (set == nullptr || elems == nullptr || std::strcmp(mnl_attr_get_str(set), "endpoints")) {
      return;
    }
    size_t count = 0;
    const auto* end =
        static_cast<const char*>(mnl_attr_get_payload(elems)) + mnl_attr_get_payload_len(elems);
    for (auto* e = static_cast<const nlattr*>(mnl_attr_get_payload(elems));
         mnl_attr_ok(e, static_cast<int>(end - reinterpret_cast<const char*>(e)));
         e = mnl_attr_next(e)) {
      ++count;
    }
    uint32_t be = 0;
    std::lock_guard lk(mu_);
    if (target_) {
      be = htonl(*target_);
      const char* p = static_cast<const char*>(mnl_attr_get_payload(elems));
      if (!seenMs_ && memmem(p, mnl_attr_get_payload_len(elems), &be, 4) != nullptr) {
        seenMs_ = t;
      }
    }
    added_ += count;
    lastMs_ = t;
    cv_.notify_all();
  }

  mnl_socket* nl_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false}, lost_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  size_t added_ = 0;
  double lastMs_ = 0;
  std::optional<uint32_t> target_;
  std::optional<double> seenMs_;
};

// GET /readyz on 127.0.0.1:port of namespace ns; the HTTP status, 0 if none.
int readyz(const std::string& ns, int port) {
  int fd = inNetns(ns, [] { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); });
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const char req[] = "GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req - 1)) {
      char buf[64] = {};
      if (::recv(fd, buf, sizeof buf - 1, MSG_WAITALL) > 12) {
        status = std::atoi(buf + 9);  // "HTTP/1.x NNN"
      }
    }
  }
  ::close(fd);
  return status;
}

// fork() + exec of `ip netns exec NS argv...` (ip execs, so the pid is the program's) with
// stdout and stderr to log.
pid_t spawnIn(const std::string& ns, const std::vector<std::string>& argv, const std::string& log) {
  std::vector<std::string> all = {"ip", "netns", "exec", ns};
  all.insert(all.end(), argv.begin(), argv.end());
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (auto& s : all) {
      args.push_back(s.data());
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  if (pid < 0) {
    throw std::runtime_error("fork failed");
  }
  return pid;
}

// One ovl-agent in its own namespace (with an underlay address) and directory.
class Agent {
 public:
  Agent(const std::string& ns, const std::string& dir, int services, int endpoints,
        bool witness = true)
      : ns_(ns, false),
        dir_(dir),
        file_(dir + "/cluster.yaml", dir + ".cluster.yaml.new", services, endpoints) {
    sh(fmt::format("rm -rf {0} && mkdir -p {0}", dir_));
    sh(
        fmt::format("ip -n {0} link add ul0 type veth peer name ul0p && ip -n {0} addr add "
                    "192.168.50.1/24 dev ul0 && ip -n {0} link set ul0 up && "
                    "ip -n {0} link set ul0p up",
                    ns));
    std::ofstream a(dir_ + "/agent.yaml");
    a << fmt::format(
        "nodeName: node1\nclusterFile: cluster.yaml\nhealthAddress: 127.0.0.1:{}\n"
        "stateDir: {}/state\nlogLevel: info\n",
        kHealthPort, dir_);
    a.close();
    file_.write();
    if (witness) {
      watch_ = std::make_unique<NftWatch>(ns);
    }
  }
  ~Agent() { stop(); }
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Starts the agent (t0 taken just before fork) and waits for /readyz 200; returns t0.
  double start(double timeoutMs) {
    const double t0 = nowMs();
    pid_ = spawnIn(ns_.name(), {agentPath(), "-c", dir_ + "/agent.yaml"}, dir_ + "/agent.log");
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("ovl-agent exited before it was ready; see " + log());
      }
      if (readyz(ns_.name(), kHealthPort) == 200) {
        readyMs_ = nowMs() - t0;
        return t0;
      }
      if (nowMs() - t0 > timeoutMs) {
        throw std::runtime_error("ovl-agent not ready in time; see " + log());
      }
      ::usleep(5000);
    }
  }
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  double readyMs() const { return readyMs_; }
  double hwmMb() const { return static_cast<double>(ovl::bench::vmHwmKb(pid_)) / 1024.0; }
  NftWatch& watch() { return *watch_; }
  bool watched() const { return watch_ != nullptr; }
  ClusterFile& file() { return file_; }
  const std::string& ns() const { return ns_.name(); }
  std::string log() const { return dir_ + "/agent.log"; }
  static std::string& agentPath() {
    static std::string path = OVL_AGENT_PATH;
    return path;
  }

 private:
  ScopedNetns ns_;
  std::string dir_;
  ClusterFile file_;
  std::unique_ptr<NftWatch> watch_;
  pid_t pid_ = -1;
  double readyMs_ = 0;
};

struct Options {
  int services = 10000;
  int endpoints = 10;
  int runs = 3;
  int changes = 100;
  int peerTimeoutS = 120;
  bool witness = true;  // figure 1's notification witness
  std::vector<int> figures = {1, 2, 3};
  bool want(int f) const { return std::find(figures.begin(), figures.end(), f) != figures.end(); }
  size_t elements() const { return static_cast<size_t>(services) * static_cast<size_t>(endpoints); }
};

struct ColdStart {
  std::vector<double> agentReady, agentKernel, agentHwm, nftExit, nftKernel;
  std::string nftSkipped;  // why the peer was given up, if it was
  std::string fixups;
  double dumpMs = 0;         // `nft list table ip ovl`, once, for reference
  std::string agentLogLine;  // the agent's own "converged" line of the last run
};

// The last line of the agent's log that contains `what`.
std::string lastLogLine(const std::string& log, const std::string& what) {
  std::ifstream f(log);
  std::string found;
  for (std::string line; std::getline(f, line);) {
    if (line.find(what) != std::string::npos) {
      found = line;
    }
  }
  return found;
}

void agentColdStart(const Options& o, const std::string& tag, int run, const std::string& nftFile,
                    ColdStart& out) {
  Agent agent(fmt::format("{}-a{}", tag, run), fmt::format("/tmp/{}/a{}", tag, run), o.services,
              o.endpoints, o.witness);
  const double t0 = agent.start(600000);
  out.agentReady.push_back(agent.readyMs());
  out.agentHwm.push_back(agent.hwmMb());
  out.agentLogLine = lastLogLine(agent.log(), "converged:");
  // The ruleset is dumped once, by the first run, within the peer's time bound (nft lists a
  // map of a million elements slowly).
  if (out.nftSkipped.empty() && !std::ifstream(nftFile).good()) {
    const std::string dump = nftFile + ".dump";
    const double d0 = nowMs();
    if (std::system(fmt::format("timeout {} ip netns exec {} nft list table ip ovl > {}",
                                o.peerTimeoutS, agent.ns(), dump)
                        .c_str()) != 0) {
      out.nftSkipped = fmt::format(
          "`nft list table ip ovl` (the ruleset for nft -f) did not finish in {} s "
          "(--peer-timeout)",
          o.peerTimeoutS);
    } else {
      out.dumpMs = nowMs() - d0;
      sh(fmt::format("mv {} {}", dump, nftFile));
      out.fixups = ovl::bench::makeNftReloadable(nftFile);
    }
  }
  if (!agent.watched()) {
    return;
  }
  auto last = agent.watch().waitCount(o.elements(), nowMs() + 600000);
  if (!last) {
    throw std::runtime_error(fmt::format(
        "agent: {} of {} endpoints elements reported by the kernel{}", agent.watch().added(),
        o.elements(), agent.watch().lost() ? " (notifications lost: ENOBUFS)" : ""));
  }
  out.agentKernel.push_back(*last - t0);
}

void nftColdStart(const Options& o, const std::string& tag, int run, const std::string& nftFile,
                  ColdStart& out) {
  ScopedNetns ns(fmt::format("{}-n{}", tag, run), false);
  std::optional<NftWatch> watch;
  if (o.witness) {
    watch.emplace(ns.name());
  }
  const double t0 = nowMs();
  pid_t pid = spawnIn(ns.name(), {"nft", "-f", nftFile}, fmt::format("/tmp/{}/nft.log", tag));
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (nowMs() - t0 > o.peerTimeoutS * 1000.0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      out.nftSkipped = fmt::format(
          "nft -f did not finish in {} s (--peer-timeout); killed, and "
          "not run again",
          o.peerTimeoutS);
      return;
    }
    ::usleep(2000);
  }
  const double exitMs = nowMs() - t0;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(fmt::format("nft -f {} failed; see /tmp/{}/nft.log", nftFile, tag));
  }
  out.nftExit.push_back(exitMs);
  if (!watch) {
    return;
  }
  auto last = watch->waitCount(o.elements(), nowMs() + 10000);
  if (!last) {
    throw std::runtime_error(fmt::format("nft -f: {} of {} endpoints elements reported{}",
                                         watch->added(), o.elements(),
                                         watch->lost() ? " (notifications lost: ENOBUFS)" : ""));
  }
  out.nftKernel.push_back(*last - t0);
}

ColdStart figureColdStart(const Options& o, const std::string& tag) {
  ColdStart out;
  const std::string nftFile = fmt::format("/tmp/{}/ovl.nft", tag);
  // The agent's first run dumps the ruleset the peer loads, so run 0 starts with the agent.
  for (int run = 0; run < o.runs; ++run) {
    const bool nftFirst = run % 2 == 1;
    if (nftFirst && out.nftSkipped.empty()) {
      nftColdStart(o, tag, run, nftFile, out);
    }
    agentColdStart(o, tag, run, nftFile, out);
    if (!nftFirst && out.nftSkipped.empty()) {
      nftColdStart(o, tag, run, nftFile, out);
    }
  }
  return out;
}

struct Changes {
  std::vector<double> big, small, bigReadyHwm, bigEndHwm;
  int applied = 0;
};

// One change to one agent: the file renamed into place, then the new element awaited.
double changeOnce(Agent& a, int c) {
  const uint32_t ip = a.file().change(c);
  const std::string& tmp = a.file().writeTemp();
  a.watch().expect(ip);
  const double t0 = nowMs();
  if (::rename(tmp.c_str(), a.file().path().c_str()) != 0) {
    throw std::runtime_error("rename " + tmp + ": " + strerror(errno));
  }
  auto seen = a.watch().waitSeen(nowMs() + 120000);
  if (!seen) {
    throw std::runtime_error(fmt::format("change {} ({}) not in the kernel after 120 s; see {}", c,
                                         ipString(ip), a.log()));
  }
  return *seen - t0;
}

void figureChanges(const Options& o, const std::string& tag, int run, Changes& out) {
  Agent big(fmt::format("{}-b{}", tag, run), fmt::format("/tmp/{}/b{}", tag, run), o.services,
            o.endpoints);
  Agent small(fmt::format("{}-s{}", tag, run), fmt::format("/tmp/{}/s{}", tag, run), kSmallServices,
              o.endpoints);
  big.start(600000);
  small.start(600000);
  out.bigReadyHwm.push_back(big.hwmMb());
  // Settle: the first pass's element notifications are in before the first change.
  (void)big.watch().waitCount(o.elements(), nowMs() + 600000);
  for (int c = 0; c < o.changes; ++c) {
    if (c % 2 == 0) {
      out.small.push_back(changeOnce(small, c));
      out.big.push_back(changeOnce(big, c));
    } else {
      out.big.push_back(changeOnce(big, c));
      out.small.push_back(changeOnce(small, c));
    }
  }
  out.applied = o.changes;
  out.bigEndHwm.push_back(big.hwmMb());
}

void printMb(const char* label, const std::vector<double>& v) {
  ovl::bench::Stats s = ovl::bench::Stats::of(v);
  std::printf("%-58s median %9.1f MB  (min %9.1f, max %9.1f, n=%zu)\n", label, s.median, s.min,
              s.max, v.size());
}

double med(const std::vector<double>& v) {
  return ovl::bench::Stats::of(v).median;
}

void printColdStart(const Options& o, const ColdStart& c) {
  std::printf(
      "1. cold start, %zu endpoints elements; fresh namespaces per sample, agent and nft -f "
      "alternating; %s\n",
      o.elements(),
      o.witness ? "a notification listener in every namespace (handed one message per element, for "
                  "both sides)"
                : "no notification listener (--no-witness)");
  std::printf("%s\n", describe("ovl-agent: exec to /readyz 200", c.agentReady).c_str());
  if (o.witness) {
    std::printf("%s\n",
                describe("ovl-agent: exec to every element in the kernel", c.agentKernel).c_str());
  }
  std::printf("  (agent's own log, last run: %s)\n", c.agentLogLine.c_str());
  if (!c.nftSkipped.empty()) {
    std::printf("nft -f of the same ruleset: SKIPPED: %s\n", c.nftSkipped.c_str());
  }
  if (!c.nftExit.empty()) {
    std::printf("%s\n", describe("nft -f of the same ruleset: exec to exit", c.nftExit).c_str());
    if (o.witness) {
      std::printf("%s\n",
                  describe("nft -f: exec to every element in the kernel", c.nftKernel).c_str());
    }
    std::printf(
        "  (dumped once in %.0f ms; the dump does not reload verbatim; rewritten for nft "
        "-f: %s)\n",
        c.dumpMs, c.fixups.c_str());
  }
  if (c.nftSkipped.empty() && !c.nftExit.empty()) {
    std::printf("ratio agent /readyz / nft -f exit:               %.3f (target <= 0.5)\n",
                med(c.agentReady) / med(c.nftExit));
    if (o.witness) {
      std::printf("ratio agent in kernel / nft -f in kernel:        %.3f (target <= 0.5)\n",
                  med(c.agentKernel) / med(c.nftKernel));
    }
  }
  std::printf("ovl-agent cold start median:              %.0f ms (target < 10000 ms)\n",
              med(c.agentReady));
  printMb("ovl-agent peak RSS (VmHWM) at first readiness", c.agentHwm);
}

void printChanges(const Options& o, const Changes& ch) {
  std::printf(
      "2. one service changed (%d changes per run, sizes alternating): rename() of the "
      "rewritten cluster file to the new element's notification\n",
      ch.applied);
  std::printf("%s\n", describe(fmt::format("ovl-agent, {} services", o.services), ch.big).c_str());
  std::printf("%s\n",
              describe(fmt::format("ovl-agent, {} services", kSmallServices), ch.small).c_str());
  std::printf("ratio %d / %d services:                 %.2f (target <= 1.5)\n", o.services,
              kSmallServices, med(ch.big) / med(ch.small));
  std::printf("3. peak RSS of the %d-service agent\n", o.services);
  printMb("VmHWM at first readiness (reference)", ch.bigReadyHwm);
  printMb(fmt::format("VmHWM at the end of the run (after {} changes)", ch.applied).c_str(),
          ch.bigEndHwm);
  std::printf("peak RSS over the run, median:            %.1f MB (target < %d MB)\n",
              med(ch.bigEndHwm), o.services > 10000 ? 400 : 100);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "ovl-agent end to end (file datastore): cold start vs nft -f, one change vs 100 "
      "services, peak RSS"};
  Options o;
  app.add_option("--services", o.services, "ClusterIP services")
      ->check(CLI::Range(kSmallServices, 200000));
  app.add_option("--endpoints", o.endpoints, "endpoints per service")->check(CLI::Range(1, 250));
  app.add_option("--runs", o.runs, "runs per figure")->check(CLI::Range(1, 100));
  app.add_option("--changes", o.changes, "file changes per run and size (figures 2, 3)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--peer-timeout", o.peerTimeoutS, "seconds after which a peer is given up")
      ->check(CLI::Range(1, 3600));
  app.add_option("--agent", Agent::agentPath(), "the ovl-agent binary");
  app.add_flag("!--no-witness", o.witness,
               "figure 1 without the notification witness (a listener is handed a notification "
               "per element, for the agent and nft -f alike): /readyz and nft's exit only");
  app.add_option("--figures", o.figures, "1 cold start, 2 one change and 3 peak RSS (one run)")
      ->delimiter(',')
      ->check(CLI::Range(1, 3));
  CLI11_PARSE(app, argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "agent_bench needs root (it creates network namespaces)\n");
    return 2;
  }
  const std::string tag = fmt::format("ovlab{}", getpid());
  sh("mkdir -p /tmp/" + tag);
  int rc = 0;
  try {
    std::printf("ovl-agent, file datastore, %d ClusterIP services x %d endpoints, %d runs (%s)\n",
                o.services, o.endpoints, o.runs, Agent::agentPath().c_str());
    std::fflush(stdout);
    if (o.want(1)) {
      printColdStart(o, figureColdStart(o, tag));
      std::fflush(stdout);
    }
    if (o.want(2) || o.want(3)) {
      Changes ch;
      for (int run = 0; run < o.runs; ++run) {
        figureChanges(o, tag, run, ch);
      }
      printChanges(o, ch);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agent_bench: %s\n", e.what());
    rc = 1;
  }
  sh("rm -rf /tmp/" + tag);
  return rc;
}
