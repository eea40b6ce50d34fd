// Reads a container's log file from a cursor on, following the shim's size rotation
// (`container.log` -> `container.log.1` -> ... -> `container.log.K`): the cursor names the
// file by inode, so a file renamed by rotation is finished before its successor is read. Only
// whole lines are returned; the cursor moves past what was returned.
// A cursor whose file rotated away before it was finished is reported as lost (the shim
// never waits for the agent, so a stopped agent loses what rotation dropped meanwhile).
// Thread-safety: stateless functions over the file system.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace berth::agent::logship {

struct Cursor {
  uint64_t inode = 0;  // 0: not started (read from the oldest file kept)
  uint64_t offset = 0;
  bool operator==(const Cursor&) const = default;
};

struct TailRead {
  std::vector<std::string> lines;  // without their '\n'
  std::vector<Cursor> starts;      // where each line starts
  Cursor cursor;                   // after the last returned line
  std::vector<uint64_t> order;     // inodes of the files kept, oldest first
  bool lost = false;               // the cursor's file rotated away before it was finished
  bool at_end = false;             // nothing more to read now
};

// True when `a` comes before `b` in the file sequence `order` (an inode no longer kept is
// older than every kept one; inode 0, "not started", is older still).
bool Before(const Cursor& a, const Cursor& b, const std::vector<uint64_t>& order);

// Reads up to about `max_bytes` of whole lines of `path` (and its rotations up to
// `keep_files`) from `cursor`.
Result<TailRead> ReadLines(const std::string& path, int keep_files, Cursor cursor,
                           size_t max_bytes);

}  // namespace berth::agent::logship
