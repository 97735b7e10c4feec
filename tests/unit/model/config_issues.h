// Assertions on configuration issues, shared by the tests of the model's parsers.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"

namespace ovl::test {

// All issues, one per line, for failure messages.
inline std::string dump(const std::vector<ConfigIssue>& issues) {
  std::string out;
  for (const auto& i : issues) {
    out += "\n  " + i.toString();
  }
  return out.empty() ? " (no issues)" : out;
}

// Passes when exactly one issue names `field`, at `line`, and its message contains every part.
inline ::testing::AssertionResult hasIssue(const std::vector<ConfigIssue>& issues,
                                           const std::string& field, int line,
                                           std::initializer_list<std::string_view> parts) {
  const ConfigIssue* found = nullptr;
  for (const auto& i : issues) {
    if (i.field == field) {
      if (found != nullptr) {
        return ::testing::AssertionFailure() << "two issues for " << field << ":" << dump(issues);
      }
      found = &i;
    }
  }
  if (found == nullptr) {
    return ::testing::AssertionFailure() << "no issue for " << field << ":" << dump(issues);
  }
  if (found->mark.line != line) {
    return ::testing::AssertionFailure() << "issue for " << field << " at line " << found->mark.line
                                         << ", expected " << line << ":" << dump(issues);
  }
  for (auto part : parts) {
    if (found->message.find(part) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message of " << field << " lacks '" << part << "': " << found->toString();
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace ovl::test
