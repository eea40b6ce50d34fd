#include "agent/logship/shipper.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "agent/logship/cri.h"
#include "core/http/client.h"
#include "core/json.h"
#include "core/log.h"

namespace berth::agent::logship {

// One batch being filled: entries per (container, stream) and the states they reach.
struct LogShipper::Batch {
  struct Stream {
    std::vector<std::pair<std::string, std::string>> labels;
    std::vector<Record> records;
  };
  std::map<std::pair<std::string, std::string>, Stream> streams;  // (container id, stream)
  size_t bytes = 0;
  size_t records = 0;
  std::map<std::string, Json> states;  // container id -> its state after this batch
};

namespace {

Json CursorJson(const Cursor& c) { return Json::array({c.inode, c.offset}); }
Cursor CursorFrom(const Json& j) {
  if (!j.is_array() || j.size() != 2) return {};
  return {j[0].get<uint64_t>(), j[1].get<uint64_t>()};
}

Result<void> WriteFileDurably(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(ErrorCode::kInternal, "open " + tmp + ": " + std::strerror(errno));
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Fail(ErrorCode::kInternal, "write " + tmp + ": " + std::strerror(err));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fdatasync(fd) != 0 || ::close(fd) != 0) {
    return Fail(ErrorCode::kInternal, "sync " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Fail(ErrorCode::kInternal, "rename " + tmp + ": " + std::strerror(errno));
  }
  std::string dir = path.substr(0, path.rfind('/'));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

// Spool files, oldest first: (seq, path).
std::vector<std::pair<uint64_t, std::string>> SpoolFiles(const std::string& dir) {
  std::vector<std::pair<uint64_t, std::string>> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (!name.ends_with(".batch")) continue;
    uint64_t seq = std::strtoull(std::string(name).c_str(), nullptr, 16);
    out.emplace_back(seq, dir + "/" + std::string(name));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

LogShipper::LogShipper(ShipperOptions options, ContainerList containers, Clock& clock)
    : options_(std::move(options)), containers_(std::move(containers)), clock_(clock) {}

Result<std::unique_ptr<LogShipper>> LogShipper::Start(ShipperOptions options,
                                                      ContainerList containers, Clock& clock) {
  std::unique_ptr<LogShipper> s(new LogShipper(std::move(options), std::move(containers), clock));
  if (auto r = s->Load(); !r) return std::unexpected(Wrap(r.error(), "log shipper"));
  if (s->options_.threads) {
    s->reader_ = std::thread([p = s.get()] { p->ReaderLoop(); });
    s->sender_ = std::thread([p = s.get()] { p->SenderLoop(); });
  }
  return s;
}

LogShipper::~LogShipper() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (reader_.joinable()) reader_.join();
  if (sender_.joinable()) sender_.join();
}

LogShipper::StreamState& LogShipper::Stream(ContainerState& st, const std::string& name) {
  auto it = st.streams.find(name);
  if (it == st.streams.end()) {
    it = st.streams.emplace(name, StreamState(options_.multiline_flush_ns)).first;
    it->second.commit = st.read;  // nothing of this stream before where reading resumes
  }
  return it->second;
}

// cursors.json: {"next_seq": N, "containers": {id: {"read": [inode, offset],
// "streams": {"stdout": [inode, offset], ...}}}}; each spool batch's header carries the
// states of the containers it read from, newer than cursors.json's.
Result<void> LogShipper::Load() {
  if (::mkdir(options_.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Fail(ErrorCode::kInternal, "mkdir " + options_.state_dir + ": " + std::strerror(errno));
  }
  std::string spool = options_.state_dir + "/spool";
  if (::mkdir(spool.c_str(), 0700) != 0 && errno != EEXIST) {
    return Fail(ErrorCode::kInternal, "mkdir " + spool + ": " + std::strerror(errno));
  }
  auto apply = [&](const Json& containers) {
    for (const auto& [id, s] : containers.items()) {
      ContainerState& st = states_[id];
      st.read = CursorFrom(s.value("read", Json()));
      st.pos = st.read;
      st.streams.clear();
      if (s.contains("streams")) {
        for (const auto& [name, c] : s["streams"].items()) Stream(st, name).commit = CursorFrom(c);
      }
    }
  };
  std::ifstream in(options_.state_dir + "/cursors.json");
  uint64_t saved_through = 0;  // cursors.json holds the states of every batch below this
  if (in) {
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto j = ParseJson(text);
    if (!j) return std::unexpected(Wrap(j.error(), "cursors.json"));
    next_seq_ = j->value("next_seq", uint64_t{1});
    saved_through = next_seq_;
    if (j->contains("containers")) apply((*j)["containers"]);
  }
  uint64_t spooled = 0;
  for (const auto& [seq, path] : SpoolFiles(spool)) {
    spooled += FileSize(path);
    next_seq_ = std::max(next_seq_, seq + 1);
    if (seq < saved_through) continue;  // its states are older than cursors.json's
    std::ifstream f(path);
    std::string header;
    std::getline(f, header);
    auto h = ParseJson(header);
    if (!h) {
      log::Warn("agent", "log spool {}: unreadable header, dropped: {}", path, h.error().message);
      ::unlink(path.c_str());
      continue;
    }
    apply((*h)["states"]);
  }
  std::lock_guard lock(stats_mu_);
  stats_.spool_bytes = spooled;
  return {};
}

Result<size_t> LogShipper::ReadContainer(const ShippedContainer& c, ContainerState& st,
                                         Batch& batch, bool flush_pending, bool& at_end) {
  size_t budget = options_.batch_bytes > batch.bytes ? options_.batch_bytes - batch.bytes : 0;
  at_end = false;
  if (budget == 0) return 0;
  auto read = ReadLines(c.log_path, options_.keep_files, st.pos, budget);
  if (!read) return std::unexpected(read.error());
  at_end = read->at_end;
  if (read->lost) {
    std::lock_guard lock(stats_mu_);
    ++stats_.lost_files;
    log::Warn("agent", "logs of container {}: a file rotated away before it was read", c.id);
    Cursor restart = read->starts.empty() ? read->cursor : read->starts.front();
    for (auto& [name, s] : st.streams) s.commit = restart;
  }
  size_t records_before = batch.records;
  std::vector<Record> done;
  auto emit = [&](const std::string& stream) {
    if (done.empty()) return;
    auto& out = batch.streams[{c.id, stream}];
    if (out.labels.empty()) {
      out.labels = c.labels;
      out.labels.emplace_back("stream", stream);
    }
    for (auto& r : done) {
      batch.bytes += r.text.size() + 40;
      out.records.push_back(std::move(r));
      ++batch.records;
    }
    done.clear();
  };
  for (size_t i = 0; i < read->lines.size(); ++i) {
    auto cri = ParseCriLine(read->lines[i]);
    if (!cri) continue;
    std::string stream(cri->stream);
    StreamState& s = Stream(st, stream);
    const Cursor& at = read->starts[i];
    if (Before(at, s.commit, read->order)) continue;  // spooled before (the other stream lagged)
    if (cri->partial) {
      if (s.partial.empty()) s.partial_start = at;
      s.partial.append(cri->text);
      continue;
    }
    std::string text;
    Cursor start = at;
    if (!s.partial.empty()) {
      text = std::move(s.partial);
      s.partial.clear();
      start = s.partial_start;
    }
    text.append(cri->text);
    bool had_pending = s.joiner.pending();
    s.joiner.Add(cri->ts_ns, text, done);
    if (!done.empty() || !had_pending) s.pending_start = start;
    emit(stream);
  }
  int64_t now = clock_.WallMillis() * 1'000'000;
  for (auto& [name, s] : st.streams) {
    // Only once everything written so far was read: when catching up, the next line (past
    // this read's budget) may continue the record, however old its lines are.
    if (at_end) s.joiner.Flush(now, done, flush_pending);
    emit(name);
    // Every line of this stream before the end of what was read is in the batch, except a
    // pending record (or partial line), which will be read again after a restart.
    // A commit never moves back: after a restart the re-read starts before this stream's
    // commit when the other stream lagged, and those lines were skipped, not read.
    Cursor next = !s.partial.empty()   ? s.partial_start
                  : s.joiner.pending() ? s.pending_start
                                       : read->cursor;
    if (Before(s.commit, next, read->order)) s.commit = next;
  }
  st.pos = read->cursor;
  Cursor resume = read->cursor;
  for (const auto& [name, s] : st.streams) {
    if (Before(s.commit, resume, read->order)) resume = s.commit;
  }
  st.read = resume;
  if (read->lines.empty() && batch.records == records_before) return 0;
  Json streams = Json::object();
  for (const auto& [name, s] : st.streams) streams[name] = CursorJson(s.commit);
  batch.states[c.id] = Json{{"read", CursorJson(st.read)}, {"streams", std::move(streams)}};
  std::lock_guard lock(stats_mu_);
  stats_.lines_read += read->lines.size();
  return batch.records - records_before;
}

Result<void> LogShipper::WriteBatch(Batch& batch) {
  if (batch.states.empty()) return {};
  uint64_t seq = next_seq_;
  Json header{{"seq", seq}, {"states", Json::object()}};
  for (auto& [id, s] : batch.states) header["states"][id] = std::move(s);
  Json streams = Json::array();
  for (auto& [key, s] : batch.streams) {
    if (s.records.empty()) continue;
    Json labels = Json::object();
    for (const auto& [k, v] : s.labels) labels[k] = v;
    Json values = Json::array();
    for (auto& r : s.records)
      values.push_back(Json::array({std::to_string(r.ts_ns), std::move(r.text)}));
    streams.push_back(Json{{"stream", std::move(labels)}, {"values", std::move(values)}});
  }
  std::string data =
      header.dump() + "\n" +
      Json{{"streams", std::move(streams)}}.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string path = fmt::format("{}/spool/{:016x}.batch", options_.state_dir, seq);
  if (auto r = WriteFileDurably(path, data); !r) return r;
  ++next_seq_;
  std::lock_guard lock(stats_mu_);
  ++stats_.batches_spooled;
  stats_.records_spooled += batch.records;
  stats_.spool_bytes += data.size();
  return {};
}

Result<size_t> LogShipper::ReadPass(bool flush_pending) {
  std::lock_guard lock(read_mu_);
  {
    std::lock_guard s(stats_mu_);
    if (stats_.spool_bytes >= options_.spool_max_bytes)
      return 0;  // back-pressure: wait for the sender
  }
  std::vector<ShippedContainer> list = containers_();
  size_t total = 0;
  Batch batch;
  for (const auto& c : list) {
    ContainerState& st = states_[c.id];
    // A container may have more than a batch of new lines: read until it is drained, or
    // until the spool is full.
    bool at_end = false;
    while (!at_end) {
      auto n = ReadContainer(c, st, batch, flush_pending, at_end);
      if (!n) {
        log::Warn("agent", "logs of container {}: {}", c.id, n.error().message);
        break;
      }
      total += *n;
      if (at_end && batch.bytes < options_.batch_bytes) break;
      if (auto w = WriteBatch(batch); !w) return std::unexpected(w.error());
      batch = Batch();
      std::lock_guard s(stats_mu_);
      if (stats_.spool_bytes >= options_.spool_max_bytes) break;
    }
  }
  if (auto w = WriteBatch(batch); !w) return std::unexpected(w.error());
  // Containers that are gone keep no state (their files went with them).
  std::erase_if(states_, [&](const auto& kv) {
    return std::none_of(list.begin(), list.end(),
                        [&](const ShippedContainer& c) { return c.id == kv.first; });
  });
  return total;
}

Result<void> LogShipper::SaveCursors() {
  std::lock_guard lock(read_mu_);
  Json containers = Json::object();
  for (const auto& [id, st] : states_) {
    Json streams = Json::object();
    for (const auto& [name, s] : st.streams) streams[name] = CursorJson(s.commit);
    containers[id] = Json{{"read", CursorJson(st.read)}, {"streams", std::move(streams)}};
  }
  Json j{{"next_seq", next_seq_}, {"containers", std::move(containers)}};
  return WriteFileDurably(options_.state_dir + "/cursors.json", j.dump());
}

Result<size_t> LogShipper::SendPass() {
  std::lock_guard lock(send_mu_);
  auto files = SpoolFiles(options_.state_dir + "/spool");
  if (files.empty()) return 0;
  http::ClientOptions co = options_.tls;
  co.timeout = std::chrono::seconds(30);
  auto client = http::Client::Create(options_.server, co);
  if (!client) return std::unexpected(client.error());
  size_t sent = 0;
  for (const auto& [seq, path] : files) {
    std::ifstream f(path);
    std::string header;
    std::getline(f, header);
    std::string body((std::istreambuf_iterator<char>(f)), {});
    http::Request req;
    req.method = "POST";
    req.target = "/loki/api/v1/push";
    req.headers.Set("Authorization", "Bearer " + options_.token);
    req.headers.Set("Content-Type", "application/json");
    req.headers.Set("X-Berth-Source", options_.source);
    req.headers.Set("X-Berth-Batch", std::to_string(seq));
    req.body = std::move(body);
    auto resp = (*client)->Send(req);
    if (!resp || (resp->status >= 500 || resp->status == 401 || resp->status == 403 ||
                  resp->status == 408)) {
      std::lock_guard s(stats_mu_);
      ++stats_.send_failures;
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("push batch {}: {}", seq,
                              resp ? fmt::format("{} {}", resp->status, resp->body.substr(0, 200))
                                   : resp.error().message));
    }
    if (resp->status != 204 && resp->status != 200) {
      // The log center stored the rest and named what it refused: retrying cannot help.
      log::Warn("agent", "log center refused part of batch {}: {}", seq, resp->body.substr(0, 500));
      std::lock_guard s(stats_mu_);
      ++stats_.batches_with_refusals;
    }
    uint64_t size = FileSize(path);
    ::unlink(path.c_str());
    ++sent;
    std::lock_guard s(stats_mu_);
    ++stats_.batches_sent;
    stats_.spool_bytes -= std::min(stats_.spool_bytes, size);
  }
  if (auto r = SaveCursors(); !r) log::Warn("agent", "log shipper cursors: {}", r.error().message);
  return sent;
}

ShipperStats LogShipper::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

void LogShipper::ReaderLoop() {
  std::unique_lock lock(stop_mu_);
  while (!stopping_) {
    lock.unlock();
    if (auto r = ReadPass(); !r) log::Warn("agent", "log shipper: {}", r.error().message);
    lock.lock();
    stop_cv_.wait_for(lock, options_.poll, [&] { return stopping_; });
  }
}

void LogShipper::SenderLoop() {
  std::unique_lock lock(stop_mu_);
  auto backoff = options_.poll;
  while (!stopping_) {
    lock.unlock();
    auto r = SendPass();
    lock.lock();
    if (r) {
      backoff = options_.poll;
    } else {
      log::Warn("agent", "log shipper: {} (retrying in {} ms)", r.error().message, backoff.count());
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(5));
    }
    stop_cv_.wait_for(lock, backoff, [&] { return stopping_; });
  }
}

}  // namespace berth::agent::logship
