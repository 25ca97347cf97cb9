// The exit statuses of the kiln tool (docs/fashion-mnist.md, "Exit statuses", lists them for users)
// and the errors that select them. Everything else kiln reports exits 1 (diff: 2, as diff(1)).
#pragma once

#include "kiln/error.hpp"

namespace kiln_tool {

inline constexpr int kExitFailure = 1;      // a kiln::Error: bad input, I/O, a busy run directory
inline constexpr int kExitUsage = 2;        // a bad command line; diff: a file could not be read
inline constexpr int kExitOutOfMemory = 3;  // std::bad_alloc anywhere
inline constexpr int kExitDiverged = 4;     // training stopped at a non-finite loss

// A command line that cannot mean anything (an option out of range, options that contradict
// each other): exit 2, like a parse error.
class UsageError : public kiln::ValueError {
  using kiln::ValueError::ValueError;
};

}  // namespace kiln_tool
