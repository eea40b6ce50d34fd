#include "tests/chaos/linearizability.h"

#include <gtest/gtest.h>

#include <random>

namespace berth::chaos {
namespace {

using Verdict = CheckResult::Verdict;

Operation Put(int client, std::string v, int64_t call, int64_t ret,
              Outcome outcome = Outcome::kOk) {
  return {.client = client,
          .kind = OpKind::kPut,
          .key = "k",
          .value = std::move(v),
          .outcome = outcome,
          .call_ns = call,
          .return_ns = ret};
}
Operation Get(int client, std::optional<std::string> out, int64_t call, int64_t ret) {
  return {.client = client,
          .kind = OpKind::kGet,
          .key = "k",
          .output = std::move(out),
          .call_ns = call,
          .return_ns = ret};
}
Operation Cas(int client, std::optional<std::string> from, std::string to, Outcome outcome,
              int64_t call, int64_t ret) {
  return {.client = client,
          .kind = OpKind::kCas,
          .key = "k",
          .value = std::move(to),
          .expected = std::move(from),
          .outcome = outcome,
          .call_ns = call,
          .return_ns = ret};
}

// Each case: a history, and whether a single register could have produced it.
struct Case {
  const char* name;
  std::vector<Operation> ops;
  Verdict want;
};

TEST(LinearizabilityTest, JudgesHandMadeHistories) {
  const Case cases[] = {
      {"empty history", {}, Verdict::kLinearizable},
      {"read of a key never written", {Get(0, std::nullopt, 0, 1)}, Verdict::kLinearizable},
      {"read of a value never written", {Get(0, "x", 0, 1)}, Verdict::kNotLinearizable},
      {"read after write sees it", {Put(0, "a", 0, 1), Get(1, "a", 2, 3)}, Verdict::kLinearizable},
      {"stale read after an acknowledged write",
       {Put(0, "a", 0, 1), Get(1, std::nullopt, 2, 3)},
       Verdict::kNotLinearizable},
      {"lost write: a later read sees the older value",
       {Put(0, "a", 0, 1), Put(0, "b", 2, 3), Get(1, "a", 4, 5)},
       Verdict::kNotLinearizable},
      {"concurrent read may see either side of a write",
       {Put(0, "a", 0, 1), Put(0, "b", 2, 10), Get(1, "a", 3, 4), Get(2, "b", 5, 6)},
       Verdict::kLinearizable},
      {"reads that go back in time during one write",
       {Put(0, "a", 0, 1), Put(0, "b", 2, 10), Get(1, "b", 3, 4), Get(2, "a", 5, 6)},
       Verdict::kNotLinearizable},
      {"two concurrent writes, readers agree on the order",
       {Put(0, "a", 0, 10), Put(1, "b", 0, 10), Get(2, "a", 11, 12), Get(3, "a", 13, 14)},
       Verdict::kLinearizable},
      {"two concurrent writes, readers disagree after both ended",
       {Put(0, "a", 0, 10), Put(1, "b", 0, 10), Get(2, "a", 11, 12), Get(3, "b", 13, 14),
        Get(2, "a", 15, 16)},
       Verdict::kNotLinearizable},
      {"compare-and-swap that holds",
       {Put(0, "a", 0, 1), Cas(1, "a", "b", Outcome::kOk, 2, 3), Get(2, "b", 4, 5)},
       Verdict::kLinearizable},
      {"compare-and-swap that succeeded against the wrong value",
       {Put(0, "a", 0, 1), Cas(1, "z", "b", Outcome::kOk, 2, 3)},
       Verdict::kNotLinearizable},
      {"compare-and-swap refused although the value matched",
       {Put(0, "a", 0, 1), Cas(1, "a", "b", Outcome::kFailed, 2, 3)},
       Verdict::kNotLinearizable},
      {"two compare-and-swaps from one value both succeed",
       {Put(0, "a", 0, 1), Cas(1, "a", "b", Outcome::kOk, 2, 5),
        Cas(2, "a", "c", Outcome::kOk, 2, 5)},
       Verdict::kNotLinearizable},
      {"create-only compare-and-swap on a missing key",
       {Cas(0, std::nullopt, "a", Outcome::kOk, 0, 1), Get(1, "a", 2, 3)},
       Verdict::kLinearizable},
      {"a write of unknown outcome may have happened",
       {Put(0, "a", 0, 1), Put(1, "b", 2, 0, Outcome::kUnknown), Get(2, "b", 50, 51)},
       Verdict::kLinearizable},
      {"a write of unknown outcome may never have happened",
       {Put(0, "a", 0, 1), Put(1, "b", 2, 0, Outcome::kUnknown), Get(2, "a", 50, 51)},
       Verdict::kLinearizable},
      {"a write of unknown outcome cannot take effect before it was sent",
       {Put(0, "a", 0, 1), Get(2, "b", 2, 3), Put(1, "b", 10, 0, Outcome::kUnknown)},
       Verdict::kNotLinearizable},
      {"a write of unknown outcome cannot come and go",
       {Put(0, "a", 0, 1), Put(1, "b", 2, 0, Outcome::kUnknown), Get(2, "b", 5, 6),
        Get(2, "a", 7, 8)},
       Verdict::kNotLinearizable},
  };
  for (const auto& c : cases) {
    CheckResult r = CheckLinearizable(c.ops);
    EXPECT_EQ(r.verdict, c.want) << c.name << "\n" << r.explanation;
  }
}

TEST(LinearizabilityTest, KeysAreCheckedApartAndTheBadOneIsNamed) {
  auto a = Put(0, "1", 0, 1);
  a.key = "a";
  auto b = Put(0, "2", 0, 1);
  b.key = "b";
  auto read_b_on_a = Get(1, "2", 2, 3);  // "2" was written to b, never to a
  read_b_on_a.key = "a";
  CheckResult ok = CheckLinearizable({a, b});
  EXPECT_EQ(ok.verdict, Verdict::kLinearizable);
  EXPECT_EQ(ok.keys, 2u);
  CheckResult bad = CheckLinearizable({a, b, read_b_on_a});
  ASSERT_EQ(bad.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(bad.key, "a");
  EXPECT_NE(bad.explanation.find("client 1 get a -> \"2\""), std::string::npos) << bad.explanation;
}

TEST(LinearizabilityTest, GetsOfUnknownOutcomeAreDropped) {
  Operation lost = Get(1, "never", 2, 0);
  lost.outcome = Outcome::kUnknown;
  CheckResult r = CheckLinearizable({Put(0, "a", 0, 1), lost});
  EXPECT_EQ(r.verdict, Verdict::kLinearizable);
  EXPECT_EQ(r.operations, 1u);
}

// A register simulated with random overlapping operations linearizes; the same history with
// one read changed to a value the register did not hold then does not.
TEST(LinearizabilityTest, SimulatedRegisterPassesAndOneCorruptedReadFails) {
  std::mt19937 rng(7);
  std::vector<Operation> ops;
  std::optional<std::string> reg;
  int64_t t = 0;
  for (int i = 0; i < 3000; ++i) {
    // Operations take effect at t; their call and return spread around it so that
    // neighbours overlap.
    t += 10;
    const int64_t call = t - std::uniform_int_distribution<int>(0, 25)(rng);
    const int64_t ret = t + std::uniform_int_distribution<int>(0, 25)(rng);
    const int client = i % 5;
    switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
      case 0:
        reg = "v" + std::to_string(i);
        ops.push_back(Put(client, *reg, call, ret));
        break;
      case 1:
        ops.push_back(Get(client, reg, call, ret));
        break;
      default: {
        std::optional<std::string> from =
            rng() % 2 ? reg : std::optional<std::string>("v" + std::to_string(i / 2));
        bool holds = from == reg;
        std::string to = "c" + std::to_string(i);
        ops.push_back(Cas(client, from, to, holds ? Outcome::kOk : Outcome::kFailed, call, ret));
        if (holds) reg = to;
      }
    }
  }
  CheckResult good = CheckLinearizable(ops);
  EXPECT_EQ(good.verdict, Verdict::kLinearizable) << good.explanation;
  EXPECT_EQ(good.operations, ops.size());

  // Corrupt a read in the middle: it now returns a value written much earlier.
  for (size_t i = ops.size() / 2; i < ops.size(); ++i) {
    if (ops[i].kind == OpKind::kGet && ops[i].output && *ops[i].output != "v1") {
      ops[i].output = "v1";
      break;
    }
  }
  ops.insert(ops.begin(), Put(9, "v1", -100, -90));
  CheckResult bad = CheckLinearizable(ops);
  EXPECT_EQ(bad.verdict, Verdict::kNotLinearizable);
}

TEST(LinearizabilityTest, GivesUpAfterItsStepBudget) {
  std::vector<Operation> ops;
  // Many concurrent writes and a read no order explains: the search must try them all.
  for (int i = 0; i < 40; ++i) ops.push_back(Put(i, "v" + std::to_string(i), 0, 100));
  ops.push_back(Get(99, "nothing-wrote-this", 200, 201));
  CheckResult r = CheckLinearizable(ops, /*max_steps=*/1000);
  EXPECT_EQ(r.verdict, Verdict::kGaveUp);
  EXPECT_NE(r.explanation.find("gave up"), std::string::npos);
}

}  // namespace
}  // namespace berth::chaos
