#!/usr/bin/env bash
# Builds Berth under ASan+UBSan and runs every test: unit, fuzz-corpus replay, integration
# and e2e. Exit status is ctest's. Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
# Share ccache hits between clones of the tree (CI builds in a fresh clone elsewhere).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Integration tests start real processes; two at a time keeps a 2-core box responsive.
# A test that fails is run once more before it counts as failed: integration tests start
# real processes on a shared 2-core machine. A test that fails twice fails the run.
ctest --preset asan -j 2 --timeout 600 --repeat until-pass:2 "$@"
