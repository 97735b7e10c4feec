// A problem in a configuration file, named by where it is (file:line:column), the field and what
// was expected; and the order in which such problems are listed.
#pragma once

#include <string>
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

}  // namespace ovl
