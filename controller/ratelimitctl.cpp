// ratelimitctl: the operator CLI. Commands live in controller/cli/.
#include "cli/main.hpp"

int main(int argc, char** argv) { return ratelimit::cli::run(argc, argv); }
