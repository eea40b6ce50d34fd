#include "tests/chaos/linearizability.h"

#include <fmt/core.h>

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_set>

namespace berth::chaos {
namespace {

constexpr int kAbsent = 0;

// One key's operations with values as small integers (kAbsent for "no value").
struct KeyOp {
  size_t index = 0;  // into the key's Operation list
  OpKind kind = OpKind::kGet;
  Outcome outcome = Outcome::kOk;
  int value = kAbsent;     // put/cas: the new value
  int expected = kAbsent;  // cas
  int output = kAbsent;    // get
  int64_t call_ns = 0;
  int64_t return_ns = 0;
};

// The model's transition: whether `op` may take effect in `state`, and the state after it.
bool Step(const KeyOp& op, int state, int* next) {
  *next = state;
  switch (op.kind) {
    case OpKind::kPut:
      *next = op.value;
      return true;
    case OpKind::kGet:
      return state == op.output;
    case OpKind::kCas:
      if (op.outcome == Outcome::kOk) {
        *next = op.value;
        return state == op.expected;
      }
      if (op.outcome == Outcome::kFailed) return state != op.expected;
      if (state == op.expected) *next = op.value;  // unknown: it did what it would have done
      return true;
  }
  return false;
}

// The call and return events of a key's operations in time order, as a doubly linked list
// the search lifts operations out of and puts back (Wing & Gong).
struct Entry {
  size_t op = 0;
  bool call = false;
  size_t match = 0;  // a call's return entry
  size_t prev = 0, next = 0;
};

class Bits {
 public:
  explicit Bits(size_t n) : words_((n + 63) / 64) {}
  void Set(size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  void Clear(size_t i) { words_[i / 64] &= ~(uint64_t{1} << (i % 64)); }
  bool operator==(const Bits& o) const { return words_ == o.words_; }
  size_t Hash() const {
    size_t h = 1469598103934665603ull;
    for (uint64_t w : words_) h = (h ^ w) * 1099511628211ull;
    return h;
  }

 private:
  std::vector<uint64_t> words_;
};

struct Seen {
  Bits linearized;
  int state;
  bool operator==(const Seen& o) const { return state == o.state && linearized == o.linearized; }
};
struct SeenHash {
  size_t operator()(const Seen& s) const { return s.linearized.Hash() * 31 + size_t(s.state); }
};

struct KeyVerdict {
  bool linearizable = true;
  bool gave_up = false;
  std::vector<size_t> longest;  // the longest order of operations found that linearizes
};

KeyVerdict CheckKey(const std::vector<KeyOp>& ops, uint64_t* steps, uint64_t max_steps) {
  // Entries 1..2n; 0 is the head. Calls before returns at equal times (concurrent).
  std::vector<Entry> e(1);
  for (size_t i = 0; i < ops.size(); ++i) {
    e.push_back({.op = i, .call = true});
    e.push_back({.op = i, .call = false});
  }
  std::vector<size_t> order(e.size() - 1);
  for (size_t i = 0; i < order.size(); ++i) order[i] = i + 1;
  auto time = [&](size_t i) {
    const KeyOp& op = ops[e[i].op];
    if (e[i].call) return op.call_ns;
    return op.outcome == Outcome::kUnknown ? std::numeric_limits<int64_t>::max() : op.return_ns;
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (time(a) != time(b)) return time(a) < time(b);
    return e[a].call && !e[b].call;
  });
  std::vector<size_t> return_of(ops.size());
  size_t prev = 0;
  for (size_t i : order) {
    e[prev].next = i;
    e[i].prev = prev;
    if (!e[i].call) return_of[e[i].op] = i;
    prev = i;
  }
  e[prev].next = 0;  // 0 also ends the list
  for (size_t i = 1; i < e.size(); ++i) {
    if (e[i].call) e[i].match = return_of[e[i].op];
  }
  auto unlink = [&](size_t i) {
    e[e[i].prev].next = e[i].next;
    if (e[i].next) e[e[i].next].prev = e[i].prev;
  };
  auto relink = [&](size_t i) {
    e[e[i].prev].next = i;
    if (e[i].next) e[e[i].next].prev = i;
  };

  KeyVerdict v;
  Bits linearized(ops.size());
  int state = kAbsent;
  std::unordered_set<Seen, SeenHash> cache;
  struct Frame {
    size_t entry;
    int state;
  };
  std::vector<Frame> stack;
  size_t cur = e[0].next;
  while (e[0].next != 0) {
    if (++*steps > max_steps) {
      v.gave_up = true;
      return v;
    }
    if (cur == 0) {  // cannot happen (the last entry is a return): say no rather than yes
      v.linearizable = false;
      return v;
    }
    const Entry& en = e[cur];
    if (en.call) {
      int next = kAbsent;
      if (Step(ops[en.op], state, &next)) {
        Bits after = linearized;
        after.Set(en.op);
        if (cache.insert({after, next}).second) {
          stack.push_back({cur, state});
          state = next;
          linearized = std::move(after);
          unlink(en.match);
          unlink(cur);
          if (stack.size() > v.longest.size()) {
            v.longest.clear();
            for (const Frame& f : stack) v.longest.push_back(e[f.entry].op);
          }
          cur = e[0].next;
          continue;
        }
      }
      cur = en.next;
      continue;
    }
    // A return whose operation is not linearized yet: undo the last choice.
    if (stack.empty()) {
      v.linearizable = false;
      return v;
    }
    Frame f = stack.back();
    stack.pop_back();
    state = f.state;
    linearized.Clear(e[f.entry].op);
    relink(f.entry);
    relink(e[f.entry].match);
    cur = e[f.entry].next;
  }
  return v;
}

std::string Show(const std::optional<std::string>& v) { return v ? "\"" + *v + "\"" : "nothing"; }

std::string DescribeOp(const Operation& op) {
  std::string outcome = op.outcome == Outcome::kOk       ? "ok"
                        : op.outcome == Outcome::kFailed ? "failed"
                                                         : "unknown";
  switch (op.kind) {
    case OpKind::kPut:
      return fmt::format("client {} put {} = \"{}\": {}", op.client, op.key, op.value, outcome);
    case OpKind::kGet:
      return fmt::format("client {} get {} -> {}", op.client, op.key,
                         op.outcome == Outcome::kOk ? Show(op.output) : outcome);
    case OpKind::kCas:
      return fmt::format("client {} cas {} from {} to \"{}\": {}", op.client, op.key,
                         Show(op.expected), op.value, outcome);
  }
  return {};
}

std::string Explain(const std::vector<Operation>& ops, const KeyVerdict& v) {
  int64_t t0 = std::numeric_limits<int64_t>::max();
  for (const auto& op : ops) t0 = std::min(t0, op.call_ns);
  std::vector<size_t> by_call(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) by_call[i] = i;
  std::stable_sort(by_call.begin(), by_call.end(),
                   [&](size_t a, size_t b) { return ops[a].call_ns < ops[b].call_ns; });
  std::string out = fmt::format("{} operations (times in ms from the first call):\n", ops.size());
  constexpr size_t kShown = 80;
  for (size_t n = 0; n < by_call.size() && n < kShown; ++n) {
    const Operation& op = ops[by_call[n]];
    out += fmt::format("  #{} [{:.3f}, {}] {}\n", by_call[n], (op.call_ns - t0) / 1e6,
                       op.outcome == Outcome::kUnknown
                           ? std::string("?")
                           : fmt::format("{:.3f}", (op.return_ns - t0) / 1e6),
                       Describe(op));
  }
  if (ops.size() > kShown) out += fmt::format("  ... {} more\n", ops.size() - kShown);
  out += fmt::format("longest order that linearizes ({} of {}):", v.longest.size(), ops.size());
  for (size_t i : v.longest) out += fmt::format(" #{}", i);
  return out;
}

}  // namespace

std::string Describe(const Operation& op) {
  std::string via = op.server >= 0 ? fmt::format(" (server {})", op.server) : "";
  return DescribeOp(op) + via;
}

void History::Record(Operation op) {
  std::lock_guard lock(mu_);
  ops_.push_back(std::move(op));
}

std::vector<Operation> History::operations() const {
  std::lock_guard lock(mu_);
  return ops_;
}

size_t History::size() const {
  std::lock_guard lock(mu_);
  return ops_.size();
}

CheckResult CheckLinearizable(const std::vector<Operation>& all, uint64_t max_steps) {
  std::map<std::string, std::vector<Operation>> by_key;
  for (const auto& op : all) {
    if (op.kind == OpKind::kGet && op.outcome != Outcome::kOk) continue;  // tells nothing
    by_key[op.key].push_back(op);
  }
  CheckResult result;
  result.keys = by_key.size();
  for (const auto& [key, ops] : by_key) {
    result.operations += ops.size();
    std::map<std::string, int> ids;
    auto id = [&ids](const std::optional<std::string>& v) {
      if (!v) return kAbsent;
      return ids.emplace(*v, static_cast<int>(ids.size()) + 1).first->second;
    };
    std::vector<KeyOp> keyed;
    for (size_t i = 0; i < ops.size(); ++i) {
      const Operation& op = ops[i];
      keyed.push_back({.index = i,
                       .kind = op.kind,
                       .outcome = op.outcome,
                       .value = op.kind == OpKind::kGet ? kAbsent : id(op.value),
                       .expected = op.kind == OpKind::kCas ? id(op.expected) : kAbsent,
                       .output = op.kind == OpKind::kGet ? id(op.output) : kAbsent,
                       .call_ns = op.call_ns,
                       .return_ns = op.return_ns});
    }
    KeyVerdict v = CheckKey(keyed, &result.steps, max_steps);
    if (v.gave_up) {
      result.verdict = CheckResult::Verdict::kGaveUp;
      result.key = key;
      result.explanation =
          fmt::format("gave up after {} search steps on key {}", result.steps, key);
      return result;
    }
    if (!v.linearizable) {
      result.verdict = CheckResult::Verdict::kNotLinearizable;
      result.key = key;
      result.explanation = Explain(ops, v);
      return result;
    }
  }
  return result;
}

}  // namespace berth::chaos
