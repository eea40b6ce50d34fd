// The node agent's log shipper: every container's stdout and stderr, from the CRI files the
// shim writes, to the log center's push API, with the container's labels (namespace, app,
// service, instance, node) and `stream`.
//
//   reader thread: containers -> ReadLines (cursor per stream, rotation) -> CRI -> partial
//     lines joined -> MultilineJoiner (stack traces as one record) -> batch (~1 MiB) ->
//     spool file <state>/spool/<seq>.batch, written atomically with the cursors it reaches
//   sender thread: spool files in order -> POST /loki/api/v1/push with X-Berth-Source and
//     X-Berth-Batch: <seq> -> 204/400/429: the file goes; otherwise retried with back-off
//
// Nothing lost, nothing twice: a batch and the cursors past its lines reach the disk in one
// rename, so after a SIGKILL the reader resumes exactly after what was spooled; the sender
// re-sends unacknowledged batches with their numbers, and the log center stores a number once.
// Each stream keeps its own cursor (a stack trace pending on stderr must not make stdout's
// shipped lines be read again). The spool is bounded (`spool_max_bytes`): when the log center
// is away that long the reader pauses; the container never waits (the shim writes its files
// regardless), and what rotation drops unread meanwhile is counted as lost.
// Thread-safety: public methods are safe from any thread; ReadPass and SendPass are what the
// threads run (tests call them directly with `threads = false`).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "agent/logship/multiline.h"
#include "agent/logship/tailer.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/http/client.h"

namespace berth::agent::logship {

struct ShippedContainer {
  std::string id;                                           // the cursor's key
  std::string log_path;                                     // <container dir>/container.log
  std::vector<std::pair<std::string, std::string>> labels;  // `stream` is added per line
};

struct ShipperOptions {
  std::string server;       // "http://127.0.0.1:7700", or several comma-separated (fail over)
  http::ClientOptions tls;  // CA (and client certificate) for https servers
  std::string token;        // operator, or the node's token
  std::string source;       // names this agent's batches: "node/<name>"
  std::string state_dir;    // cursors.json and spool/
  int keep_files = 3;       // the shim's rotation
  size_t batch_bytes = 1 << 20;
  uint64_t spool_max_bytes = 64 << 20;
  std::chrono::milliseconds poll{250};
  int64_t multiline_flush_ns = 1'000'000'000;
  bool threads = true;
};

struct ShipperStats {
  uint64_t lines_read = 0;
  uint64_t records_spooled = 0;
  uint64_t batches_spooled = 0;
  uint64_t batches_sent = 0;
  uint64_t batches_with_refusals = 0;  // the log center stored them but refused some entries
  uint64_t lost_files = 0;             // files rotated away before they were read
  uint64_t spool_bytes = 0;
  uint64_t send_failures = 0;
};

class LogShipper {
 public:
  using ContainerList = std::function<std::vector<ShippedContainer>()>;
  static Result<std::unique_ptr<LogShipper>> Start(ShipperOptions options, ContainerList containers,
                                                   Clock& clock);
  ~LogShipper();
  LogShipper(const LogShipper&) = delete;
  LogShipper& operator=(const LogShipper&) = delete;

  // Reads what is new in every container's files into spool batches; returns records spooled.
  Result<size_t> ReadPass(bool flush_pending = false);
  // Sends spooled batches in order until the spool is empty or a send fails; returns batches sent.
  Result<size_t> SendPass();
  ShipperStats stats() const;

 private:
  struct StreamState {
    Cursor commit;  // every line of this stream before it is spooled
    std::string partial;
    Cursor partial_start;
    MultilineJoiner joiner;
    Cursor pending_start;
    explicit StreamState(int64_t flush_ns) : joiner(flush_ns) {}
  };
  struct ContainerState {
    Cursor read;  // where reading resumes after a restart: the earliest stream commit
    Cursor pos;   // where the next read continues in this process
    std::map<std::string, StreamState> streams;
  };
  struct Batch;

  LogShipper(ShipperOptions options, ContainerList containers, Clock& clock);
  Result<void> Load();
  Result<size_t> ReadContainer(const ShippedContainer& c, ContainerState& st, Batch& batch,
                               bool flush_pending, bool& at_end);
  Result<void> WriteBatch(Batch& batch);
  Result<void> SaveCursors();
  StreamState& Stream(ContainerState& st, const std::string& name);
  void ReaderLoop();
  void SenderLoop();

  const ShipperOptions options_;
  ContainerList containers_;
  Clock& clock_;

  std::mutex read_mu_;  // one read pass at a time; guards states_ and next_seq_
  std::map<std::string, ContainerState> states_;
  uint64_t next_seq_ = 1;

  std::mutex send_mu_;  // one send pass at a time

  mutable std::mutex stats_mu_;
  ShipperStats stats_;  // guarded by stats_mu_

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread reader_, sender_;
};

}  // namespace berth::agent::logship
