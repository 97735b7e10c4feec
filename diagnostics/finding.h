// What a diagnosis finds: one Finding per problem (or per note), grouped in a Report, and the
// two ways a Report is shown: the human text of `ovlctl diagnose` and its JSON (`-o json`,
// schema in docs/diagnose-json.md). Pure: no kernel access.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ovl::diag {

enum class Severity { kError, kWarning, kInfo };
std::string toString(Severity s);  // "error" | "warning" | "info"

// The fix `--fix` applies for a finding (none for findings only a person can fix).
struct Fix {
  enum class Kind { kNone, kRpFilterLoose, kHairpinOn, kTxChecksumOff };
  Kind kind = Kind::kNone;
  std::string iface;
  bool operator==(const Fix&) const = default;
};

struct Finding {
  std::string check;  // which check: "rp_filter", "ip_forward", "mtu", ... (stable ids)
  Severity severity = Severity::kError;
  std::string subject;      // the object at fault: an interface, "peer node2", "table ip ovl"
  std::string title;        // one line: what is wrong
  std::string explanation;  // why it breaks traffic, which path
  // Evidence, in order: e.g. {"kernel answer", "EXDEV ..."}, {"rp_filter", "1 (all=1, ovl.1=0)"}.
  std::vector<std::pair<std::string, std::string>> evidence;
  std::string fixCommand;  // the command that fixes it by hand ("" = none is known)
  bool fixable = false;    // `--fix` applies this fix
  Fix fix;                 // what --fix does (kind kNone unless fixable)
  bool fixed = false;      // `--fix` applied it and the re-check passed

  // The identity of a finding across runs (the agent logs each finding once).
  std::string key() const { return check + "|" + subject + "|" + title; }
  bool operator==(const Finding&) const = default;
};

struct Report {
  std::string node;
  std::vector<std::string> checksRun;  // ids of the checks that ran
  std::vector<Finding> findings;
  std::vector<std::string> notChecked;  // "check: why it could not run"
  std::vector<std::string> actions;     // what --fix / --persist changed

  // Problems = findings of severity error or warning that are not fixed.
  size_t problems() const;
  // 0 healthy, 1 problems found (unfixed), 2 a check could not run and nothing else was found.
  int exitCode() const;
};

// The human report: grouped by severity (errors first), each finding with its explanation,
// evidence and fix command; then what could not be checked and what was changed.
std::string formatHuman(const Report& r);

// The JSON report (schemaVersion 1, documented in docs/diagnose-json.md).
inline constexpr int kJsonSchemaVersion = 1;
nlohmann::json toJson(const Report& r);
nlohmann::json toJson(const Finding& f);

}  // namespace ovl::diag
