// Segment files: a namespace's chunks, appended one framed record after another
// (`<seq>.seg`); when a segment is sealed its chunk metadata is written beside it as an
// index (`<seq>.idx`, one framed record per chunk), so opening the store reads the indexes,
// not the chunks. The segment still being written has no index: opening scans its record
// headers and cuts a torn tail. Segments are never rewritten, only removed whole by retention.
// Thread-safety: a SegmentWriter is used by the flusher alone; LoadSegment is a pure read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "logs/chunk.h"
#include "logs/env.h"

namespace berth::logs {

std::string SegmentPath(const std::string& dir, uint64_t seq);
std::string SegmentIndexPath(const std::string& dir, uint64_t seq);
// The segment numbers found in `dir` (sorted).
Result<std::vector<uint64_t>> ListSegments(Env& env, const std::string& dir);

struct LoadedSegment {
  std::vector<ChunkMeta> chunks;
  uint64_t bytes = 0;
  bool sealed = false;      // had an index
  uint64_t torn_bytes = 0;  // cut from an unsealed segment's tail
};
// Reads a segment's chunk metadata from its index, or by scanning an unsealed segment
// (cutting a torn tail).
Result<LoadedSegment> LoadSegment(Env& env, const std::string& dir, uint64_t seq);

class SegmentWriter {
 public:
  // Opens `seq` in `dir` for appending; `existing` are the chunks already in it.
  static Result<std::unique_ptr<SegmentWriter>> Open(Env& env, std::string dir, uint64_t seq,
                                                     std::vector<ChunkMeta> existing);
  // Appends an encoded chunk record; fills meta.segment/offset/length.
  Result<void> Append(std::string_view record, ChunkMeta& meta);
  Result<void> Sync() { return file_->Sync(); }
  // Syncs the segment, writes its index; no appends afterwards.
  Result<void> Seal();
  uint64_t seq() const { return seq_; }
  uint64_t bytes() const { return file_->Size(); }
  int64_t opened_ms = 0;  // wall time it was opened (the store seals old segments)

 private:
  SegmentWriter(Env& env, std::string dir, uint64_t seq)
      : env_(env), dir_(std::move(dir)), seq_(seq) {}
  Env& env_;
  std::string dir_;
  uint64_t seq_;
  std::unique_ptr<WritableFile> file_;
  std::vector<ChunkMeta> chunks_;
};

}  // namespace berth::logs
