// A datastore (datastore/datastore.h) that hands over the changes a test queues, one per
// nextChange(), and records what the agent reports to it.
#pragma once

#include <deque>
#include <string>

#include "datastore/datastore.h"

namespace ovl::test {

class FakeDatastore final : public Datastore {
 public:
  std::deque<ClusterChange> changes;  // handed over in order
  std::string currentProblem;
  DatastoreCounters totals;  // what counters() says
  int reads = 0;             // nextChange() calls
  std::vector<bool> readiness;

  int fd() const override { return -1; }
  bool maybeChanged() override { return !changes.empty(); }
  std::optional<ClusterLoad> loadIfChanged() override { return std::nullopt; }
  std::optional<ClusterChange> nextChange() override {
    ++reads;
    if (changes.empty()) {
      return std::nullopt;
    }
    ClusterChange c = std::move(changes.front());
    changes.pop_front();
    return c;
  }
  std::string describe() const override { return "fake datastore"; }
  std::string problem() const override { return currentProblem; }
  void reportReady(bool ready) override { readiness.push_back(ready); }
  DatastoreCounters counters() const override { return totals; }
};

}  // namespace ovl::test
