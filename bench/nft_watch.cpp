// ovl-bench-nft-watch: an independent witness of nftables set element additions, with the time
// each one reached the kernel's notification group (not nft(8), whose `monitor` output is
// block-buffered into a pipe). Run inside a network namespace:
//
//   ovl-bench-nft-watch A.B.C
//
// For every NFT_MSG_NEWSETELEM notification, prints "MICROSECONDS A.B.C.D" (realtime clock) for
// each IPv4 address of A.B.C.0/24 found in the message, and flushes each line.
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  unsigned a = 0, b = 0, c = 0;
  if (argc != 2 || std::sscanf(argv[1], "%u.%u.%u", &a, &b, &c) != 3) {
    std::fprintf(stderr, "usage: ovl-bench-nft-watch A.B.C\n");
    return 2;
  }
  const unsigned char prefix[3] = {static_cast<unsigned char>(a), static_cast<unsigned char>(b),
                                   static_cast<unsigned char>(c)};
  mnl_socket* nl = mnl_socket_open(NETLINK_NETFILTER);
  if (nl == nullptr || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    std::perror("netlink");
    return 1;
  }
  int group = NFNLGRP_NFTABLES;
  int rcvbuf = 16 << 20;
  setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  if (mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
    std::perror("NETLINK_ADD_MEMBERSHIP");
    return 1;
  }
  std::printf("watching\n");
  std::fflush(stdout);
  static char buf[1 << 20];
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (n < 0) {
      continue;  // ENOBUFS after a burst: keep going
    }
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    const long long us = ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); mnl_nlmsg_ok(h, static_cast<int>(n));
         h = mnl_nlmsg_next(h, reinterpret_cast<int*>(&n))) {
      if ((h->nlmsg_type & 0xff) != NFT_MSG_NEWSETELEM) {
        continue;
      }
      const auto* p = static_cast<const unsigned char*>(mnl_nlmsg_get_payload(h));
      const size_t len = mnl_nlmsg_get_payload_len(h);
      for (size_t i = 0; i + 4 <= len; ++i) {
        if (std::memcmp(p + i, prefix, 3) == 0) {
          std::printf("%lld %u.%u.%u.%u\n", us, p[i], p[i + 1], p[i + 2], p[i + 3]);
        }
      }
      std::fflush(stdout);
    }
  }
}
