#include "logs/segment.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "core/log.h"
#include "logs/coding.h"

namespace berth::logs {
namespace {

void EncodeMeta(std::string& out, const ChunkMeta& m) {
  PutChunkContent(out, m);
  PutVarint(out, m.offset);
  PutVarint(out, m.length);
}

bool DecodeMeta(std::string_view in, ChunkMeta& m) {
  if (!GetChunkContent(in, m)) return false;
  auto off = GetVarint(in);
  auto len = off ? GetVarint(in) : std::nullopt;
  if (!len || !in.empty()) return false;
  m.offset = *off;
  m.length = static_cast<uint32_t>(*len);
  return true;
}

Result<LoadedSegment> ScanSegment(Env& env, const std::string& path, uint64_t seq) {
  auto data = env.ReadFile(path);
  if (!data) return std::unexpected(data.error());
  LoadedSegment out;
  std::string_view in = *data;
  bool torn = false;
  while (true) {
    uint64_t at = data->size() - in.size();
    auto rec = ReadFramed(in, torn);
    if (!rec) break;
    ChunkMeta m;
    if (!DecodeChunkHeader(*rec, m)) {
      torn = true;
      in = std::string_view(*data).substr(at);
      break;
    }
    m.segment = seq;
    m.offset = at;
    m.length = static_cast<uint32_t>(rec->size() + kFrameHeader);
    out.chunks.push_back(m);
  }
  out.bytes = data->size() - in.size();
  if (torn) {
    out.torn_bytes = in.size();
    log::Warn("logs", "segment {}: torn or corrupt record at byte {}; {} bytes cut", path,
              out.bytes, in.size());
    if (auto r = env.Truncate(path, out.bytes); !r) return std::unexpected(r.error());
  }
  return out;
}

}  // namespace

std::string SegmentPath(const std::string& dir, uint64_t seq) {
  return JoinPath(dir, fmt::format("{:016x}.seg", seq));
}
std::string SegmentIndexPath(const std::string& dir, uint64_t seq) {
  return JoinPath(dir, fmt::format("{:016x}.idx", seq));
}

Result<std::vector<uint64_t>> ListSegments(Env& env, const std::string& dir) {
  auto names = env.Children(dir);
  if (!names) return std::unexpected(names.error());
  std::vector<uint64_t> seqs;
  for (const auto& n : *names) {
    if (n.size() != 20 || !n.ends_with(".seg")) continue;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(n.data(), n.data() + 16, v, 16);
    if (ec == std::errc() && p == n.data() + 16) seqs.push_back(v);
  }
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

Result<LoadedSegment> LoadSegment(Env& env, const std::string& dir, uint64_t seq) {
  std::string idx_path = SegmentIndexPath(dir, seq);
  if (env.FileExists(idx_path)) {
    auto idx = env.ReadFile(idx_path);
    if (!idx) return std::unexpected(idx.error());
    LoadedSegment out;
    out.sealed = true;
    std::string_view in = *idx;
    bool torn = false, ok = true;
    std::optional<std::string_view> rec;
    while ((rec = ReadFramed(in, torn))) {
      ChunkMeta m;
      if (!DecodeMeta(*rec, m)) {
        ok = false;
        break;
      }
      m.segment = seq;
      out.chunks.push_back(m);
    }
    auto seg = env.NewRandomAccessFile(SegmentPath(dir, seq));
    if (!seg) return std::unexpected(seg.error());
    out.bytes = (*seg)->Size();
    if (ok && !torn) return out;
    log::Warn("logs", "segment index {} is corrupt; scanning the segment instead", idx_path);
  }
  auto scanned = ScanSegment(env, SegmentPath(dir, seq), seq);
  if (scanned) scanned->sealed = false;
  return scanned;
}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::Open(Env& env, std::string dir, uint64_t seq,
                                                           std::vector<ChunkMeta> existing) {
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(env, std::move(dir), seq));
  auto f = env.NewAppendableFile(SegmentPath(w->dir_, seq));
  if (!f) return std::unexpected(f.error());
  w->file_ = std::move(*f);
  w->chunks_ = std::move(existing);
  return w;
}

Result<void> SegmentWriter::Append(std::string_view record, ChunkMeta& meta) {
  std::string framed;
  framed.reserve(record.size() + kFrameHeader);
  AppendFramed(framed, record);
  uint64_t at = file_->Size();
  if (auto r = file_->Append(framed); !r) {
    // Cut the partial record so the next append starts on a record boundary.
    (void)env_.Truncate(SegmentPath(dir_, seq_), at);
    auto reopened = env_.NewAppendableFile(SegmentPath(dir_, seq_));
    if (reopened) file_ = std::move(*reopened);
    return r;
  }
  meta.segment = seq_;
  meta.offset = at;
  meta.length = static_cast<uint32_t>(framed.size());
  chunks_.push_back(meta);
  return {};
}

Result<void> SegmentWriter::Seal() {
  if (auto r = file_->Sync(); !r) return r;
  std::string idx;
  std::string rec;
  for (const auto& m : chunks_) {
    rec.clear();
    EncodeMeta(rec, m);
    AppendFramed(idx, rec);
  }
  if (auto r = env_.WriteFileAtomic(SegmentIndexPath(dir_, seq_), idx); !r) return r;
  return file_->Close();
}

}  // namespace berth::logs
