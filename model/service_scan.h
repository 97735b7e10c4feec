// Internal to model/: a streaming scan of the cluster file that finds the lines of each entry of
// the top-level `services:` list, so that a large file is parsed one service at a time.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ovl {

// Where the entries of the top-level `services:` list are, found by an event scan of the file
// (libyaml's events, without a document tree). With these lines the file is parsed one service
// at a time, so that only one service's tree is held at once. Only plain layouts qualify:
// a block list whose entries each start on a line of their own with "- " and share no line;
// no anchors or aliases inside it. Anything else (or a syntax error, which the whole-file
// parse then reports) gives nullopt, and the file is parsed whole.
struct ServiceLines {
  std::vector<size_t> itemStart;  // 0-based line of each entry's "- "
  size_t end = 0;                 // first line after the list (exclusive)
};

// The text's lines, without their '\n' (a final line without one counts too).
std::vector<std::string_view> splitLines(std::string_view text);

// The lines of the services list of `text` (split into `lines`), or nullopt when its layout does
// not qualify or the text is not valid YAML.
std::optional<ServiceLines> findServiceLines(const std::string& text,
                                             const std::vector<std::string_view>& lines);

}  // namespace ovl
