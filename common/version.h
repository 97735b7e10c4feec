// ovl's version, one for all its programs: the project's VERSION in CMakeLists.txt, followed by
// `git describe` of the tree it was built from ("0.1.0+git.f35e757a1b2c", "-dirty" when the tree
// had uncommitted changes); just the VERSION when built outside a git checkout.
#pragma once

#include <string_view>

namespace ovl {

std::string_view version();

}  // namespace ovl
