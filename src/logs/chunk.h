// A chunk: one stream's entries over a stretch of time, sorted by timestamp, compressed with
// zstd. Inside the compressed payload the entries are stored as columns — timestamp deltas,
// line lengths, then every line's bytes back to back — so a line filter (`|= "error"`) runs
// one memmem over the decompressed lines instead of visiting entries one by one.
//
//   payload = varint count | count x varint zigzag(ts delta) | count x varint length | lines
//
// A chunk record in a segment file is framed (coding.h) and carries its metadata ahead of
// the compressed bytes so an index can be rebuilt by reading the headers only.
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace berth::logs {

struct Entry {
  int64_t ts = 0;  // nanoseconds since the Unix epoch
  std::string line;
  bool operator==(const Entry&) const = default;
};

// What a chunk holds, without its bytes: the unit of the time index.
struct ChunkMeta {
  uint64_t stream_id = 0;
  int64_t min_ts = 0;
  int64_t max_ts = 0;
  uint32_t count = 0;
  uint64_t raw_bytes = 0;  // sum of line lengths
  uint64_t max_lsn = 0;    // newest WAL record whose entries it holds
  uint64_t segment = 0;    // segment sequence number
  uint64_t offset = 0;     // of the framed record in the segment
  uint32_t length = 0;     // of the framed record, frame header included
};

// A decompressed chunk: entry i is ts[i] and Lines().substr(offsets[i], offsets[i+1]-offsets[i]).
struct DecodedChunk {
  std::vector<int64_t> ts;
  std::vector<uint32_t> offsets;  // count + 1 entries
  std::string payload;            // the whole decompressed payload
  size_t lines_at = 0;            // where the lines start in it
  size_t size() const { return ts.size(); }
  std::string_view Lines() const { return std::string_view(payload).substr(lines_at); }
  std::string_view Line(size_t i) const {
    return std::string_view(payload).substr(lines_at + offsets[i], offsets[i + 1] - offsets[i]);
  }
};

// Accumulates entries (any order) and encodes them as one chunk payload, sorted by time
// (stable: entries with equal timestamps keep their arrival order).
class ChunkBuilder {
 public:
  void Add(int64_t ts, std::string_view line);
  size_t count() const { return ts_.size(); }
  size_t raw_bytes() const { return lines_.size(); }
  // The uncompressed payload; fills min/max/count/raw_bytes of `meta`.
  std::string Finish(ChunkMeta& meta) const;
  void Clear();

 private:
  std::vector<int64_t> ts_;
  std::vector<uint32_t> offsets_{0};
  std::string lines_;
};

// The fields a chunk's record header and a segment index share (stream, times, count, raw
// bytes, lsn), as varints; Get advances `in` and is false when it is truncated.
void PutChunkContent(std::string& out, const ChunkMeta& m);
bool GetChunkContent(std::string_view& in, ChunkMeta& m);

// Builds the segment record of a chunk: metadata + zstd(payload) at `level`.
Result<std::string> EncodeChunkRecord(const ChunkMeta& meta, std::string_view payload, int level);
// Reads a record's metadata (fills stream/time/count fields) and returns the compressed body.
Result<std::string_view> DecodeChunkHeader(std::string_view record, ChunkMeta& meta);
// Decompresses and decodes a record's body; errors name what is corrupt.
Result<DecodedChunk> DecodeChunkBody(std::string_view body, const ChunkMeta& meta);
// Decodes an uncompressed payload (a head's, or a record body after decompression).
Result<DecodedChunk> DecodePayload(std::string payload);

}  // namespace berth::logs
