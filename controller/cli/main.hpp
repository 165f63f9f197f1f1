// ratelimitctl's entry point (controller/ratelimitctl.cpp only calls this).
#pragma once

namespace ratelimit::cli {

// Parses argv, runs the command, returns the process exit code:
// 0 ok, 1 the daemon refused or is unreachable, 2 usage error.
int run(int argc, char** argv);

}  // namespace ratelimit::cli
