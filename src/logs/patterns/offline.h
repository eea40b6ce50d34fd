// Offline mining of a whole file: one CSV row per input line (LineId, ClusterId,
// EventTemplate), the format Loghub's evaluator scores (`berth logs patterns --file F -o csv`).
// Clusters are final: a line mined early reports the cluster its signature ended in.
// Thread-safety: pure function.
#pragma once

#include <istream>
#include <ostream>

#include "logs/patterns/miner.h"

namespace berth::logs::patterns {

// Reads lines from `in` (a trailing \r is dropped) and writes the CSV to `out`; returns the
// number of lines.
size_t MineToCsv(std::istream& in, std::ostream& out, const MinerOptions& options = {});

}  // namespace berth::logs::patterns
