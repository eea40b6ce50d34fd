// Process set-up that every berthd role does the same way: its data directory and the stop
// signals the main thread waits for.
#pragma once

#include <signal.h>

#include <string>

#include "core/error.h"

namespace berth {

// Creates `dir` (and parents) and makes it private to the owner (0700).
Result<void> PrepareDataDir(const std::string& dir);

// Blocks SIGTERM and SIGINT in this thread and every thread started after it (the main
// thread then takes them with sigwait on the returned set) and ignores SIGPIPE.
sigset_t BlockStopSignals();

}  // namespace berth
