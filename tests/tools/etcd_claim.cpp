// ovl-etcd-claim: a load generator that registers COUNT nodes at once, each exactly as an agent
// does (its own etcd connection, EtcdNodeSession: lease, subnet claim by transaction, node
// record), and prints one line per node: "NAME SUBNET" or "NAME error: MESSAGE".
//
//   ovl-etcd-claim --endpoints HOST:PORT[,...] [--prefix /ovl] --count N [--name-prefix load]
//                  [--ttl S] [--keep] [--cacert F --cert F --key F]
//
// Exit 0 when every node registered. Every node holds its claim until all have answered; then,
// without --keep, the leases are revoked (the records and claims disappear); with --keep they
// expire after the TTL.
#include <CLI/CLI.hpp>
#include <barrier>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/etcd_session.h"
#include "etcd/client.h"

int main(int argc, char** argv) {
  CLI::App app{"ovl-etcd-claim: register N nodes in etcd at once, as N agents would"};
  std::vector<std::string> endpoints;
  std::string prefix = "/ovl";
  std::string namePrefix = "load";
  std::string caFile;
  std::string certFile;
  std::string keyFile;
  int count = 1;
  int ttl = 10;
  bool keep = false;
  app.add_option("--endpoints", endpoints, "etcd endpoints")->required()->delimiter(',');
  app.add_option("--prefix", prefix, "key prefix");
  app.add_option("--count", count, "nodes to register at once")->check(CLI::Range(1, 10000));
  app.add_option("--name-prefix", namePrefix, "node names: PREFIX-1, PREFIX-2, ...");
  app.add_option("--ttl", ttl, "lease TTL (s)");
  app.add_option("--cacert", caFile);
  app.add_option("--cert", certFile);
  app.add_option("--key", keyFile);
  app.add_flag("--keep", keep, "leave the registrations to expire instead of revoking them");
  CLI11_PARSE(app, argc, argv);

  std::barrier start(count);
  std::barrier done(count);
  std::mutex out;
  int failures = 0;
  std::vector<std::thread> threads;
  for (int i = 1; i <= count; ++i) {
    threads.emplace_back([&, i] {
      const std::string name = namePrefix + "-" + std::to_string(i);
      auto report = [&](const std::string& line, bool ok) {
        std::lock_guard lock(out);
        std::printf("%s %s\n", name.c_str(), line.c_str());
        failures += ok ? 0 : 1;
      };
      ovl::etcd::ClientOptions o;
      o.endpoints = endpoints;
      o.caFile = caFile;
      o.certFile = certFile;
      o.keyFile = keyFile;
      auto client = ovl::etcd::Client::create(o);
      if (!client) {
        start.arrive_and_drop();
        done.arrive_and_drop();
        report("error: " + client.error().message, false);
        return;
      }
      // A documentation address per node (198.18.0.0/15, benchmark space): never routed.
      ovl::Ipv4 ip{0xc6120000u + static_cast<uint32_t>(i)};
      ovl::EtcdNodeSession session(**client, ovl::EtcdKeys{prefix}, {name, ip}, ttl, "");
      auto network = session.readNetwork();
      start.arrive_and_wait();  // every node claims at the same moment
      if (!network) {
        done.arrive_and_drop();
        report("error: " + network.error().message, false);
        return;
      }
      if (auto st = session.registerNode(*network); !st) {
        done.arrive_and_drop();
        report("error: " + st.error().message, false);
        return;
      }
      report(session.subnet()->toString(), true);
      done.arrive_and_wait();  // all claims held at once: none is freed for another to take
      if (!keep) {
        (void)session.revoke();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  return failures == 0 ? 0 : 1;
}
