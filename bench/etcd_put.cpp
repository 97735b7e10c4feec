// ovl-bench-etcd-put: puts keys into etcd on one open connection, with the time of each request,
// so a benchmark measures from the Put itself (etcdctl would add its own start-up and exit to
// every figure). Reads "KEY<TAB>VALUE" lines on stdin; for each, prints "SENT_US ACKED_US" on
// the realtime clock (the one ovl-bench-nft-watch uses): just before the request is sent, and
// when etcd's answer arrived. Run where the endpoints are reachable:
//
//   ovl-bench-etcd-put HOST:PORT[,HOST:PORT...]
#include <time.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "etcd/client.h"

namespace {

long long nowUs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr,
                 "usage: ovl-bench-etcd-put HOST:PORT[,HOST:PORT...] <KEY<TAB>VALUE lines\n");
    return 2;
  }
  ovl::etcd::ClientOptions o;
  std::stringstream eps(argv[1]);
  for (std::string ep; std::getline(eps, ep, ',');) {
    o.endpoints.push_back(ep);
  }
  auto client = ovl::etcd::Client::create(o);
  if (!client) {
    std::fprintf(stderr, "%s\n", client.error().message.c_str());
    return 1;
  }
  for (std::string line; std::getline(std::cin, line);) {
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) {
      std::fprintf(stderr, "expected KEY<TAB>VALUE, got: %s\n", line.c_str());
      return 2;
    }
    const long long sent = nowUs();
    auto r = (*client)->put(line.substr(0, tab), line.substr(tab + 1));
    const long long acked = nowUs();
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().message.c_str());
      return 1;
    }
    std::printf("%lld %lld\n", sent, acked);
    std::fflush(stdout);
  }
  return 0;
}
