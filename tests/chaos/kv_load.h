// Load for the chaos suite: clients that drive the KV API of a set of berthd servers and
// record what they saw.
//
// - KvLoad runs `clients` threads, each with its own connection to each server (it starts at
//   server `client % servers` and moves to the next one when a server cannot be reached or
//   answers 5xx). Each thread loops over get / put / compare-and-swap on a few keys and
//   records every operation in a History for the linearizability checker: a request that
//   never reached a server is not recorded; one whose answer was lost (timeout, broken
//   connection, 5xx after sending) is recorded with an unknown outcome. Clients never resend a
//   request that was sent (the failover client would resend a PUT after a 503, which is
//   HTTP-idempotent but not a single operation to the checker).
// - It also counts acknowledged and failed requests per second and keeps the last error
//   message, so a case can say when writes stopped and resumed and how they failed.
//
// Thread-safety: Start/Stop from the test thread; the accessors from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/chaos/linearizability.h"

namespace berth::chaos {

struct KvLoadOptions {
  std::vector<std::string> servers;  // "http://127.0.0.1:P" each
  std::string token;                 // admin token
  int clients = 4;
  int keys = 8;             // /chaos/<run>/k0 .. k<keys-1>
  std::string run = "run";  // names the keys apart between cases
  std::chrono::milliseconds request_timeout{10000};
};

class KvLoad {
 public:
  explicit KvLoad(KvLoadOptions options);
  ~KvLoad();  // Stop()
  KvLoad(const KvLoad&) = delete;
  KvLoad& operator=(const KvLoad&) = delete;

  void Start();
  void Stop();

  const History& history() const { return history_; }
  // Writes (put, cas) acknowledged so far, and requests that failed (any kind).
  uint64_t acknowledged_writes() const { return acked_writes_.load(); }
  uint64_t failures() const { return failures_.load(); }
  // Answers no correct server gives (a 4xx other than a lost compare-and-swap's 409).
  uint64_t unexpected() const { return unexpected_.load(); }
  // The message of the most recent failed request ("" when none failed).
  std::string last_error() const;
  // Every error message seen, each once, with a count (for a case's printout).
  std::string error_summary() const;

 private:
  void Client(int id);
  void NoteError(const std::string& message);

  const KvLoadOptions options_;
  History history_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> acked_writes_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> unexpected_{0};
  mutable std::mutex mu_;
  std::string last_error_;                                // guarded by mu_
  std::vector<std::pair<std::string, uint64_t>> errors_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace berth::chaos
