// diagnostics/finding: the report's exit code, its human text and its JSON.
#include "diagnostics/finding.h"

#include <gtest/gtest.h>

#include <string>

namespace ovl::diag {
namespace {

Finding finding(const char* check, Severity s, const char* subject, bool fixed = false) {
  Finding f;
  f.check = check;
  f.severity = s;
  f.subject = subject;
  f.title = std::string(check) + " title";
  f.explanation = "why";
  f.evidence = {{"rp_filter", "strict (1)"}};
  f.fixCommand = "sysctl -w x=2";
  f.fixable = true;
  f.fixed = fixed;
  return f;
}

TEST(ReportFormat, ExitCodesFollowProblemsThenChecksThatCouldNotRun) {
  Report r;
  EXPECT_EQ(r.exitCode(), 0);
  r.findings.push_back(finding("log_martians", Severity::kInfo, "eth0"));
  EXPECT_EQ(r.exitCode(), 0);
  r.notChecked.push_back("nftables: EPERM");
  EXPECT_EQ(r.exitCode(), 2);
  r.findings.push_back(finding("mtu", Severity::kWarning, "vp1"));
  EXPECT_EQ(r.exitCode(), 1);
  r.findings.back().fixed = true;
  EXPECT_EQ(r.exitCode(), 2);
  EXPECT_EQ(r.problems(), 0U);
}

TEST(ReportFormat, HumanTextGroupsBySeverityThenFixed) {
  Report r;
  r.node = "node2";
  r.checksRun = {"rp_filter", "mtu"};
  r.findings = {finding("mtu", Severity::kWarning, "vp1"),
                finding("rp_filter", Severity::kError, "ovl.1"),
                finding("rp_filter", Severity::kError, "eth0", true)};
  r.actions = {"net.ipv4.conf.eth0.rp_filter = 2 (was 1)"};
  const std::string text = formatHuman(r);
  EXPECT_EQ(text.rfind("ovl diagnose on node node2: 2 check(s) run, 2 problem(s)\n", 0), 0U)
      << text;
  const auto err = text.find("\nERROR (1)\n* [rp_filter] ovl.1: rp_filter title\n");
  const auto warn = text.find("\nWARNING (1)\n* [mtu] vp1: mtu title\n");
  const auto fixed = text.find("\nFIXED (1)\n* [rp_filter] eth0: rp_filter title (was: error)\n");
  ASSERT_NE(err, std::string::npos) << text;
  ASSERT_NE(warn, std::string::npos) << text;
  ASSERT_NE(fixed, std::string::npos) << text;
  EXPECT_LT(err, warn);
  EXPECT_LT(warn, fixed);
  EXPECT_NE(text.find("    fix: sysctl -w x=2   (or: ovlctl diagnose --fix)\n"), std::string::npos);
  EXPECT_NE(text.find("\nCHANGED (1)\n* net.ipv4.conf.eth0.rp_filter = 2 (was 1)\n"),
            std::string::npos);
}

TEST(ReportFormat, LongExplanationsAreWrapped) {
  Report r;
  Finding f = finding("mtu", Severity::kError, "x");
  f.explanation = std::string(60, 'a') + " " + std::string(60, 'b');
  r.findings.push_back(f);
  const std::string text = formatHuman(r);
  EXPECT_NE(text.find("    " + std::string(60, 'a') + "\n    " + std::string(60, 'b') + "\n"),
            std::string::npos)
      << text;
}

TEST(ReportFormat, JsonHasEveryDocumentedField) {
  Report r;
  r.node = "n";
  r.checksRun = {"rp_filter"};
  r.findings = {finding("rp_filter", Severity::kError, "ovl.1")};
  const auto j = toJson(r);
  EXPECT_EQ(j["schemaVersion"], 1);
  EXPECT_EQ(j["exitCode"], 1);
  EXPECT_EQ(j["problems"], 1);
  for (const char* k : {"node", "checksRun", "findings", "notChecked", "actions"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  const auto& f = j["findings"][0];
  EXPECT_EQ(f["severity"], "error");
  EXPECT_EQ(f["evidence"][0]["name"], "rp_filter");
  EXPECT_EQ(f["evidence"][0]["value"], "strict (1)");
  for (const char* k :
       {"check", "subject", "title", "explanation", "fixCommand", "fixable", "fixed"}) {
    EXPECT_TRUE(f.contains(k)) << k;
  }
  EXPECT_EQ(f.size(), 9U);  // no undocumented field (additionalProperties: false)
}

}  // namespace
}  // namespace ovl::diag
