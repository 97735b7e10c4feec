// The agent's run loop against fakes of the kernel, the NAT table and the datastore, with a clock
// of the test's own: what each kind of wake-up leads to, without a kernel or a host to change.
#include "agent/agent_loop.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "tests/fakes/fake_datastore.h"
#include "tests/fakes/fake_nat_dataplane.h"
#include "tests/fakes/fake_overlay_kernel.h"
#include "tests/unit/agent/prometheus_text.h"

namespace ovl {
namespace {

using namespace std::chrono_literals;

Node node(int i) {
  return Node{"node" + std::to_string(i),
              *Ipv4::parse("192.168.50." + std::to_string(i)),
              *Ipv4Prefix::parse("10.244." + std::to_string(i) + ".0/24"),
              std::nullopt,
              {}};
}

svc::Service service(const std::string& name, const std::vector<std::string>& endpoints) {
  svc::Service s;
  s.ns = "default";
  s.name = name;
  s.clusterIps = {*Ipv4::parse(name == "web" ? "10.96.0.10" : "10.96.0.11")};
  s.ports = {svc::ServicePort{"http", svc::Protocol::kTcp, 80, 8080, std::nullopt}};
  for (const auto& ip : endpoints) {
    svc::Endpoint e;
    e.ip = *Ipv4::parse(ip);
    s.endpoints.push_back(e);
  }
  return s;
}

ClusterLoad snapshot(int nodes, std::vector<svc::Service> services = {}) {
  ClusterLoad load;
  load.cluster.network.podCidr = *Ipv4Prefix::parse("10.244.0.0/16");
  for (int i = 1; i <= nodes; ++i) {
    load.cluster.nodes.push_back(node(i));
  }
  load.cluster.services = std::move(services);
  return load;
}

ConfigIssue issue(const std::string& field, const std::string& message) {
  return ConfigIssue{SourceMark{"cluster.yaml", 3, 5}, field, message};
}

class FakeHostWatch final : public HostWatch {
 public:
  void setCluster(const NetworkConfig&, const std::vector<svc::Service>&) override { ++clusters; }
  void servicesChanged() override { ++serviceChanges; }
  void linkChanged() override { ++linkChanges; }
  void afterPass(const OverlayPlan&) override { ++passes; }
  int clusters = 0, serviceChanges = 0, linkChanges = 0, passes = 0;
};

class FakeNotifier final : public ServiceNotifier {
 public:
  void ready() override { ++readies; }
  void stopping() override { ++stops; }
  void status(const std::string& text) override { statuses.push_back(text); }
  void watchdog() override { ++watchdogs; }
  void progress(const std::string& step) override { steps.push_back(step); }
  int readies = 0, stops = 0, watchdogs = 0;
  std::vector<std::string> statuses;
  std::vector<std::string> steps;
};

class FakeConntrack final : public conntrack::UdpFlowCleaner {
 public:
  Result<size_t> deleteUdpFlows(const std::vector<conntrack::StaleUdpFlow>& flows) override {
    deleted.insert(deleted.end(), flows.begin(), flows.end());
    return flows.size();
  }
  std::vector<conntrack::StaleUdpFlow> deleted;
};

class AgentLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ovl-agent-loop-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    kernel.addLink(nl::Link{0, "eth0", "", *MacAddr::parse("02:00:00:00:01:01"), 1500, true,
                            std::nullopt, std::nullopt});
    kernel.addressList().push_back(nl::Address{1, *Ipv4Prefix::parse("192.168.50.1/24")});
    auto l = LocalEndpoints::create(dir_ + "/endpoints");
    ASSERT_TRUE(l) << l.error().message;
    local.emplace(std::move(*l));
    cfg.nodeName = "node1";
    cfg.stateDir = dir_;
    cfg.resyncSeconds = 60;
    loop.emplace(cfg,
                 AgentLoop::Parts{kernel, store, nat, conntrack, health, *local, hostWatch,
                                  notifier, metrics},
                 [this] { return now; });
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts with `load` and runs the first pass.
  void start(ClusterLoad load) {
    store.changes.push_back(std::move(load));
    ASSERT_TRUE(loop->loadPlan(true));
    loop->runDue();
    ASSERT_TRUE(health.ready()) << health.json();
  }
  int vtep() { return kernel.link("ovl.1")->index; }
  // One value of the metrics' text, as a scraper reads it.
  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    auto p = test::PromText::parse(metrics.text());
    EXPECT_TRUE(p.errors.empty()) << metrics.text();
    return p.value(name, labels);
  }

  std::string dir_;
  AgentConfig cfg;
  test::FakeKernel kernel;
  test::FakeDatastore store;
  test::FakeNatDataplane nat;
  FakeConntrack conntrack;
  HealthState health;
  std::optional<LocalEndpoints> local;
  FakeHostWatch hostWatch;
  FakeNotifier notifier;
  AgentMetrics metrics{"test", "file"};
  AgentLoop::Clock::time_point now{1h};
  std::optional<AgentLoop> loop;
};

TEST_F(AgentLoopTest, SnapshotProgramsOverlayAndServicesThenTellsReady) {
  store.changes.push_back(snapshot(3, {service("web", {"10.244.2.10", "10.244.3.10"})}));
  ASSERT_TRUE(loop->loadPlan(true));
  EXPECT_EQ(loop->due(), now);  // a pass is due at once, not yet run
  EXPECT_EQ(kernel.link("ovl.1"), nullptr);
  EXPECT_EQ(notifier.readies, 0);

  loop->runDue();
  ASSERT_NE(kernel.link("ovl.1"), nullptr);
  ASSERT_NE(kernel.link("ovlbr0"), nullptr);
  EXPECT_EQ(kernel.peers(vtep()).routes.size(), 2u);
  EXPECT_EQ(kernel.peers(vtep()).fdb.size(), 2u);
  EXPECT_EQ(kernel.peers(vtep()).neighbours.size(), 2u);
  ASSERT_EQ(nat.syncs.size(), 1u);
  EXPECT_TRUE(nat.programs("default/web:http -> 10.244.2.10:8080"));
  EXPECT_TRUE(nat.programs("default/web:http -> 10.244.3.10:8080"));
  EXPECT_TRUE(health.ready());
  EXPECT_EQ(notifier.readies, 1);
  EXPECT_EQ(store.readiness, std::vector<bool>{true});
  EXPECT_EQ(hostWatch.passes, 1);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/" + NodeState::kFileName));
  const auto j = nlohmann::json::parse(health.json());
  EXPECT_EQ(j["peers"], 2);
  EXPECT_EQ(j["services"], 1);
  EXPECT_EQ(j["endpoints"], 2);
  EXPECT_EQ(j["vtep"], "ovl.1");
  EXPECT_EQ(j["bridge"], "ovlbr0");
  EXPECT_TRUE(j["lastConverged"].is_string());

  // Nothing is due until something wakes the loop.
  EXPECT_FALSE(loop->due());
  EXPECT_EQ(loop->sleepTime(), AgentLoop::kMaxSleep);
  now += 500ms;
  loop->runDue();
  EXPECT_EQ(nat.syncs.size(), 1u);
  EXPECT_EQ(notifier.readies, 1);
}

TEST_F(AgentLoopTest, ServiceDeltaReplansOnlyThatServiceAndLeavesTheOverlay) {
  start(snapshot(3, {service("web", {"10.244.2.10"}), service("api", {"10.244.3.10"})}));
  const int writes = kernel.writes;
  const int reads = kernel.reads;
  const int peerReads = kernel.peerReads;

  ServiceDelta delta;
  delta.upserts = {service("web", {"10.244.2.10", "10.244.3.11"})};
  delta.revision = 7;
  store.changes.push_back(delta);
  loop->datastoreReadable();
  EXPECT_EQ(loop->due(), now);
  loop->runDue();

  ASSERT_EQ(nat.syncs.size(), 2u);
  EXPECT_FALSE(nat.syncs[1].allDirty);
  EXPECT_GT(nat.syncs[1].dirtyKeys, 0u);
  EXPECT_LT(nat.syncs[1].dirtyKeys, nat.syncs[1].elements);  // not every key compared
  EXPECT_TRUE(nat.programs("default/web:http -> 10.244.3.11:8080"));
  EXPECT_TRUE(nat.programs("default/api:http -> 10.244.3.10:8080"));
  EXPECT_EQ(hostWatch.serviceChanges, 1);
  EXPECT_EQ(hostWatch.clusters, 1);  // no new snapshot
  // The overlay was neither re-read nor written.
  EXPECT_EQ(kernel.writes, writes);
  EXPECT_EQ(kernel.reads, reads);
  EXPECT_EQ(kernel.peerReads, peerReads);

  ServiceDelta removal;
  removal.removed = {"default/api"};
  store.changes.push_back(removal);
  loop->datastoreReadable();
  loop->runDue();
  EXPECT_FALSE(nat.programs("default/api"));
  EXPECT_TRUE(nat.programs("default/web:http -> 10.244.3.11:8080"));
  EXPECT_EQ(loop->natState().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(health.json())["endpoints"], 2);  // web's two
}

TEST_F(AgentLoopTest, BadSnapshotIsKeptOutAndTheLastGoodOneStays) {
  start(snapshot(3, {service("web", {"10.244.2.10"})}));
  ClusterLoad bad = snapshot(0);
  bad.fatal = true;
  bad.issues = {issue("network.podCIDR", "expected an IPv4 CIDR")};
  store.changes.push_back(bad);
  loop->datastoreReadable();

  ASSERT_TRUE(loop->plan());
  EXPECT_EQ(loop->plan()->peers.size(), 2u);
  EXPECT_FALSE(loop->due());  // nothing to write
  EXPECT_EQ(loop->natState().size(), 1u);
  EXPECT_NE(health.json().find("cluster.yaml:3:5: network.podCIDR: expected an IPv4 CIDR"),
            std::string::npos)
      << health.json();
  EXPECT_TRUE(health.ready());

  // A snapshot without this node's entry: the overlay stays, the services are applied.
  ClusterLoad noSelf = snapshot(3, {service("web", {"10.244.2.10", "10.244.2.11"})});
  noSelf.cluster.nodes.erase(noSelf.cluster.nodes.begin());
  store.changes.push_back(noSelf);
  EXPECT_FALSE(loop->loadPlan(false));
  EXPECT_EQ(loop->plan()->peers.size(), 2u);
  loop->runDue();
  EXPECT_EQ(kernel.peers(vtep()).routes.size(), 2u);
  EXPECT_TRUE(nat.programs("default/web:http -> 10.244.2.11:8080"));
}

TEST_F(AgentLoopTest, ProblemsAtStartUpAreFatalExceptServices) {
  ClusterLoad badNode = snapshot(3);
  badNode.issues = {issue("nodes[1].podSubnet", "overlaps nodes[0]")};
  store.changes.push_back(badNode);
  EXPECT_FALSE(loop->loadPlan(true));

  ClusterLoad noSelf = snapshot(3);
  noSelf.cluster.nodes.erase(noSelf.cluster.nodes.begin());
  store.changes.push_back(noSelf);
  EXPECT_FALSE(loop->loadPlan(true));

  // A bad service is skipped, at start-up too.
  ClusterLoad badService = snapshot(3, {service("web", {"10.244.2.10"})});
  badService.issues = {issue("services[1].clusterIP", "not an IPv4 address")};
  store.changes.push_back(badService);
  EXPECT_TRUE(loop->loadPlan(true));

  // A datastore where each node writes its own entry: a bad node entry does not stop the others.
  ClusterLoad etcd = snapshot(3);
  etcd.strictStartup = false;
  etcd.issues = {issue("nodes[2].underlayIP", "taken by node2")};
  store.changes.push_back(etcd);
  EXPECT_TRUE(loop->loadPlan(true));
  EXPECT_EQ(notifier.readies, 0);
}

TEST_F(AgentLoopTest, DriftEventRepairsAfterTheDebounce) {
  start(snapshot(3));
  auto& routes = kernel.peers(vtep()).routes;
  ASSERT_EQ(routes.size(), 2u);
  nl::Event ev;
  ev.kind = nl::Event::Kind::kRoute;
  ev.deleted = true;
  ev.index = vtep();
  ev.route = routes.front();
  routes.erase(routes.begin());

  loop->kernelEvents(std::vector<nl::Event>{ev});
  EXPECT_EQ(loop->due(), now + AgentLoop::kEventDebounce);
  EXPECT_TRUE(loop->fullReadPending());
  EXPECT_EQ(loop->sleepTime(), AgentLoop::kEventDebounce);
  loop->runDue();
  EXPECT_EQ(kernel.peers(vtep()).routes.size(), 1u);  // not yet

  now += AgentLoop::kEventDebounce;
  loop->runDue();
  EXPECT_EQ(kernel.peers(vtep()).routes.size(), 2u);
  EXPECT_FALSE(loop->fullReadPending());
}

TEST_F(AgentLoopTest, EventsThatAreNotDriftOnlyWakeOrAreIgnored) {
  start(snapshot(3));
  const int reads = kernel.reads;
  nl::Event other;  // a route on another device
  other.kind = nl::Event::Kind::kRoute;
  other.index = 1;
  other.route = nl::Route{*Ipv4Prefix::parse("192.0.2.0/24"), Ipv4{}, 1, false};
  loop->kernelEvents(std::vector<nl::Event>{other});
  EXPECT_FALSE(loop->due());

  nl::Event link;  // some link changed: rp_filter is checked after a pass without a full read
  link.kind = nl::Event::Kind::kLink;
  link.index = 42;
  link.linkName = "veth1";
  loop->kernelEvents(std::vector<nl::Event>{link});
  EXPECT_EQ(hostWatch.linkChanges, 1);
  EXPECT_FALSE(loop->fullReadPending());
  now += AgentLoop::kEventDebounce;
  loop->runDue();
  EXPECT_EQ(kernel.reads, reads);

  // Lost notifications (or an overflow) mean a full read.
  loop->kernelEvents(Error::msg("recv: No buffer space available"));
  EXPECT_TRUE(loop->fullReadPending());
  now += AgentLoop::kEventDebounce;
  loop->runDue();
  EXPECT_GT(kernel.reads, reads);

  // Another process changed the nft table: only a wake-up.
  loop->nftEvents(true);
  EXPECT_EQ(loop->due(), now + AgentLoop::kEventDebounce);
  EXPECT_FALSE(loop->fullReadPending());
}

TEST_F(AgentLoopTest, ResyncTimerReadsTheDatastoreAndTheKernelAgain) {
  start(snapshot(3));
  const int storeReads = store.reads;
  const int kernelReads = kernel.reads;
  now += 59s;
  loop->runDue();
  EXPECT_EQ(store.reads, storeReads);
  EXPECT_EQ(loop->sleepTime(), 1s);

  now += 1s;
  store.changes.push_back(snapshot(4));  // a change whose notification was missed
  loop->runDue();
  EXPECT_EQ(store.reads, storeReads + 1);
  EXPECT_GT(kernel.reads, kernelReads);  // a full read
  EXPECT_EQ(kernel.peers(vtep()).routes.size(), 3u);
}

TEST_F(AgentLoopTest, FailedSyncIsRetriedWithBackoffAndNotReady) {
  store.changes.push_back(snapshot(2, {service("web", {"10.244.2.10"})}));
  ASSERT_TRUE(loop->loadPlan(true));
  nat.failSync = Error::msg("nftables: Operation not permitted");
  loop->runDue();
  EXPECT_FALSE(health.ready());
  EXPECT_EQ(notifier.readies, 0);
  EXPECT_EQ(loop->due(), now + 100ms);
  EXPECT_TRUE(loop->fullReadPending());
  now += 100ms;
  loop->runDue();
  EXPECT_EQ(loop->due(), now + 200ms);
  EXPECT_EQ(store.readiness, (std::vector<bool>{false, false}));

  nat.failSync.reset();
  now += 200ms;
  loop->runDue();
  EXPECT_TRUE(health.ready());
  EXPECT_EQ(notifier.readies, 1);
  EXPECT_FALSE(loop->due());
  EXPECT_EQ(nat.syncs.size(), 3u);
}

TEST_F(AgentLoopTest, RemovedUdpBackendsAreCleanedFromConntrack) {
  start(snapshot(2, {service("web", {"10.244.2.10"})}));
  const conntrack::StaleUdpFlow flow{*Ipv4::parse("10.96.0.10"), 53, *Ipv4::parse("10.244.2.9"),
                                     5353};
  nat.nextStats.operations = 1;
  nat.nextStats.removedUdpBackends = {flow};
  ServiceDelta delta;
  delta.upserts = {service("web", {"10.244.2.11"})};
  store.changes.push_back(delta);
  loop->datastoreReadable();
  loop->runDue();
  EXPECT_EQ(conntrack.deleted, std::vector<conntrack::StaleUdpFlow>{flow});
  // Affinity entries are looked at again only on full passes.
  EXPECT_EQ(nat.affinityClears, 1);  // the first pass was a full one
}

TEST_F(AgentLoopTest, RegistrationsFromOvlCniBecomeEndpoints) {
  start(snapshot(2, {service("web", {"10.244.2.10"})}));
  LocalEndpoint e{"default/web", *Ipv4::parse("10.244.1.7"), "node1", "abc", "eth0"};
  ASSERT_TRUE(
      writeFileAtomic(dir_ + "/endpoints/" + LocalEndpoint::fileName("abc", "eth0"), e.toJson()));
  loop->localEndpointsReadable();
  EXPECT_EQ(loop->due(), now);
  loop->runDue();
  EXPECT_TRUE(nat.programs("default/web:http -> 10.244.1.7:8080"));
}

TEST_F(AgentLoopTest, StatusLinesAndWatchdogForTheServiceManager) {
  store.changes.push_back(snapshot(3, {service("web", {"10.244.2.10"})}));
  ASSERT_TRUE(loop->loadPlan(true));
  nat.failSync = Error::msg("nftables: Operation not permitted");
  loop->runDue();
  ASSERT_EQ(notifier.statuses.size(), 1u);
  EXPECT_EQ(notifier.statuses[0],
            "not converged, retrying in 100 ms: nftables: Operation not permitted");
  nat.failSync.reset();
  now += 100ms;
  loop->runDue();
  ASSERT_EQ(notifier.statuses.size(), 2u);
  EXPECT_EQ(notifier.statuses[1], "converged: 2 peers, 1 services");
  EXPECT_EQ(notifier.watchdogs, 2);  // every turn of the loop

  store.currentProblem = "etcd: unreachable";
  loop->runDue();
  ASSERT_EQ(notifier.statuses.size(), 3u);
  EXPECT_TRUE(notifier.statuses[2].starts_with("etcd: unreachable since "));
  EXPECT_TRUE(notifier.statuses[2].ends_with("; converged: 2 peers, 1 services"));
  EXPECT_FALSE(health.ready());
  loop->runDue();
  EXPECT_EQ(notifier.statuses.size(), 3u);  // said once
  store.currentProblem.clear();
  loop->runDue();
  EXPECT_EQ(notifier.statuses.back(), "converged: 2 peers, 1 services");
  EXPECT_TRUE(health.ready());
}

// Each step of a load and a pass is reported, so that a large cluster's start-up extends
// TimeoutStartSec= and a long pass keeps the watchdog fed (agent/systemd_notifier.h).
TEST_F(AgentLoopTest, LoadAndPassReportTheirStepsAsProgress) {
  store.changes.push_back(snapshot(3, {service("web", {"10.244.2.10"})}));
  ASSERT_TRUE(loop->loadPlan(true));
  ASSERT_EQ(notifier.steps.size(), 2u);
  EXPECT_EQ(notifier.steps[0], "read 1 services from " + store.describe());
  EXPECT_EQ(notifier.steps[1], "planned 1 services");
  loop->runDue();
  ASSERT_EQ(notifier.steps.size(), 4u);
  EXPECT_EQ(notifier.steps[2], "overlay programmed (2 peers); writing 1 services to nftables");
  EXPECT_EQ(notifier.steps[3], "nftables sync of 1 services finished");
  EXPECT_EQ(notifier.readies, 1);

  // A turn with nothing due is no progress: only the watchdog is fed.
  const int watchdogs = notifier.watchdogs;
  now += 500ms;
  loop->runDue();
  EXPECT_EQ(notifier.steps.size(), 4u);
  EXPECT_EQ(notifier.watchdogs, watchdogs + 1);

  // A failed pass still reports its steps (the loop is working), and retries.
  nat.failSync = Error::msg("nftables: Operation not permitted");
  store.changes.push_back(snapshot(3, {service("web", {"10.244.2.11"})}));
  loop->reload();
  EXPECT_EQ(notifier.steps.size(), 6u);  // read, planned
  loop->runDue();
  ASSERT_EQ(notifier.steps.size(), 8u);
  EXPECT_EQ(notifier.steps.back(), "nftables sync of 1 services finished");
  EXPECT_EQ(nat.syncs.size(), 2u);  // it was tried
  EXPECT_EQ(notifier.statuses.back(),
            "not converged, retrying in 100 ms: nftables: Operation not permitted");
}

TEST_F(AgentLoopTest, MetricsFollowPassesAndCountDriftRepairs) {
  start(snapshot(3, {service("web", {"10.244.2.10", "10.244.3.10"})}));
  EXPECT_EQ(metric("ovl_sync_duration_seconds_count", {{"kind", "overlay"}}), 1);
  EXPECT_EQ(metric("ovl_sync_duration_seconds_count", {{"kind", "services_full"}}), 1);
  EXPECT_EQ(metric("ovl_peers"), 2);
  EXPECT_EQ(metric("ovl_services"), 1);
  EXPECT_EQ(metric("ovl_endpoints"), 2);
  EXPECT_EQ(metric("ovl_nft_elements", {{"map", "endpoints"}}), 2);
  EXPECT_EQ(metric("ovl_network_programming_duration_seconds_count"), 1);  // the first snapshot
  EXPECT_GT(metric("ovl_sync_last_success_timestamp_seconds"), 1.6e9);
  EXPECT_EQ(metric("ovl_drift_repairs_total", {{"kind", "route"}}), 0);  // the first writes

  // A route deleted under the agent: found by the full read, written back, counted once.
  auto& routes = kernel.peers(vtep()).routes;
  nl::Event ev;
  ev.kind = nl::Event::Kind::kRoute;
  ev.deleted = true;
  ev.index = vtep();
  ev.route = routes.front();
  routes.erase(routes.begin());
  loop->kernelEvents(std::vector<nl::Event>{ev});
  now += AgentLoop::kEventDebounce;
  loop->runDue();
  EXPECT_EQ(kernel.peers(vtep()).routes.size(), 2u);
  EXPECT_EQ(metric("ovl_drift_repairs_total", {{"kind", "route"}}), 1);
  EXPECT_EQ(metric("ovl_drift_repairs_total", {{"kind", "fdb"}}), 0);
  EXPECT_EQ(metric("ovl_sync_duration_seconds_count", {{"kind", "overlay"}}), 2);
  EXPECT_EQ(metric("ovl_network_programming_duration_seconds_count"), 1);  // no datastore change

  // The pod bridge deleted: re-created, its writes counted as link drift; the VTEP's peers stay.
  ASSERT_TRUE(kernel.deleteLink(kernel.link("ovlbr0")->index));
  nl::Event overflow;
  overflow.kind = nl::Event::Kind::kOverflow;
  loop->kernelEvents(std::vector<nl::Event>{overflow});
  now += AgentLoop::kEventDebounce;
  loop->runDue();
  ASSERT_NE(kernel.link("ovlbr0"), nullptr);
  EXPECT_GE(metric("ovl_drift_repairs_total", {{"kind", "link"}}), 1);
  EXPECT_EQ(metric("ovl_drift_repairs_total", {{"kind", "route"}}), 1);

  // The NAT table changed by someone else: what the sync writes back with nothing dirty is drift.
  nat.nextStats.operations = 2;
  nat.nextStats.elementsAdded = 2;
  loop->nftEvents(true);
  now += AgentLoop::kEventDebounce;
  loop->runDue();
  EXPECT_EQ(metric("ovl_drift_repairs_total", {{"kind", "nft_element"}}), 2);

  // A service change's writes are the plan's, not drift.
  nat.nextStats.operations = 1;
  nat.nextStats.elementsAdded = 1;
  nat.nextStats.incremental = true;
  ServiceDelta delta;
  delta.upserts = {service("web", {"10.244.2.10", "10.244.3.10", "10.244.3.11"})};
  store.changes.push_back(delta);
  loop->datastoreReadable();
  loop->runDue();
  EXPECT_EQ(metric("ovl_drift_repairs_total", {{"kind", "nft_element"}}), 2);
  EXPECT_EQ(metric("ovl_sync_duration_seconds_count", {{"kind", "services_partial"}}), 1);
  EXPECT_EQ(metric("ovl_endpoints"), 3);
}

TEST_F(AgentLoopTest, ProgrammingLatencyRunsFromReceiptToTheConvergedPass) {
  start(snapshot(2, {service("web", {"10.244.2.10"})}));
  const double before = metric("ovl_network_programming_duration_seconds_sum");
  // A snapshot that is refused programs nothing: no latency starts with it.
  ClusterLoad bad = snapshot(2);
  bad.fatal = true;
  store.changes.push_back(bad);
  loop->datastoreReadable();
  now += 1s;
  loop->kernelEvents(Error::msg("overflow"));
  now += AgentLoop::kEventDebounce;
  loop->runDue();
  EXPECT_EQ(metric("ovl_network_programming_duration_seconds_count"), 1);
  ServiceDelta delta;
  delta.upserts = {service("web", {"10.244.2.11"})};
  store.changes.push_back(delta);
  loop->datastoreReadable();  // received now
  nat.failSync = Error::msg("nftables: Operation not permitted");
  now += 30ms;
  loop->runDue();  // fails: not programmed yet
  EXPECT_EQ(metric("ovl_network_programming_duration_seconds_count"), 1);
  EXPECT_EQ(metric("ovl_kernel_errors_total", {{"subsystem", "nftables"}}), 1);
  nat.failSync.reset();
  now += 100ms;  // the retry
  loop->runDue();
  EXPECT_EQ(metric("ovl_network_programming_duration_seconds_count"), 2);
  EXPECT_NEAR(metric("ovl_network_programming_duration_seconds_sum") - before, 0.130, 1e-9);
}

TEST_F(AgentLoopTest, RegistrationsThatAppearAndGoAreCountedAsCniAddAndDel) {
  start(snapshot(2, {service("web", {"10.244.2.10"})}));
  const std::string file = dir_ + "/endpoints/" + LocalEndpoint::fileName("abc", "eth0");
  LocalEndpoint e{"default/web", *Ipv4::parse("10.244.1.7"), "node1", "abc", "eth0"};
  ASSERT_TRUE(writeFileAtomic(file, e.toJson()));
  loop->localEndpointsReadable();
  loop->runDue();
  EXPECT_EQ(metric("ovl_cni_registrations_total", {{"operation", "add"}}), 1);
  EXPECT_EQ(metric("ovl_cni_registrations"), 1);
  EXPECT_EQ(metric("ovl_endpoints"), 2);
  std::filesystem::remove(file);
  loop->localEndpointsReadable();
  loop->runDue();
  EXPECT_EQ(metric("ovl_cni_registrations_total", {{"operation", "del"}}), 1);
  EXPECT_EQ(metric("ovl_cni_registrations"), 0);
}

TEST_F(AgentLoopTest, DatastoreHealthAndItsCountersReachTheMetrics) {
  start(snapshot(2));
  EXPECT_EQ(metric("ovl_datastore_up"), 1);
  store.currentProblem = "etcd: unreachable";
  store.totals = {3, 1};
  loop->runDue();
  EXPECT_EQ(metric("ovl_datastore_up"), 0);
  EXPECT_EQ(metric("ovl_etcd_watch_restarts_total"), 3);
  EXPECT_EQ(metric("ovl_etcd_lease_losses_total"), 1);
  store.currentProblem = "";
  store.totals = {4, 1};
  loop->runDue();
  EXPECT_EQ(metric("ovl_datastore_up"), 1);
  EXPECT_EQ(metric("ovl_etcd_watch_restarts_total"), 4);
  EXPECT_EQ(metric("ovl_etcd_lease_losses_total"), 1);
}

// The VXLAN allow-list follows the overlay's nodes (only the changed ones are written), and
// its drop counter reaches the metrics once a second.
TEST_F(AgentLoopTest, VxlanAllowListFollowsTheNodesAndItsCounterTheMetrics) {
  const size_t peers = static_cast<size_t>(nft::SetId::kVxlanPeers);
  nat.vxlanCounter = std::optional<uint64_t>{};  // no rule yet: nothing recorded
  start(snapshot(2));
  auto sources = [&] {
    std::vector<std::string> out;
    for (const auto& [key, elem] : loop->natState().desired().elems(peers)) {
      out.push_back(Ipv4{key.w[0]}.toString() + " " + elem.comment);
    }
    return out;
  };
  EXPECT_EQ(sources(), (std::vector<std::string>{"192.168.50.1 node1", "192.168.50.2 node2"}));
  EXPECT_EQ(metric("ovl_vxlan_dropped_packets_total"), 0);

  store.changes.push_back(snapshot(3));
  loop->datastoreReadable();
  EXPECT_EQ(loop->due(), now);  // written by the pass that follows at once
  loop->runDue();
  EXPECT_EQ(nat.syncs.back().dirtyKeys, 1u) << "only node3's element";
  EXPECT_EQ(sources().size(), 3u);
  EXPECT_TRUE(nat.programs("node3"));

  store.changes.push_back(snapshot(1));
  loop->datastoreReadable();
  loop->runDue();
  EXPECT_EQ(sources(), (std::vector<std::string>{"192.168.50.1 node1"}));
  EXPECT_FALSE(nat.programs("node2"));

  // A snapshot whose entry for this node is refused keeps the last good overlay and its
  // sources: node2, added in it, is not allowed until this node's entry is valid again.
  ClusterLoad noSelf = snapshot(2);
  noSelf.cluster.nodes.erase(noSelf.cluster.nodes.begin());
  store.changes.push_back(noSelf);
  loop->datastoreReadable();
  loop->runDue();
  EXPECT_EQ(sources(), (std::vector<std::string>{"192.168.50.1 node1"}));

  nat.vxlanCounter = std::optional<uint64_t>{7};
  now += 1s;
  loop->runDue();
  EXPECT_EQ(metric("ovl_vxlan_dropped_packets_total"), 7);
  nat.vxlanCounter = std::optional<uint64_t>{9};
  now += 200ms;
  loop->runDue();
  EXPECT_EQ(metric("ovl_vxlan_dropped_packets_total"), 7) << "read at most once a second";
  now += 1s;
  loop->runDue();
  EXPECT_EQ(metric("ovl_vxlan_dropped_packets_total"), 9);
  nat.vxlanCounter = Error::msg("netlink gone");
  now += 1s;
  loop->runDue();  // a warning, the metric keeps its value
  EXPECT_EQ(metric("ovl_vxlan_dropped_packets_total"), 9);
}

TEST_F(AgentLoopTest, RefusedOverlayWritesAreCountedAsKernelErrors) {
  start(snapshot(3));
  kernel.failOp = [](const nl::Netlink::Op&) -> std::optional<Error> {
    return Error::sys(EPERM, "Operation not permitted");
  };
  kernel.peers(vtep()).routes.clear();  // both routes gone: two writes, both refused
  loop->kernelEvents(Error::msg("overflow"));
  now += AgentLoop::kEventDebounce;
  loop->runDue();
  EXPECT_FALSE(health.ready());
  EXPECT_EQ(metric("ovl_kernel_errors_total", {{"subsystem", "overlay"}}), 2);
  EXPECT_EQ(metric("ovl_drift_repairs_total", {{"kind", "route"}}), 0);  // nothing written back
}

// Attack 4 at the loop: with etcd, a snapshot whose entry for this node carries another
// underlay IP (someone overwrote its record) never moves the VTEP: the last good overlay stays,
// the services are still applied.
TEST_F(AgentLoopTest, EtcdSnapshotCannotChangeThisNodesUnderlayIp) {
  cfg.datastore = "etcd";
  cfg.underlayIp = *Ipv4::parse("192.168.50.1");
  cfg.path = "agent.yaml";
  loop.emplace(
      cfg,
      AgentLoop::Parts{kernel, store, nat, conntrack, health, *local, hostWatch, notifier, metrics},
      [this] { return now; });
  start(snapshot(3));
  const auto before = kernel.link("ovl.1")->vxlan;
  ClusterLoad evil = snapshot(3, {service("web", {"10.244.2.10"})});
  evil.cluster.nodes[0].underlayIp = *Ipv4::parse("10.9.9.9");
  evil.cluster.nodes[0].podSubnet = *Ipv4Prefix::parse("10.244.77.0/24");
  store.changes.push_back(evil);
  EXPECT_FALSE(loop->loadPlan(false));
  loop->runDue();
  ASSERT_TRUE(loop->plan());
  EXPECT_EQ(loop->plan()->underlayIp.toString(), "192.168.50.1");
  EXPECT_EQ(loop->plan()->podSubnet.toString(), "10.244.1.0/24");
  EXPECT_EQ(kernel.link("ovl.1")->vxlan, before);
  EXPECT_TRUE(nat.programs("default/web:http -> 10.244.2.10:8080"));
  // The same snapshot at start-up is refused outright.
  store.changes.push_back(evil);
  EXPECT_FALSE(loop->loadPlan(true));
}

}  // namespace
}  // namespace ovl
