// A linearizability checker for histories of key-value operations (the chaos suite's proof
// that the KV API of a Berth cluster, on sqlite or etcd, behaves as one register per key while
// processes and etcd members die). In the manner of Knossos and Porcupine: Wing & Gong's
// search over the orders the history allows, with Lowe's memoisation of (set of operations
// already linearized, model state), one key at a time (a history is linearizable when each
// key's sub-history is: P-compositionality).
//
// The model: each key holds a value or nothing. put(v) sets it; get() reads it; cas(e, v)
// sets v when it holds e (nothing: `expected` empty with `expect_absent`) and otherwise fails
// and changes nothing. Operations whose outcome the client never learned (a timeout, a broken
// connection, a 503 after the request was sent) are `unknown`: they may have taken effect at
// any moment after their call, or never (a get of unknown outcome tells nothing and is
// dropped). Values should be unique per write (client and sequence in the value) so that a
// read names the write it saw.
//
// Thread-safety: a History is filled from many threads (Record is locked); Check runs alone.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace berth::chaos {

enum class OpKind { kPut, kGet, kCas };
enum class Outcome {
  kOk,       // the put or cas took effect; the get returned `output`
  kFailed,   // the cas was refused (the key did not hold `expected`)
  kUnknown,  // the client does not know whether it took effect
};

struct Operation {
  int client = 0;
  OpKind kind = OpKind::kGet;
  std::string key;
  std::string value;                    // put / cas: the new value
  std::optional<std::string> expected;  // cas: the value it must hold; nullopt: absent
  std::optional<std::string> output;    // get: what it read; nullopt: absent
  Outcome outcome = Outcome::kOk;
  int64_t call_ns = 0;    // when the client sent it (one monotonic clock for all clients)
  int64_t return_ns = 0;  // when the client learned the outcome (ignored for kUnknown)
  int server = -1;        // which server it went to (for the printout only)
};

std::string Describe(const Operation& op);

class History {
 public:
  void Record(Operation op);
  std::vector<Operation> operations() const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<Operation> ops_;  // guarded by mu_
};

struct CheckResult {
  enum class Verdict { kLinearizable, kNotLinearizable, kGaveUp };
  Verdict verdict = Verdict::kLinearizable;
  std::string key;          // the first key whose history is not linearizable
  std::string explanation;  // its operations, and the longest prefix that linearizes
  size_t keys = 0;          // keys checked
  size_t operations = 0;    // operations checked (unknown gets dropped)
  uint64_t steps = 0;       // search steps taken
};

// Checks `ops`. Gives up (kGaveUp) after `max_steps` search steps over all keys.
CheckResult CheckLinearizable(const std::vector<Operation>& ops, uint64_t max_steps = 50'000'000);

// Nanoseconds of the monotonic clock the clients stamp their calls with.
inline int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace berth::chaos
