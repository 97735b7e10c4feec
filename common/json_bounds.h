// Bounds on untrusted JSON text (ovl-cni's stdin, the registration files in the node's local
// state): the nesting depth, checked by a streaming pass that keeps no tree and never recurses,
// before anything that does recurse (nlohmann's dump, copy, comparison) runs on the document.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace ovl {

// Deeper than this is refused: real CNI configurations and results nest fewer than 10 levels.
inline constexpr size_t kMaxJsonDepth = 64;

struct JsonDepthCheck {
  bool exceeded = false;   // the text nests arrays/objects deeper than the limit
  bool malformed = false;  // not valid JSON (left to the real parse to report in its words)
  // The top-level member the limit was crossed in ("" when the root itself is an array that
  // nests too deep), for messages naming the field.
  std::string member;
  // The short (<= 64 byte) string members of a top-level object seen before the scan stopped,
  // e.g. cniVersion, to answer an error in the configuration's version.
  std::map<std::string, std::string> topStrings;
};

// Scans `text` once, without building a tree; stops at the first level beyond maxDepth (the
// top-level value is level 1).
JsonDepthCheck checkJsonDepth(std::string_view text, size_t maxDepth = kMaxJsonDepth);

}  // namespace ovl
