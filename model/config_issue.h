// A problem in a configuration file, named by where it is (file:line:column), the field and what
// was expected; the order in which such problems are listed; and the bounds on what a message
// echoes (a short prefix of a bad value, the first issues of a long list).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "model/source_mark.h"

namespace ovl {

struct ConfigIssue {
  SourceMark mark;
  std::string field;             // dotted path, e.g. "nodes[2].podSubnet" or "network.vni"
  std::string message;           // what is wrong and what was expected
  std::string toString() const;  // "cluster.yaml:12:5: nodes[2].podSubnet: ..."
};

// Issues in file order, which is how people read and fix them.
void sortByPosition(std::vector<ConfigIssue>& issues);

// How much of a value a message echoes: a 50 MB node name must not reach a log whole.
constexpr size_t kMaxEchoedBytes = 64;

// A value a user gave, as a message shows it: at most `max` bytes of it (never half a UTF-8
// character), control characters escaped (\n, \t, \x01: one log line stays one line), and when it
// is cut, "... (N bytes)" after it.
std::string clipValue(std::string_view value, size_t max = kMaxEchoedBytes);
// The same in single quotes: 'value', or 'first 64 bytes...' (N bytes).
std::string quoteValue(std::string_view value);

// How many issues a log, ovlctl or /readyz lists before it only counts the rest.
constexpr size_t kMaxIssuesShown = 100;

// The issues as lines (toString()): the first `limit`, then "... and N more issues" when there
// are more.
std::vector<std::string> issueLines(const std::vector<ConfigIssue>& issues,
                                    size_t limit = kMaxIssuesShown);

}  // namespace ovl
