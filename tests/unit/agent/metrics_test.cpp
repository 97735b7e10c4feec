// The agent's metrics (agent/metrics.h): every family is there from the start with help and type,
// the text parses as the Prometheus format, and each record method moves what it should.
#include "agent/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/unit/agent/prometheus_text.h"

namespace ovl {
namespace {

using namespace std::chrono_literals;
using test::PromText;

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += s + "\n";
  }
  return out;
}

PromText scrape(const AgentMetrics& m) {
  auto p = PromText::parse(m.text());
  EXPECT_TRUE(p.errors.empty()) << joined(p.errors) << m.text();
  return p;
}

TEST(PrometheusTextTest, RejectsWhatBreaksTheFormat) {
  // The reader the other tests rely on must catch broken text, or their checks prove nothing.
  auto p = PromText::parse(
      "# TYPE a counter\n"
      "a{x=\"1\"} 1\n"
      "b 2\n"             // no TYPE
      "a{x=1} 3\n"        // unquoted label value
      "a{x=\"1\"} one\n"  // not a number
      "# TYPE h histogram\n"
      "h_bucket{le=\"1\"} 5\n"
      "h_bucket{le=\"+Inf\"} 4\n"  // not cumulative
      "h_sum 1\n"
      "h_count 3\n");  // differs from +Inf
  EXPECT_EQ(p.errors.size(), 5u) << joined(p.errors);
  EXPECT_EQ(p.value("a", {{"x", "1"}}), 1);
}

TEST(AgentMetricsTest, EveryFamilyExistsFromTheStartWithHelpAndType) {
  AgentMetrics m("1.2.3-4-gabc", "etcd");
  auto p = scrape(m);
  const std::map<std::string, std::string> want{
      {"ovl_build_info", "gauge"},
      {"ovl_sync_duration_seconds", "histogram"},
      {"ovl_sync_last_success_timestamp_seconds", "gauge"},
      {"ovl_network_programming_duration_seconds", "histogram"},
      {"ovl_peers", "gauge"},
      {"ovl_services", "gauge"},
      {"ovl_endpoints", "gauge"},
      {"ovl_nft_elements", "gauge"},
      {"ovl_kernel_errors_total", "counter"},
      {"ovl_drift_repairs_total", "counter"},
      {"ovl_rp_filter_findings", "gauge"},
      {"ovl_rp_filter_fixes_total", "counter"},
      {"ovl_datastore_up", "gauge"},
      {"ovl_etcd_watch_restarts_total", "counter"},
      {"ovl_etcd_lease_losses_total", "counter"},
      {"ovl_cni_registrations_total", "counter"},
      {"ovl_cni_registrations", "gauge"},
      {"ovl_vxlan_dropped_packets_total", "counter"},
  };
  for (const auto& [name, type] : want) {
    EXPECT_EQ(p.types[name], type) << name;
    EXPECT_FALSE(p.helps[name].empty()) << name;
  }
  EXPECT_EQ(p.types.size(), want.size());
  EXPECT_EQ(p.value("ovl_build_info", {{"version", "1.2.3-4-gabc"}}), 1);
  EXPECT_EQ(p.value("ovl_datastore_up", {{"datastore", "etcd"}}), 1);
  for (auto kind : AgentMetrics::kDriftKinds) {
    EXPECT_EQ(p.value("ovl_drift_repairs_total", {{"kind", std::string(kind)}}), 0) << kind;
  }
  for (const char* kind : {"overlay", "services_full", "services_partial"}) {
    EXPECT_EQ(p.value("ovl_sync_duration_seconds_count", {{"kind", kind}}), 0) << kind;
  }
  for (const char* map : {"services", "nodeports", "endpoints", "hairpin"}) {
    EXPECT_EQ(p.value("ovl_nft_elements", {{"map", map}}), 0) << map;
  }
  EXPECT_EQ(p.value("ovl_kernel_errors_total", {{"subsystem", "nftables"}}), 0);
}

TEST(AgentMetricsTest, RecordsMoveTheirSeries) {
  AgentMetrics m("v", "file");
  m.observeSync(AgentMetrics::SyncKind::kOverlay, 3ms);
  m.observeSync(AgentMetrics::SyncKind::kOverlay, 2s);
  m.observeSync(AgentMetrics::SyncKind::kServicesPartial, 40ms);
  m.observeProgramming(250ms);
  m.passSucceeded(std::chrono::system_clock::time_point(1'700'000'000s));
  m.setProgrammed(2, 12, 30);
  m.setNftElements("endpoints", 30);
  m.kernelErrors(AgentMetrics::Subsystem::kOverlay, 2);
  m.kernelErrors(AgentMetrics::Subsystem::kOverlay, 0);
  m.driftRepaired(AgentMetrics::Drift::kRoute, 1);
  m.driftRepaired(AgentMetrics::Drift::kRoute, 2);
  m.driftRepaired(AgentMetrics::Drift::kNftChain, 0);
  m.setRpFilterFindings(1);
  m.rpFilterFixed(2);
  m.setDatastoreUp(false);
  m.cniRegistrations(3, 1, 2);
  auto p = scrape(m);
  EXPECT_EQ(p.value("ovl_sync_duration_seconds_count", {{"kind", "overlay"}}), 2);
  EXPECT_DOUBLE_EQ(p.value("ovl_sync_duration_seconds_sum", {{"kind", "overlay"}}), 2.003);
  EXPECT_EQ(p.value("ovl_sync_duration_seconds_bucket", {{"kind", "overlay"}, {"le", "0.005"}}), 1);
  EXPECT_EQ(p.value("ovl_sync_duration_seconds_bucket", {{"kind", "overlay"}, {"le", "2.5"}}), 2);
  EXPECT_EQ(p.value("ovl_sync_duration_seconds_count", {{"kind", "services_partial"}}), 1);
  EXPECT_EQ(p.value("ovl_sync_duration_seconds_count", {{"kind", "services_full"}}), 0);
  EXPECT_EQ(p.value("ovl_network_programming_duration_seconds_count"), 1);
  EXPECT_DOUBLE_EQ(p.value("ovl_network_programming_duration_seconds_sum"), 0.25);
  EXPECT_EQ(p.value("ovl_sync_last_success_timestamp_seconds"), 1.7e9);
  EXPECT_EQ(p.value("ovl_peers"), 2);
  EXPECT_EQ(p.value("ovl_services"), 12);
  EXPECT_EQ(p.value("ovl_endpoints"), 30);
  EXPECT_EQ(p.value("ovl_nft_elements", {{"map", "endpoints"}}), 30);
  EXPECT_EQ(p.value("ovl_kernel_errors_total", {{"subsystem", "overlay"}}), 2);
  EXPECT_EQ(p.value("ovl_drift_repairs_total", {{"kind", "route"}}), 3);
  EXPECT_EQ(p.value("ovl_drift_repairs_total", {{"kind", "fdb"}}), 0);
  EXPECT_EQ(p.value("ovl_rp_filter_findings"), 1);
  EXPECT_EQ(p.value("ovl_rp_filter_fixes_total"), 2);
  EXPECT_EQ(p.value("ovl_datastore_up", {{"datastore", "file"}}), 0);
  EXPECT_EQ(p.value("ovl_cni_registrations_total", {{"operation", "add"}}), 3);
  EXPECT_EQ(p.value("ovl_cni_registrations_total", {{"operation", "del"}}), 1);
  EXPECT_EQ(p.value("ovl_cni_registrations"), 2);
}

TEST(AgentMetricsTest, DatastoreCountersFollowTheDatastoresTotals) {
  AgentMetrics m("v", "etcd");
  m.datastoreTotals(0, 0);
  m.datastoreTotals(2, 1);
  m.datastoreTotals(2, 1);  // the same totals again: nothing new
  m.datastoreTotals(5, 1);
  auto p = scrape(m);
  EXPECT_EQ(p.value("ovl_etcd_watch_restarts_total"), 5);
  EXPECT_EQ(p.value("ovl_etcd_lease_losses_total"), 1);
}

TEST(AgentMetricsTest, VxlanDropsFollowTheKernelCounterAndNeverGoDown) {
  AgentMetrics m("test", "file");
  EXPECT_EQ(scrape(m).value("ovl_vxlan_dropped_packets_total"), 0);
  m.vxlanDropped(5);  // drops before the agent started count too
  EXPECT_EQ(scrape(m).value("ovl_vxlan_dropped_packets_total"), 5);
  m.vxlanDropped(5);
  m.vxlanDropped(8);
  EXPECT_EQ(scrape(m).value("ovl_vxlan_dropped_packets_total"), 8);
  m.vxlanDropped(2);  // the rule was re-created: its counter started again
  EXPECT_EQ(scrape(m).value("ovl_vxlan_dropped_packets_total"), 10);
  m.vxlanDropped(3);
  EXPECT_EQ(scrape(m).value("ovl_vxlan_dropped_packets_total"), 11);
}

}  // namespace
}  // namespace ovl
