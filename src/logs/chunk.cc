#include "logs/chunk.h"

#include <zstd.h>

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "logs/coding.h"

namespace berth::logs {
namespace {
constexpr uint8_t kChunkRecord = 1;

// One compression and one decompression context per thread, freed with the thread.
struct ZstdContexts {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~ZstdContexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};
ZstdContexts& Contexts() {
  static thread_local ZstdContexts contexts;
  return contexts;
}
}  // namespace

void ChunkBuilder::Add(int64_t ts, std::string_view line) {
  ts_.push_back(ts);
  lines_.append(line);
  offsets_.push_back(static_cast<uint32_t>(lines_.size()));
}

void ChunkBuilder::Clear() {
  ts_.clear();
  offsets_.assign(1, 0);
  lines_.clear();
}

std::string ChunkBuilder::Finish(ChunkMeta& meta) const {
  size_t n = ts_.size();
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (!std::is_sorted(ts_.begin(), ts_.end())) {
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return ts_[a] < ts_[b]; });
  }
  std::string out;
  out.reserve(lines_.size() + n * 4 + 16);
  PutVarint(out, n);
  int64_t prev = 0;
  for (uint32_t i : order) {
    PutVarint(out, ZigZag(ts_[i] - prev));
    prev = ts_[i];
  }
  for (uint32_t i : order) PutVarint(out, offsets_[i + 1] - offsets_[i]);
  for (uint32_t i : order) out.append(lines_, offsets_[i], offsets_[i + 1] - offsets_[i]);
  meta.count = static_cast<uint32_t>(n);
  meta.raw_bytes = lines_.size();
  meta.min_ts = n ? ts_[order.front()] : 0;
  meta.max_ts = n ? ts_[order.back()] : 0;
  return out;
}

void PutChunkContent(std::string& out, const ChunkMeta& m) {
  PutVarint(out, m.stream_id);
  PutVarint(out, ZigZag(m.min_ts));
  PutVarint(out, static_cast<uint64_t>(m.max_ts - m.min_ts));
  PutVarint(out, m.count);
  PutVarint(out, m.raw_bytes);
  PutVarint(out, m.max_lsn);
}

bool GetChunkContent(std::string_view& in, ChunkMeta& m) {
  auto id = GetVarint(in);
  auto min = id ? GetVarint(in) : std::nullopt;
  auto span = min ? GetVarint(in) : std::nullopt;
  auto count = span ? GetVarint(in) : std::nullopt;
  auto raw = count ? GetVarint(in) : std::nullopt;
  auto lsn = raw ? GetVarint(in) : std::nullopt;
  if (!lsn) return false;
  m.stream_id = *id;
  m.min_ts = UnZigZag(*min);
  m.max_ts = m.min_ts + static_cast<int64_t>(*span);
  m.count = static_cast<uint32_t>(*count);
  m.raw_bytes = *raw;
  m.max_lsn = *lsn;
  return true;
}

Result<std::string> EncodeChunkRecord(const ChunkMeta& meta, std::string_view payload, int level) {
  std::string rec;
  rec.push_back(static_cast<char>(kChunkRecord));
  PutChunkContent(rec, meta);
  size_t header = rec.size();
  size_t bound = ZSTD_compressBound(payload.size());
  rec.resize(header + bound);
  ZSTD_CCtx* cctx = Contexts().c;
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0);  // the frame's CRC-32C covers it
  size_t n = ZSTD_compress2(cctx, rec.data() + header, bound, payload.data(), payload.size());
  if (ZSTD_isError(n)) {
    return Fail(ErrorCode::kInternal, std::string("zstd compress: ") + ZSTD_getErrorName(n));
  }
  rec.resize(header + n);
  return rec;
}

Result<std::string_view> DecodeChunkHeader(std::string_view rec, ChunkMeta& meta) {
  if (rec.empty() || static_cast<uint8_t>(rec[0]) != kChunkRecord) {
    return Fail(ErrorCode::kInternal, "chunk record: unknown type");
  }
  rec.remove_prefix(1);
  if (!GetChunkContent(rec, meta))
    return Fail(ErrorCode::kInternal, "chunk record: truncated header");
  return rec;
}

Result<DecodedChunk> DecodePayload(std::string payload) {
  std::string_view p = payload;
  auto bad = [](std::string_view what) {
    return Fail(ErrorCode::kInternal, std::string("chunk payload: ") + std::string(what));
  };
  auto n = GetVarint(p);
  if (!n || *n > p.size()) return bad("bad count");
  DecodedChunk c;
  c.ts.resize(*n);
  c.offsets.resize(*n + 1);
  int64_t prev = 0;
  for (size_t i = 0; i < *n; ++i) {
    auto d = GetVarint(p);
    if (!d) return bad("truncated timestamps");
    prev += UnZigZag(*d);
    c.ts[i] = prev;
  }
  uint64_t off = 0;
  c.offsets[0] = 0;
  for (size_t i = 0; i < *n; ++i) {
    auto len = GetVarint(p);
    if (!len) return bad("truncated lengths");
    off += *len;
    if (off > p.size() || off > UINT32_MAX) return bad("lengths exceed the payload");
    c.offsets[i + 1] = static_cast<uint32_t>(off);
  }
  if (off != p.size()) return bad("lengths do not add up to the payload");
  c.lines_at = payload.size() - p.size();
  c.payload = std::move(payload);
  return c;
}

Result<DecodedChunk> DecodeChunkBody(std::string_view body, const ChunkMeta& meta) {
  unsigned long long size = ZSTD_getFrameContentSize(body.data(), body.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
      size > meta.raw_bytes + 16ull * meta.count + 16) {
    return Fail(ErrorCode::kInternal, "chunk record: bad zstd frame size");
  }
  // Decompress into a scratch buffer, then split columns into place.
  ZSTD_DCtx* dctx = Contexts().d;
  std::string payload;
  payload.resize(size);
  size_t n = ZSTD_decompressDCtx(dctx, payload.data(), payload.size(), body.data(), body.size());
  if (ZSTD_isError(n) || n != size) {
    return Fail(ErrorCode::kInternal, std::string("chunk record: zstd: ") +
                                          (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  auto c = DecodePayload(std::move(payload));
  if (!c) return c;
  if (c->size() != meta.count) return Fail(ErrorCode::kInternal, "chunk record: count mismatch");
  return c;
}

}  // namespace berth::logs
