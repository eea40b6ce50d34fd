#include "logs/log_store.h"

#include <algorithm>
#include <climits>

#include <fmt/format.h>

#include "core/log.h"
#include "logs/coding.h"
#include "logs/segment.h"
#include "logs/wal.h"

namespace berth::logs {

struct LogStore::Stream {
  uint64_t id = 0;
  LabelSet labels;
  std::string canonical;
  std::vector<ChunkMeta> chunks;  // stored, in flush order
  ChunkBuilder head;
  uint64_t head_max_lsn = 0;
  int64_t head_started_ms = 0;
  bool head_pending = false;
  std::multiset<uint64_t>::iterator head_pending_it;
  int64_t newest_ts = INT64_MIN;
  uint64_t flushed_lsn = 0;  // entries of WAL records up to this lsn are in chunks
  std::vector<std::shared_ptr<const ChunkBuilder>> flushing;  // cut, not yet stored
};

struct LogStore::Namespace {
  struct Segment {
    uint64_t bytes = 0;
    int64_t min_ts = INT64_MAX;
    int64_t max_ts = INT64_MIN;
    bool sealed = false;
    std::shared_ptr<RandomAccessFile> file;
  };
  std::string name;
  std::string dir;
  std::unordered_map<uint64_t, std::unique_ptr<Stream>> streams;
  std::unordered_map<std::string, uint64_t> by_labels;  // canonical -> id
  std::map<std::string, std::map<std::string, std::vector<uint64_t>>> postings;
  uint64_t next_id = 1;
  std::shared_ptr<WritableFile> streams_file;
  std::map<uint64_t, Segment> segments;
  uint64_t stored_bytes = 0;

  std::mutex write_mu;                    // the flusher and Tick: the segment being written
  std::unique_ptr<SegmentWriter> writer;  // guarded by write_mu
  uint64_t next_segment = 1;              // guarded by write_mu
};

struct LogStore::FlushItem {
  std::string ns;
  uint64_t stream_id = 0;
  std::shared_ptr<const ChunkBuilder> data;
  uint64_t max_lsn = 0;
  bool pending = false;
  std::multiset<uint64_t>::iterator pending_it;
  ChunkMeta meta;      // filled by the flusher
  std::string record;  // encoded, while the flusher writes it
};

struct LogStore::Planned {
  Namespace* ns = nullptr;
  Stream* stream = nullptr;  // null: new
  LabelSet labels;
  std::string canonical;
  std::vector<Entry> entries;
};

namespace {

constexpr std::string_view kNamespaceLabel = "namespace";

// Stream table record: varint id, canonical labels.
std::string StreamRecord(uint64_t id, std::string_view canonical) {
  std::string rec, framed;
  PutVarint(rec, id);
  rec.append(canonical);
  AppendFramed(framed, rec);
  return framed;
}

std::string FormatTs(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns % 1'000'000'000);
}

}  // namespace

LogStore::LogStore(LogStoreOptions options, Env& env, Clock& clock)
    : options_(std::move(options)), env_(env), clock_(clock) {}

Result<std::unique_ptr<LogStore>> LogStore::Open(LogStoreOptions options, Env& env, Clock& clock) {
  std::unique_ptr<LogStore> store(new LogStore(std::move(options), env, clock));
  if (auto r = store->Load(); !r)
    return std::unexpected(Wrap(r.error(), "logs: open " + store->options_.dir));
  store->flusher_ = std::thread([s = store.get()] { s->FlusherLoop(); });
  if (store->options_.background) {
    store->maintenance_ = std::thread([s = store.get()] { s->MaintenanceLoop(); });
  }
  return store;
}

LogStore::~LogStore() {
  if (auto r = Flush(); !r) log::Error("logs", "flush at close: {}", r.error().message);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  flush_cv_.notify_all();
  maint_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (maintenance_.joinable()) maintenance_.join();
  for (auto& [name, ns] : namespaces_) {
    std::lock_guard wl(ns->write_mu);
    if (ns->writer) {
      if (auto r = ns->writer->Seal(); !r)
        log::Error("logs", "seal at close: {}", r.error().message);
    }
  }
}

const NamespaceLimits& LogStore::LimitsFor(const std::string& ns) const {
  auto it = options_.namespace_limits.find(ns);
  return it == options_.namespace_limits.end() ? options_.default_limits : it->second;
}

LogStore::Namespace& LogStore::NamespaceLocked(const std::string& name) {
  auto& slot = namespaces_[name];
  if (!slot) {
    slot = std::make_unique<Namespace>();
    slot->name = name;
    slot->dir = JoinPath(JoinPath(options_.dir, "ns"), name);
  }
  return *slot;
}

Result<void> LogStore::Load() {
  std::string ns_root = JoinPath(options_.dir, "ns");
  if (auto r = env_.CreateDirs(ns_root); !r) return r;
  auto names = env_.Children(ns_root);
  if (!names) return std::unexpected(names.error());
  for (const auto& name : *names) {
    if (auto r = LoadNamespace(name); !r) return r;
  }
  if (auto r = LoadState(); !r) return r;
  WalReplayStats stats;
  {
    std::lock_guard lock(mu_);
    replaying_ = true;
  }
  auto wal = Wal::Open(
      env_, JoinPath(options_.dir, "wal"), options_.wal_file_bytes,
      [this](uint64_t lsn, std::string_view rec) { return Replay(lsn, rec); }, &stats);
  std::lock_guard lock(mu_);
  replaying_ = false;
  if (!wal) return std::unexpected(wal.error());
  wal_ = std::move(*wal);
  lsn_ = std::max(lsn_, stats.max_lsn);
  if (stats.records > 0) {
    log::Info("logs", "replayed {} WAL records (newest lsn {}, {} torn files)", stats.records,
              stats.max_lsn, stats.torn_files);
  }
  return {};
}

Result<void> LogStore::LoadNamespace(const std::string& name) {
  std::lock_guard lock(mu_);
  Namespace& ns = NamespaceLocked(name);
  std::string table = JoinPath(ns.dir, "streams");
  if (auto data = env_.ReadFile(table); data) {
    std::string_view in = *data;
    bool torn = false;
    while (auto rec = ReadFramed(in, torn)) {
      std::string_view body = *rec;
      auto id = GetVarint(body);
      if (!id) continue;
      ns.next_id = std::max(ns.next_id, *id + 1);
      if (body == "{}") continue;  // keeps next_id above the ids of dropped streams
      auto labels = LabelSet::Parse(body, LabelLimits{SIZE_MAX, SIZE_MAX, SIZE_MAX});
      if (!labels) {
        log::Warn("logs", "{}: stream {} has unreadable labels: {}", table, *id,
                  labels.error().message);
        continue;
      }
      auto s = std::make_unique<Stream>();
      s->id = *id;
      s->labels = std::move(*labels);
      s->canonical = std::string(body);
      for (const auto& l : s->labels.labels()) ns.postings[l.name][l.value].push_back(s->id);
      ns.by_labels[s->canonical] = s->id;
      ns.next_id = std::max(ns.next_id, *id + 1);
      ns.streams[*id] = std::move(s);
    }
    if (torn) {
      if (auto r = env_.Truncate(table, data->size() - in.size()); !r) return r;
    }
  }
  auto file = env_.NewAppendableFile(table);
  if (!file) return std::unexpected(file.error());
  ns.streams_file = std::move(*file);
  auto seqs = ListSegments(env_, ns.dir);
  if (!seqs) return std::unexpected(seqs.error());
  for (uint64_t seq : *seqs) {
    auto seg = LoadSegment(env_, ns.dir, seq);
    if (!seg) return std::unexpected(seg.error());
    auto& info = ns.segments[seq];
    info.bytes = seg->bytes;
    ns.stored_bytes += seg->bytes;
    for (const auto& m : seg->chunks) {
      auto it = ns.streams.find(m.stream_id);
      if (it == ns.streams.end()) {
        log::Warn("logs", "{}: chunk of unknown stream {} in segment {}", ns.dir, m.stream_id, seq);
        continue;
      }
      it->second->chunks.push_back(m);
      it->second->flushed_lsn = std::max(it->second->flushed_lsn, m.max_lsn);
      it->second->newest_ts = std::max(it->second->newest_ts, m.max_ts);
      info.min_ts = std::min(info.min_ts, m.min_ts);
      info.max_ts = std::max(info.max_ts, m.max_ts);
    }
    if (!seg->sealed) {
      // Written up to a crash: give it its index now; new chunks go to a new segment.
      auto w = SegmentWriter::Open(env_, ns.dir, seq, seg->chunks);
      if (!w) return std::unexpected(w.error());
      if (auto r = (*w)->Seal(); !r) return r;
    }
    info.sealed = true;
    ns.next_segment = seq + 1;
  }
  for (auto& [id, s] : ns.streams) {
    std::sort(s->chunks.begin(), s->chunks.end(),
              [](const ChunkMeta& a, const ChunkMeta& b) { return a.min_ts < b.min_ts; });
  }
  return {};
}

// WAL record: lp source | varint seq | varint streams | per stream: lp labels | varint n |
// n x (varint zigzag ts | lp line).
Result<void> LogStore::Replay(uint64_t lsn, std::string_view rec) {
  std::lock_guard lock(mu_);
  lsn_ = std::max(lsn_, lsn);
  if (lsn <= floor_lsn_) return {};  // every entry of it is in a segment (or was dropped)
  auto source = GetLengthPrefixed(rec);
  auto seq = source ? GetVarint(rec) : std::nullopt;
  auto count = seq ? GetVarint(rec) : std::nullopt;
  if (!count) return Fail(ErrorCode::kInternal, "truncated header");
  if (!source->empty()) {
    auto& s = sources_[std::string(*source)];
    s = std::max(s, *seq);
    state_dirty_ = true;
  }
  for (uint64_t i = 0; i < *count; ++i) {
    auto canonical = GetLengthPrefixed(rec);
    auto n = canonical ? GetVarint(rec) : std::nullopt;
    if (!n) return Fail(ErrorCode::kInternal, "truncated stream");
    auto labels = LabelSet::Parse(*canonical, LabelLimits{SIZE_MAX, SIZE_MAX, SIZE_MAX});
    if (!labels) return std::unexpected(labels.error());
    std::vector<Entry> entries;
    entries.reserve(*n);
    for (uint64_t k = 0; k < *n; ++k) {
      auto ts = GetVarint(rec);
      auto line = ts ? GetLengthPrefixed(rec) : std::nullopt;
      if (!line) return Fail(ErrorCode::kInternal, "truncated entry");
      entries.push_back(Entry{UnZigZag(*ts), std::string(*line)});
    }
    std::string ns_name = NamespaceOf(*labels);
    if (auto t = tombstones_.find({ns_name, std::string(*canonical)});
        t != tombstones_.end() && lsn <= t->second) {
      continue;  // stored, then dropped by retention: not to be revived
    }
    Namespace& ns = NamespaceLocked(ns_name);
    Stream* stream;
    if (auto it = ns.by_labels.find(std::string(*canonical)); it != ns.by_labels.end()) {
      stream = ns.streams.at(it->second).get();
    } else {
      auto created = CreateStreamLocked(ns, *labels, std::string(*canonical));
      if (!created) return std::unexpected(created.error());
      stream = *created;
    }
    if (lsn > stream->flushed_lsn) ApplyLocked(*stream, ns, entries, lsn);
  }
  return {};
}

Result<LogStore::Stream*> LogStore::CreateStreamLocked(Namespace& ns, const LabelSet& labels,
                                                       const std::string& canonical) {
  if (!ns.streams_file) {
    if (auto r = env_.CreateDirs(ns.dir); !r) return std::unexpected(r.error());
    auto file = env_.NewAppendableFile(JoinPath(ns.dir, "streams"));
    if (!file) return std::unexpected(file.error());
    ns.streams_file = std::move(*file);
  }
  uint64_t id = ns.next_id;
  if (auto r = ns.streams_file->Append(StreamRecord(id, canonical)); !r) {
    return std::unexpected(r.error());
  }
  ++ns.next_id;
  auto s = std::make_unique<Stream>();
  s->id = id;
  s->labels = labels;
  s->canonical = canonical;
  for (const auto& l : labels.labels()) ns.postings[l.name][l.value].push_back(id);
  ns.by_labels[canonical] = id;
  Stream* raw = s.get();
  ns.streams[id] = std::move(s);
  return raw;
}

Error LogStore::StreamLimitError(const Namespace& ns, const LabelSet& labels,
                                 const std::vector<LabelSet>& planned) const {
  // The label with the most values is the one that multiplies streams: count the values of
  // the streams stored and of those this push would have added.
  std::map<std::string_view, std::set<std::string_view>> extra;
  for (const LabelSet& p : planned) {
    for (const auto& l : p.labels()) extra[l.name].insert(l.value);
  }
  std::string worst;
  size_t worst_values = 0;
  auto consider = [&](std::string_view name, size_t n) {
    if (name != kNamespaceLabel && n > worst_values) {
      worst = std::string(name);
      worst_values = n;
    }
  };
  for (const auto& [name, values] : ns.postings) {
    size_t n = values.size();
    if (auto it = extra.find(name); it != extra.end()) {
      for (auto v : it->second) n += values.contains(std::string(v)) ? 0 : 1;
    }
    consider(name, n);
  }
  for (const auto& [name, values] : extra) {
    if (!ns.postings.contains(std::string(name))) consider(name, values.size());
  }
  std::string msg =
      fmt::format("namespace {} has reached its limit of {} streams; stream {} would be new",
                  ns.name, LimitsFor(ns.name).max_streams, labels.Canonical());
  if (!worst.empty()) {
    msg += fmt::format(
        ". Label \"{}\" has {} values across {} streams: it is the one that multiplies streams; "
        "move it into the log line or raise the namespace's max_streams",
        worst, worst_values, ns.streams.size() + planned.size());
  }
  return Error(ErrorCode::kResourceExhausted, msg);
}

void LogStore::PlanPushLocked(PushRequest& request, std::vector<Planned>& plan,
                              PushResult& result) {
  const int64_t now_ns = clock_.WallMillis() * 1'000'000;
  std::map<std::string, std::vector<LabelSet>> new_streams;    // per namespace, planned here
  std::map<std::string, std::pair<uint64_t, Error>> problems;  // key: kind + stream
  auto refuse = [&](const std::string& key, ErrorCode code, std::string msg) {
    auto& p = problems[key];
    if (p.first++ == 0) p.second = Error(code, std::move(msg));
    ++result.rejected;
  };
  for (auto& ps : request.streams) {
    Planned p;
    p.labels = std::move(ps.labels);
    if (p.labels.Get(kNamespaceLabel).empty()) {
      auto labels = p.labels.labels();
      labels.push_back(Label{std::string(kNamespaceLabel), options_.default_namespace});
      p.labels = *LabelSet::Make(std::move(labels), LabelLimits{SIZE_MAX, SIZE_MAX, SIZE_MAX});
    }
    p.canonical = p.labels.Canonical();
    std::string ns_name(p.labels.Get(kNamespaceLabel));
    p.ns = &NamespaceLocked(ns_name);
    const NamespaceLimits& limits = LimitsFor(ns_name);
    if (auto it = p.ns->by_labels.find(p.canonical); it != p.ns->by_labels.end()) {
      p.stream = p.ns->streams.at(it->second).get();
    } else {
      bool seen = false;
      for (const auto& q : plan)
        seen |= q.ns == p.ns && q.stream == nullptr && q.canonical == p.canonical;
      auto& planned_new = new_streams[ns_name];
      if (!seen && p.ns->streams.size() + planned_new.size() >= limits.max_streams) {
        result.rejected += ps.entries.size();
        auto& problem = problems["limit" + ns_name];
        if (problem.first++ == 0) problem.second = StreamLimitError(*p.ns, p.labels, planned_new);
        continue;
      }
      if (!seen) planned_new.push_back(p.labels);
    }
    int64_t newest = p.stream ? p.stream->newest_ts : INT64_MIN;
    for (const auto& q : plan) {
      if (q.ns == p.ns && q.canonical == p.canonical && !q.entries.empty()) {
        for (const auto& e : q.entries) newest = std::max(newest, e.ts);
      }
    }
    const int64_t oldest_kept = now_ns - limits.retention_ms * 1'000'000;
    for (auto& e : ps.entries) {
      if (e.line.size() > options_.max_line_bytes) {
        refuse(
            "long" + p.canonical, ErrorCode::kInvalidArgument,
            fmt::format("stream {}: entry at {} is {} bytes, over the limit of {} bytes per line",
                        p.canonical, FormatTs(e.ts), e.line.size(), options_.max_line_bytes));
      } else if (e.ts > now_ns + options_.max_future_ns) {
        refuse(
            "future" + p.canonical, ErrorCode::kInvalidArgument,
            fmt::format("stream {}: entry at {} is more than {}s ahead of this server's clock ({})",
                        p.canonical, FormatTs(e.ts), options_.max_future_ns / 1'000'000'000,
                        FormatTs(now_ns)));
      } else if (e.ts < oldest_kept) {
        refuse("retention" + p.canonical, ErrorCode::kInvalidArgument,
               fmt::format("stream {}: entry at {} is older than namespace {}'s retention of {}h",
                           p.canonical, FormatTs(e.ts), ns_name, limits.retention_ms / 3'600'000));
      } else if (newest != INT64_MIN && e.ts < newest - options_.out_of_order_window_ns) {
        refuse(
            "order" + p.canonical, ErrorCode::kInvalidArgument,
            fmt::format("stream {}: entry at {} is too far out of order: more than {}s before the "
                        "stream's newest entry at {}",
                        p.canonical, FormatTs(e.ts),
                        options_.out_of_order_window_ns / 1'000'000'000, FormatTs(newest)));
      } else {
        newest = std::max(newest, e.ts);
        p.entries.push_back(std::move(e));
      }
    }
    if (!p.entries.empty()) plan.push_back(std::move(p));
  }
  for (auto& [key, p] : problems) {
    if (p.first > 1)
      p.second.message = fmt::format("{} (and {} more like it)", p.second.message, p.first - 1);
    result.errors.push_back(std::move(p.second));
  }
}

Result<PushResult> LogStore::Push(PushRequest&& request) {
  PushResult result;
  {
    std::lock_guard lock(mu_);
    if (!request.source.empty()) {
      auto it = sources_.find(request.source);
      if (it != sources_.end() && request.seq <= it->second) {
        result.duplicate = true;
        return result;
      }
    }
    std::vector<Planned> plan;
    PlanPushLocked(request, plan, result);
    if (plan.empty() && request.source.empty()) return result;
    std::string rec;
    PutLengthPrefixed(rec, request.source);
    PutVarint(rec, request.seq);
    PutVarint(rec, plan.size());
    for (const auto& p : plan) {
      PutLengthPrefixed(rec, p.canonical);
      PutVarint(rec, p.entries.size());
      for (const auto& e : p.entries) {
        PutVarint(rec, ZigZag(e.ts));
        PutLengthPrefixed(rec, e.line);
      }
    }
    uint64_t lsn = lsn_ + 1;
    if (auto r = wal_->Append(lsn, rec); !r) {
      return std::unexpected(
          Error(ErrorCode::kUnavailable, "logs: write-ahead log: " + r.error().message));
    }
    lsn_ = lsn;
    for (auto& p : plan) {
      if (!p.stream) {
        if (auto it = p.ns->by_labels.find(p.canonical); it != p.ns->by_labels.end()) {
          p.stream = p.ns->streams.at(it->second).get();
        } else {
          auto created = CreateStreamLocked(*p.ns, p.labels, p.canonical);
          if (!created) {
            // The entries are in the WAL: replay at the next start stores them.
            log::Error("logs", "stream table of {}: {}", p.ns->name, created.error().message);
            return std::unexpected(
                Error(ErrorCode::kUnavailable, "logs: stream table: " + created.error().message));
          }
          p.stream = *created;
        }
      }
      result.accepted += p.entries.size();
      ApplyLocked(*p.stream, *p.ns, p.entries, lsn);
    }
    if (!request.source.empty()) {
      sources_[request.source] = request.seq;
      state_dirty_ = true;
    }
    RelieveMemoryLocked();
    RelieveWalLocked();
  }
  if (options_.sync) {
    if (auto r = wal_->Sync(); !r) {
      return std::unexpected(
          Error(ErrorCode::kUnavailable, "logs: write-ahead log sync: " + r.error().message));
    }
  }
  return result;
}

void LogStore::ApplyLocked(Stream& stream, Namespace& ns, std::vector<Entry>& entries,
                           uint64_t lsn) {
  if (!stream.head_pending) {
    stream.head_pending_it = pending_lsns_.insert(lsn);
    stream.head_pending = true;
    stream.head_started_ms = clock_.WallMillis();
  }
  uint64_t before = stream.head.raw_bytes();
  for (const auto& e : entries) {
    stream.head.Add(e.ts, e.line);
    stream.newest_ts = std::max(stream.newest_ts, e.ts);
  }
  stream.head_max_lsn = lsn;
  head_bytes_ += stream.head.raw_bytes() - before;
  if (!replaying_ && !tails_.empty()) {
    StreamRef ref{ns.name, stream.id, stream.labels};
    for (auto& [id, fn] : tails_) fn(ref, entries);
  }
  if (stream.head.raw_bytes() >= options_.chunk_target_bytes) CutLocked(ns, stream);
}

void LogStore::CutLocked(Namespace& ns, Stream& stream) {
  if (stream.head.count() == 0) return;
  auto item = std::make_unique<FlushItem>();
  item->ns = ns.name;
  item->stream_id = stream.id;
  auto data = std::make_shared<ChunkBuilder>(std::move(stream.head));
  stream.head = ChunkBuilder();
  head_bytes_ -= data->raw_bytes();
  item->data = data;
  item->max_lsn = stream.head_max_lsn;
  item->pending = stream.head_pending;
  item->pending_it = stream.head_pending_it;
  stream.head_pending = false;
  stream.flushing.push_back(std::move(data));
  flush_queue_.push_back(std::move(item));
  ++flush_enqueued_;
  flush_cv_.notify_one();
}

void LogStore::RelieveMemoryLocked() {
  if (head_bytes_ <= options_.head_budget_bytes) return;
  std::vector<std::pair<uint64_t, std::pair<Namespace*, Stream*>>> heads;
  for (auto& [name, ns] : namespaces_) {
    for (auto& [id, s] : ns->streams) {
      if (s->head.count() > 0) heads.push_back({s->head.raw_bytes(), {ns.get(), s.get()}});
    }
  }
  std::sort(heads.begin(), heads.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (auto& [bytes, p] : heads) {
    if (head_bytes_ <= options_.head_budget_bytes / 2) break;
    CutLocked(*p.first, *p.second);
  }
}

void LogStore::RelieveWalLocked() {
  auto files = wal_->Files();
  if (files.size() <= options_.wal_max_files) return;
  // Cut the heads that hold records of the oldest file, so it can go once they are stored.
  uint64_t through = files.begin()->second;
  for (auto& [name, ns] : namespaces_) {
    for (auto& [id, s] : ns->streams) {
      if (s->head_pending && *s->head_pending_it <= through) CutLocked(*ns, *s);
    }
  }
}

uint64_t LogStore::OldestNeededLsnLocked() const {
  return pending_lsns_.empty() ? lsn_ + 1 : *pending_lsns_.begin();
}

void LogStore::FlusherLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    flush_cv_.wait(lock, [&] { return stopping_ || !flush_queue_.empty(); });
    if (flush_queue_.empty() && stopping_) return;
    std::vector<std::unique_ptr<FlushItem>> items;
    while (!flush_queue_.empty()) {
      items.push_back(std::move(flush_queue_.front()));
      flush_queue_.pop_front();
    }
    lock.unlock();
    auto written = WriteFlushItems(items);
    lock.lock();
    if (!written) {
      // Nothing is lost: the chunks stay in memory (and queryable) and in the WAL.
      flush_failed_ = true;
      ++flush_failures_;
      flush_error_ = written.error();
      log::Error("logs", "writing chunks failed, retrying in 1s: {}", written.error().message);
      for (auto it = items.rbegin(); it != items.rend(); ++it)
        flush_queue_.push_front(std::move(*it));
      flushed_cv_.notify_all();
      retry_now_ = false;
      flush_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_ || retry_now_; });
      if (stopping_) return;
      continue;
    }
    flush_failed_ = false;
    std::set<Namespace*> touched;
    for (auto& item : items) {
      Namespace& ns = *namespaces_.at(item->ns);
      touched.insert(&ns);
      auto sit = ns.streams.find(item->stream_id);
      if (sit != ns.streams.end()) {
        Stream& s = *sit->second;
        s.chunks.push_back(item->meta);
        s.flushed_lsn = std::max(s.flushed_lsn, item->max_lsn);
        std::erase(s.flushing, item->data);
      }
      auto& seg = ns.segments[item->meta.segment];
      seg.bytes += item->meta.length;
      seg.min_ts = std::min(seg.min_ts, item->meta.min_ts);
      seg.max_ts = std::max(seg.max_ts, item->meta.max_ts);
      ns.stored_bytes += item->meta.length;
      if (item->pending) pending_lsns_.erase(item->pending_it);
    }
    flush_done_ += items.size();
    uint64_t needed = OldestNeededLsnLocked();
    if (needed - 1 > floor_lsn_) {
      floor_lsn_ = needed - 1;
      state_dirty_ = true;
    }
    lock.unlock();
    // The floor, batch numbers and tombstones must be on disk before WAL files go.
    if (auto r = SaveState(); !r) {
      log::Warn("logs", "state: {}", r.error().message);
    } else if (auto w = wal_->RemoveThrough(needed - 1); !w) {
      log::Warn("logs", "wal cleanup: {}", w.error().message);
    }
    for (Namespace* ns : touched) {
      if (auto r = SealIfDue(*ns, false); !r)
        log::Warn("logs", "seal segment: {}", r.error().message);
    }
    lock.lock();
    flushed_cv_.notify_all();
  }
}

Result<void> LogStore::WriteFlushItems(std::vector<std::unique_ptr<FlushItem>>& items) {
  std::map<std::string, std::vector<FlushItem*>> by_ns;
  for (auto& item : items) {
    if (item->record.empty()) {
      std::string payload = item->data->Finish(item->meta);
      item->meta.stream_id = item->stream_id;
      item->meta.max_lsn = item->max_lsn;
      auto rec = EncodeChunkRecord(item->meta, payload, options_.compression_level);
      if (!rec) return std::unexpected(rec.error());
      item->record = std::move(*rec);
    }
    by_ns[item->ns].push_back(item.get());
  }
  for (auto& [name, list] : by_ns) {
    Namespace* ns;
    std::shared_ptr<WritableFile> table;
    {
      std::lock_guard lock(mu_);
      ns = namespaces_.at(name).get();
      table = ns->streams_file;
    }
    // The streams these chunks belong to must be on disk before the chunks are.
    if (auto r = table->Sync(); !r) return r;
    std::lock_guard wl(ns->write_mu);
    if (!ns->writer) {
      if (auto r = env_.CreateDirs(ns->dir); !r) return r;
      auto w = SegmentWriter::Open(env_, ns->dir, ns->next_segment, {});
      if (!w) return std::unexpected(w.error());
      (*w)->opened_ms = clock_.WallMillis();
      ++ns->next_segment;
      ns->writer = std::move(*w);
      if (auto r = env_.SyncDir(ns->dir); !r) return r;
      std::lock_guard lock(mu_);
      ns->segments[ns->writer->seq()];
    }
    for (FlushItem* item : list) {
      if (item->meta.length != 0) continue;  // appended by an earlier, failed pass
      if (auto r = ns->writer->Append(item->record, item->meta); !r) return r;
    }
    if (auto r = ns->writer->Sync(); !r) {
      for (FlushItem* item : list) item->meta.length = 0;
      return r;
    }
  }
  for (auto& item : items) item->record.clear();
  return {};
}

Result<void> LogStore::SealIfDue(Namespace& ns, bool force) {
  std::lock_guard wl(ns.write_mu);
  if (!ns.writer) return {};
  bool due = force || ns.writer->bytes() >= options_.segment_target_bytes ||
             clock_.WallMillis() - ns.writer->opened_ms >= options_.segment_max_age_ms;
  if (!due) return {};
  if (auto r = ns.writer->Seal(); !r) return r;
  uint64_t seq = ns.writer->seq();
  ns.writer.reset();
  std::lock_guard lock(mu_);
  ns.segments[seq].sealed = true;
  return {};
}

void LogStore::Tick() {
  std::lock_guard tick(tick_mu_);
  std::vector<Namespace*> all;
  {
    std::lock_guard lock(mu_);
    int64_t now = clock_.WallMillis();
    for (auto& [name, ns] : namespaces_) {
      all.push_back(ns.get());
      for (auto& [id, s] : ns->streams) {
        if (s->head.count() > 0 && now - s->head_started_ms >= options_.head_max_age_ms) {
          CutLocked(*ns, *s);
        }
      }
    }
  }
  for (Namespace* ns : all) {
    if (auto r = SealIfDue(*ns, false); !r)
      log::Warn("logs", "seal segment: {}", r.error().message);
  }
  ApplyRetention();
}

void LogStore::ApplyRetention() {
  struct Doomed {
    Namespace* ns;
    uint64_t seq;
  };
  std::vector<Doomed> doomed;
  std::vector<Namespace*> reseal;
  {
    std::lock_guard lock(mu_);
    int64_t now_ns = clock_.WallMillis() * 1'000'000;
    for (auto& [name, ns] : namespaces_) {
      const NamespaceLimits& limits = LimitsFor(name);
      int64_t cutoff = now_ns - limits.retention_ms * 1'000'000;
      uint64_t bytes = ns->stored_bytes;
      std::set<uint64_t> gone;
      for (auto& [seq, seg] : ns->segments) {
        if (!seg.sealed) continue;
        bool too_old = seg.max_ts < cutoff;
        bool too_big = limits.max_bytes > 0 && bytes > limits.max_bytes;
        if (!too_old && !too_big) continue;
        gone.insert(seq);
        bytes -= seg.bytes;
      }
      if (limits.max_bytes > 0 && bytes > limits.max_bytes) reseal.push_back(ns.get());
      if (gone.empty()) continue;
      std::vector<Stream*> emptied;
      for (auto& [id, s] : ns->streams) {
        std::erase_if(s->chunks, [&](const ChunkMeta& m) { return gone.contains(m.segment); });
        if (s->chunks.empty() && s->head.count() == 0 && s->flushing.empty())
          emptied.push_back(s.get());
      }
      for (Stream* s : emptied) {
        if (s->flushed_lsn > floor_lsn_) {
          tombstones_[{name, s->canonical}] = s->flushed_lsn;
          state_dirty_ = true;
        }
        DropStreamLocked(*ns, *s);
      }
      for (uint64_t seq : gone) {
        ns->stored_bytes -= ns->segments[seq].bytes;
        ns->segments.erase(seq);
        doomed.push_back({ns.get(), seq});
      }
      if (!emptied.empty()) {
        if (auto r = RewriteStreamTable(*ns); !r)
          log::Error("logs", "stream table: {}", r.error().message);
      }
    }
  }
  if (auto r = SaveState(); !r) {
    log::Error("logs", "retention: state: {}; segments kept until it can be written",
               r.error().message);
    return;
  }
  for (const auto& d : doomed) {
    for (const auto& path : {SegmentPath(d.ns->dir, d.seq), SegmentIndexPath(d.ns->dir, d.seq)}) {
      if (auto r = env_.RemoveFile(path); !r && r.error().code != ErrorCode::kNotFound) {
        log::Warn("logs", "retention: {}", r.error().message);
      }
    }
  }
  // Over its byte limit with nothing sealed to drop: seal what is being written so the next
  // pass can drop it.
  for (Namespace* ns : reseal) (void)SealIfDue(*ns, true);
}

void LogStore::DropStreamLocked(Namespace& ns, Stream& stream) {
  for (const auto& l : stream.labels.labels()) {
    auto& values = ns.postings[l.name];
    auto& ids = values[l.value];
    std::erase(ids, stream.id);
    if (ids.empty()) values.erase(l.value);
    if (values.empty()) ns.postings.erase(l.name);
  }
  ns.by_labels.erase(stream.canonical);
  ns.streams.erase(stream.id);
}

Result<void> LogStore::RewriteStreamTable(Namespace& ns) {
  std::string table;
  std::vector<const Stream*> live;
  for (const auto& [id, s] : ns.streams) live.push_back(s.get());
  std::sort(live.begin(), live.end(),
            [](const Stream* a, const Stream* b) { return a->id < b->id; });
  for (const Stream* s : live) table += StreamRecord(s->id, s->canonical);
  // Keep the next id above every id ever handed out.
  if (live.empty() || live.back()->id + 1 < ns.next_id) {
    std::string rec, framed;
    PutVarint(rec, ns.next_id - 1);
    rec += "{}";
    AppendFramed(table, rec);
  }
  std::string path = JoinPath(ns.dir, "streams");
  if (auto r = env_.WriteFileAtomic(path, table); !r) return r;
  auto file = env_.NewAppendableFile(path);
  if (!file) return std::unexpected(file.error());
  ns.streams_file = std::move(*file);
  return {};
}

void LogStore::MaintenanceLoop() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      maint_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
      if (stopping_) return;
    }
    Tick();
  }
}

Result<void> LogStore::Flush() {
  std::unique_lock lock(mu_);
  for (auto& [name, ns] : namespaces_) {
    for (auto& [id, s] : ns->streams) CutLocked(*ns, *s);
  }
  uint64_t target = flush_enqueued_;
  uint64_t failures = flush_failures_;
  retry_now_ = true;
  flush_cv_.notify_all();
  flushed_cv_.wait(
      lock, [&] { return flush_done_ >= target || flush_failures_ > failures || stopping_; });
  if (flush_done_ < target) {
    return std::unexpected(flush_failures_ > failures
                               ? flush_error_
                               : Error(ErrorCode::kUnavailable, "logs: stopping"));
  }
  lock.unlock();
  return SaveState();
}

std::vector<StreamRef> LogStore::Select(
    const std::vector<LabelMatcher>& matchers,
    const std::function<bool(std::string_view)>& ns_allowed) const {
  std::vector<StreamRef> out;
  std::lock_guard lock(mu_);
  for (const auto& [name, ns] : namespaces_) {
    if (ns_allowed && !ns_allowed(name)) continue;
    // Candidates: the shortest posting list of an equality matcher, or every stream.
    const std::vector<uint64_t>* best = nullptr;
    bool none = false;
    for (const auto& m : matchers) {
      if (m.op() != MatchOp::kEq || m.value().empty()) continue;
      auto n = ns->postings.find(m.name());
      auto v = n == ns->postings.end() ? nullptr : &n->second;
      auto ids = v ? v->find(m.value()) : decltype(v->find(m.value()))();
      if (!v || ids == v->end()) {
        none = true;
        break;
      }
      if (!best || ids->second.size() < best->size()) best = &ids->second;
    }
    if (none) continue;
    auto consider = [&](const Stream& s) {
      for (const auto& m : matchers) {
        if (!m.Matches(s.labels.Get(m.name()))) return;
      }
      out.push_back(StreamRef{name, s.id, s.labels});
    };
    if (best) {
      for (uint64_t id : *best) consider(*ns->streams.at(id));
    } else {
      for (const auto& [id, s] : ns->streams) consider(*s);
    }
  }
  return out;
}

StreamSnapshot LogStore::Snapshot(const StreamRef& ref, int64_t from, int64_t to) const {
  StreamSnapshot snap;
  std::vector<std::shared_ptr<const ChunkBuilder>> pending;
  std::optional<ChunkBuilder> head;
  {
    std::lock_guard lock(mu_);
    auto nit = namespaces_.find(ref.ns);
    if (nit == namespaces_.end()) return snap;
    auto sit = nit->second->streams.find(ref.id);
    if (sit == nit->second->streams.end()) return snap;
    const Stream& s = *sit->second;
    for (const auto& m : s.chunks) {
      if (m.max_ts >= from && m.min_ts <= to) snap.chunks.push_back(m);
    }
    pending = s.flushing;
    if (s.head.count() > 0) head = s.head;
  }
  auto add = [&](const ChunkBuilder& b) {
    ChunkMeta m;
    std::string payload = b.Finish(m);
    if (m.max_ts < from || m.min_ts > to) return;
    if (auto d = DecodePayload(std::move(payload))) snap.heads.push_back(std::move(*d));
  };
  for (const auto& p : pending) add(*p);
  if (head) add(*head);
  return snap;
}

std::shared_ptr<RandomAccessFile> LogStore::SegmentFile(const std::string& ns_name,
                                                        uint64_t seq) const {
  std::lock_guard lock(mu_);
  auto nit = namespaces_.find(ns_name);
  if (nit == namespaces_.end()) return nullptr;
  auto sit = nit->second->segments.find(seq);
  if (sit == nit->second->segments.end()) return nullptr;
  if (!sit->second.file) {
    auto f = env_.NewRandomAccessFile(SegmentPath(nit->second->dir, seq));
    if (!f) return nullptr;
    const_cast<Namespace::Segment&>(sit->second).file = std::move(*f);
  }
  return sit->second.file;
}

Result<DecodedChunk> LogStore::ReadChunk(const std::string& ns, const ChunkMeta& meta) const {
  auto file = SegmentFile(ns, meta.segment);
  if (!file) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("segment {} of namespace {} is gone (retention)", meta.segment, ns));
  }
  std::string buf;
  if (auto r = file->Read(meta.offset, meta.length, buf); !r) return std::unexpected(r.error());
  std::string_view in = buf;
  bool torn = false;
  auto rec = ReadFramed(in, torn);
  if (!rec) {
    return Fail(ErrorCode::kInternal,
                fmt::format("segment {} of namespace {}: chunk at {} is corrupt", meta.segment, ns,
                            meta.offset));
  }
  ChunkMeta header;
  auto body = DecodeChunkHeader(*rec, header);
  if (!body) return std::unexpected(body.error());
  return DecodeChunkBody(*body, header);
}

std::vector<std::string> LogStore::LabelNames(
    const std::function<bool(std::string_view)>& ns_allowed) const {
  std::set<std::string> names;
  std::lock_guard lock(mu_);
  for (const auto& [name, ns] : namespaces_) {
    if (ns_allowed && !ns_allowed(name)) continue;
    for (const auto& [label, values] : ns->postings) names.insert(label);
  }
  return {names.begin(), names.end()};
}

std::vector<std::string> LogStore::LabelValues(
    std::string_view label, const std::function<bool(std::string_view)>& ns_allowed) const {
  std::set<std::string> values;
  std::lock_guard lock(mu_);
  for (const auto& [name, ns] : namespaces_) {
    if (ns_allowed && !ns_allowed(name)) continue;
    auto it = ns->postings.find(std::string(label));
    if (it == ns->postings.end()) continue;
    for (const auto& [v, ids] : it->second) values.insert(v);
  }
  return {values.begin(), values.end()};
}

std::vector<std::string> LogStore::Namespaces() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, ns] : namespaces_) {
    if (!ns->streams.empty()) out.push_back(name);
  }
  return out;
}

std::string LogStore::NamespaceOf(const LabelSet& labels) const {
  std::string_view ns = labels.Get(kNamespaceLabel);
  return std::string(ns.empty() ? std::string_view(options_.default_namespace) : ns);
}

uint64_t LogStore::AddTail(TailFn fn) {
  std::lock_guard lock(mu_);
  uint64_t id = next_tail_++;
  tails_[id] = std::move(fn);
  return id;
}

void LogStore::RemoveTail(uint64_t id) {
  std::lock_guard lock(mu_);
  tails_.erase(id);
}

LogStoreStats LogStore::Stats() const {
  LogStoreStats st;
  std::lock_guard lock(mu_);
  for (const auto& [name, ns] : namespaces_) {
    st.streams += ns->streams.size();
    st.stored_bytes += ns->stored_bytes;
    st.segments += ns->segments.size();
    for (const auto& [id, s] : ns->streams) {
      st.chunks += s->chunks.size();
      for (const auto& m : s->chunks) {
        st.raw_bytes += m.raw_bytes;
        st.entries += m.count;
      }
      st.entries += s->head.count();
      for (const auto& f : s->flushing) st.entries += f->count();
    }
  }
  st.head_bytes = head_bytes_;
  return st;
}

// State file: framed records, type byte first: 1 source (lp name, varint seq), 2 floor
// (varint lsn), 3 tombstone (lp namespace, lp labels, varint lsn).
std::string LogStore::EncodeStateLocked() {
  std::string out, rec;
  for (const auto& [name, seq] : sources_) {
    rec.assign(1, '\x01');
    PutLengthPrefixed(rec, name);
    PutVarint(rec, seq);
    AppendFramed(out, rec);
  }
  rec.assign(1, '\x02');
  PutVarint(rec, floor_lsn_);
  AppendFramed(out, rec);
  std::erase_if(tombstones_, [&](const auto& t) { return t.second <= floor_lsn_; });
  for (const auto& [key, lsn] : tombstones_) {
    rec.assign(1, '\x03');
    PutLengthPrefixed(rec, key.first);
    PutLengthPrefixed(rec, key.second);
    PutVarint(rec, lsn);
    AppendFramed(out, rec);
  }
  return out;
}

Result<void> LogStore::SaveState() {
  std::string data;
  {
    std::lock_guard lock(mu_);
    if (!state_dirty_) return {};
    data = EncodeStateLocked();
    state_dirty_ = false;
  }
  std::lock_guard save(state_mu_);
  if (auto r = env_.WriteFileAtomic(JoinPath(options_.dir, "state"), data); !r) {
    std::lock_guard lock(mu_);
    state_dirty_ = true;
    return r;
  }
  return {};
}

Result<void> LogStore::LoadState() {
  auto data = env_.ReadFile(JoinPath(options_.dir, "state"));
  if (!data)
    return data.error().code == ErrorCode::kNotFound ? Result<void>{}
                                                     : std::unexpected(data.error());
  std::lock_guard lock(mu_);
  std::string_view in = *data;
  bool torn = false;
  while (auto rec = ReadFramed(in, torn)) {
    std::string_view body = *rec;
    if (body.empty()) continue;
    char type = body[0];
    body.remove_prefix(1);
    if (type == 1) {
      auto name = GetLengthPrefixed(body);
      auto seq = name ? GetVarint(body) : std::nullopt;
      if (seq) sources_[std::string(*name)] = *seq;
    } else if (type == 2) {
      if (auto lsn = GetVarint(body)) floor_lsn_ = *lsn;
    } else if (type == 3) {
      auto ns = GetLengthPrefixed(body);
      auto labels = ns ? GetLengthPrefixed(body) : std::nullopt;
      auto lsn = labels ? GetVarint(body) : std::nullopt;
      if (lsn) tombstones_[{std::string(*ns), std::string(*labels)}] = *lsn;
    }
  }
  if (torn)
    return Fail(ErrorCode::kInternal,
                "state file " + JoinPath(options_.dir, "state") + " is corrupt");
  return {};
}

uint64_t LogStore::last_lsn() const {
  std::lock_guard lock(mu_);
  return lsn_;
}

}  // namespace berth::logs
