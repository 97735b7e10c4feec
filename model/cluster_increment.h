// The cluster file read again after a change at the cost of what changed (ClusterFileState):
// when only entries of the services list changed, only those entries are parsed again, and the
// result (the services accepted, every issue with its file:line:col) is exactly what a parse of
// the whole new text gives. Anything else is parsed whole.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/cluster_file.h"

namespace ovl {

// The services that changed since the last text, network and nodes unchanged.
struct ClusterServiceChanges {
  std::vector<svc::Service> upserts;  // accepted now, and new, changed or accepted again
  std::vector<std::string> removed;   // ids no longer accepted
  std::vector<ConfigIssue> issues;    // every current issue of the file, as parseCluster lists
  size_t reparsed = 0;                // entries parsed again
  bool sameText = false;              // the text is the last one: nothing changed
};

// The last text of one cluster file and what it reads as, kept so that the next text costs only
// its changed entries. The change is found by comparing bytes (the common prefix and suffix of
// the two texts), never by reading the whole text as YAML again; the entries it touches are
// parsed again, those after it keep their reading and move (their positions shift with them).
class ClusterFileState {
 public:
  explicit ClusterFileState(std::string fileName);
  ~ClusterFileState();
  ClusterFileState(ClusterFileState&&) noexcept;
  ClusterFileState& operator=(ClusterFileState&&) noexcept;

  // The whole text parsed (as parseCluster does), and kept as the base of the next update().
  ClusterLoad parseWhole(std::string text);
  // The services that changed from the last text to `text`, when nothing but entries of the
  // services list changed and their layout still allows reading them one at a time (see
  // model/service_scan.h); the text is then the new base. nullopt when it must be parsed whole
  // (parseWhole): any other change, a last text that was not usable (a fatal issue) or unsure.
  // When it changed and the changes are read, the state takes the text (`text` is left empty);
  // else `text` is as it was.
  std::optional<ClusterServiceChanges> update(std::string& text);
  // Whether `text` is the last text.
  bool same(const std::string& text) const;
  // Drops the last text: the next one is parsed whole.
  void forget();
  // What the last text reads as (what parseCluster would give): for tests and diagnostics.
  ClusterLoad current() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ovl
