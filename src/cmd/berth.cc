// berth: the command line for a Berth control plane (kubectl/nomad-style verbs). Everything
// is in src/cli (commands.h).
#include "cli/commands.h"

int main(int argc, char** argv) { return berth::cli::Main(argc, argv); }
