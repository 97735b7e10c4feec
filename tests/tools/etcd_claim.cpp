// ovl-etcd-claim: a load generator that registers COUNT nodes at once, each exactly as an agent
// does (EtcdNodeSession: lease, subnet claim by transaction, node record), and prints one line
// per node: "NAME SUBNET" or "NAME error: MESSAGE".
//
//   ovl-etcd-claim --endpoints HOST:PORT[,...] [--prefix /ovl] --count N [--name-prefix load]
//                  [--parallel P] [--ttl S] [--keep] [--cacert F --cert F --key F]
//
// P threads (default: one per node), each with its own etcd connection, start together and
// register their share of the nodes one after another. Every node holds its claim until all
// have answered; then, without --keep, the leases are revoked (the records and claims
// disappear); with --keep they stay until the TTL runs out. Exit 0 when every node registered.
#include <CLI/CLI.hpp>
#include <barrier>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "datastore/etcd_session.h"
#include "etcd/client.h"

int main(int argc, char** argv) {
  CLI::App app{"ovl-etcd-claim: register N nodes in etcd at once, as N agents would"};
  ovl::etcd::ClientOptions options;
  std::string prefix = "/ovl";
  std::string namePrefix = "load";
  int count = 1;
  int parallel = 0;
  int ttl = 10;
  bool keep = false;
  app.add_option("--endpoints", options.endpoints, "etcd endpoints")->required()->delimiter(',');
  app.add_option("--prefix", prefix, "key prefix");
  app.add_option("--count", count, "nodes to register")->check(CLI::Range(1, 100000));
  app.add_option("--parallel", parallel, "threads (default: one per node)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--name-prefix", namePrefix, "node names: PREFIX-1, PREFIX-2, ...");
  app.add_option("--ttl", ttl, "lease TTL (s)");
  app.add_option("--cacert", options.caFile);
  app.add_option("--cert", options.certFile);
  app.add_option("--key", options.keyFile);
  app.add_flag("--keep", keep, "leave the registrations to expire instead of revoking them");
  CLI11_PARSE(app, argc, argv);
  const int threads = parallel == 0 ? count : std::min(parallel, count);

  std::barrier start(threads);
  std::barrier done(threads);
  std::mutex out;
  int failures = 0;
  auto report = [&](const std::string& name, const std::string& line, bool ok) {
    std::lock_guard lock(out);
    std::printf("%s %s\n", name.c_str(), line.c_str());
    failures += ok ? 0 : 1;
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto client = ovl::etcd::Client::create(options);
      std::vector<std::unique_ptr<ovl::EtcdNodeSession>> sessions;
      std::optional<ovl::Result<ovl::NetworkConfig>> network;
      start.arrive_and_wait();  // every thread starts claiming at the same moment
      for (int i = t + 1; i <= count; i += threads) {
        const std::string name = namePrefix + "-" + std::to_string(i);
        if (!client) {
          report(name, "error: " + client.error().message, false);
          continue;
        }
        // Benchmark addresses (198.18.0.0/15): never routed anywhere.
        ovl::Ipv4 ip{0xc6120000u + static_cast<uint32_t>(i)};
        sessions.push_back(std::make_unique<ovl::EtcdNodeSession>(
            **client, ovl::EtcdKeys{prefix}, ovl::NodeIdentity{name, ip, std::nullopt}, ttl, ""));
        if (!network) {
          network = sessions.back()->readNetwork();
        }
        if (!*network) {
          report(name, "error: " + network->error().message, false);
          continue;
        }
        if (auto st = sessions.back()->registerNode(**network); !st) {
          report(name, "error: " + st.error().message, false);
          continue;
        }
        report(name, sessions.back()->subnet()->toString(), true);
      }
      done.arrive_and_wait();  // all claims held at once: none is freed for another to take
      if (!keep) {
        for (auto& s : sessions) {
          (void)s->revoke();
        }
      }
    });
  }
  for (auto& t : pool) {
    t.join();
  }
  return failures == 0 ? 0 : 1;
}
