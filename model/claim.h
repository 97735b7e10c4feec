// Internal to model/: who holds a value that only one entry of a cluster may hold (a node's
// underlay IP, a service's address), for the messages of the entries that claim it later.
#pragma once

#include <fmt/format.h>

#include <string>

#include "model/source_mark.h"

namespace ovl {

// Values already taken by earlier entries. The first entry that holds a value keeps it,
// whether or not that entry was otherwise valid: two entries claiming one IP is a mistake in
// the file either way, and guessing which one was meant could route to the wrong host.
struct Claim {
  std::string who;   // "node 'node1'", or "nodes[3]" when the entry has no valid name
  SourceMark where;  // the entry's mark
  std::string toString() const { return fmt::format("{} at {}", who, where.toString()); }
};

}  // namespace ovl
