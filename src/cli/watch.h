// What `-w/--watch` on a list command is made of (RunWatch in command.h ties them together):
// - ChangeFeed tells the loop when to fetch again: a reader thread follows a JSON-lines watch
//   stream of the API and wakes the loop on every change line (reconnecting when the stream
//   ends); without a stream, or when the server refuses one, it wakes every poll interval.
// - WatchPrinter prints the first list and then each added, modified or deleted object in the
//   -o format, through the list's View.
// Thread-safety: ChangeFeed's Wait/SetPath are called from one thread, its reader is its own;
// WatchPrinter is single-threaded.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli.h"
#include "cli/output.h"

namespace berth::http {
class Client;
}

namespace berth::cli {

class ChangeFeed {
 public:
  // `path` empty: poll. Otherwise reads addr + path with `token` (and the CA bundle `ca_file`
  // for https) on its own thread.
  ChangeFeed(std::string addr, std::string token, std::string ca_file, std::string path,
             std::chrono::milliseconds poll_interval);
  ~ChangeFeed();
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Blocks until the stream reports a change, or (polling) the interval passes.
  void Wait();
  // The path to reconnect to after the stream ends (resuming after the latest fetch).
  void SetPath(std::string path);
  // True once the feed polls (no stream, or the server refused it).
  bool polling() const;

 private:
  void Read();
  // Parses complete lines of `pending`; true when one of them reports a change.
  static bool TakeChanges(std::string& pending);

  const std::string addr_;
  const std::string token_;
  const std::string ca_file_;
  const std::chrono::milliseconds poll_interval_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string path_;                // guarded by mu_
  bool dirty_ = false;              // guarded by mu_
  bool stop_ = false;               // guarded by mu_
  bool polling_ = false;            // guarded by mu_
  http::Client* client_ = nullptr;  // guarded by mu_; the reader's, for Shutdown
  std::thread reader_;
};

class WatchPrinter {
 public:
  WatchPrinter(const Context& ctx, const View& view, std::ostream& out);
  // Prints the first list: table/wide a header (EVENT first) and an ADDED row per object.
  void First(const Json& items);
  // Prints what changed since the last call: ADDED, MODIFIED (what the format shows changed)
  // and DELETED objects.
  void Next(const Json& items);

 private:
  struct Seen {
    std::vector<std::string> row;
    Json object;
  };
  void Print(const char* event, const Json& object, const std::vector<std::string>& row);
  std::string Key(const Json& item) const;

  const Context& ctx_;
  const View& view_;
  std::ostream& out_;
  const Format format_;
  std::vector<size_t> widths_;
  std::map<std::string, Seen> seen_;
};

}  // namespace berth::cli
