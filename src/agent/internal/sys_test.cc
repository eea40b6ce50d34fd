// internal::Run and Spawn: output, input, environment, start failures, and the bounds
// (timeout, stop) that kill a run and what it started.
#include "agent/internal/sys.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <fstream>
#include <string>

namespace berth::agent::internal {
namespace {

using namespace std::chrono_literals;

// Whether `pid` has gone (or is a zombie waiting for its new parent to reap it).
bool Gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

TEST(RunTest, CollectsStdoutStderrAndTheExitCode) {
  auto r = internal::Run({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_FALSE(r->timed_out);
  EXPECT_FALSE(r->stopped);
}

TEST(RunTest, FeedsStdinWhileDrainingOutputSoNeitherSideBlocks) {
  std::string input(1 << 20, 'x');  // far more than a pipe holds
  auto r = internal::Run({"cat"}, {.stdin_data = input});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->out.size(), input.size());
  EXPECT_EQ(r->exit_code, 0);
}

TEST(RunTest, ExtendsOrReplacesTheEnvironment) {
  setenv("BERTH_SYS_TEST_INHERITED", "yes", 1);
  auto extended = internal::Run({"/bin/sh", "-c", "echo $FOO-${BERTH_SYS_TEST_INHERITED:-no}"},
                                {.env = {"FOO=bar"}});
  ASSERT_TRUE(extended) << extended.error().message;
  EXPECT_EQ(extended->out, "bar-yes\n");
  auto replaced = internal::Run({"/bin/sh", "-c", "echo $FOO-${BERTH_SYS_TEST_INHERITED:-no}"},
                                {.env = {"FOO=bar"}, .inherit_env = false});
  ASSERT_TRUE(replaced) << replaced.error().message;
  EXPECT_EQ(replaced->out, "bar-no\n");
}

TEST(RunTest, ReportsAProgramThatCannotStartAsExit127) {
  auto r = internal::Run({"/nonexistent/berth-test-program"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 127);
  EXPECT_NE(r->err.find("exec /nonexistent/berth-test-program"), std::string::npos) << r->err;
}

TEST(RunTest, ReportsAFailedPreparationAsExit126) {
  auto r = internal::Run({"/bin/true"}, {.pre_exec = [] { return EPERM; }});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 126);
  EXPECT_NE(r->err.find("prepare /bin/true"), std::string::npos) << r->err;
}

TEST(RunTest, RefusesAnEmptyCommand) {
  auto r = internal::Run({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(RunTest, KillsARunAndWhatItStartedAtItsTimeoutAndSaysSo) {
  auto r = internal::Run({"/bin/sh", "-c", "sleep 300 & echo $!; wait"}, {.timeout = 200ms});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_FALSE(r->stopped);
  EXPECT_EQ(r->exit_code, -1);
  const pid_t sleeper = std::stoi(r->out);
  // Killed with its group; reaped by whoever inherited it, so allow for that.
  for (int i = 0; i < 2000 && !Gone(sleeper); ++i) ::usleep(10'000);
  EXPECT_TRUE(Gone(sleeper));
}

TEST(RunTest, KillsARunWhoseStopIsRequestedAndSaysSo) {
  std::stop_source stop;
  stop.request_stop();
  auto r = internal::Run({"sleep", "300"}, {.stop = stop.get_token()});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->stopped);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->exit_code, -1);
}

TEST(RunTest, BoundsAChildThatClosesItsOutputAndGoesOn) {
  auto r = internal::Run({"/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 300"}, {.timeout = 200ms});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->timed_out);
}

TEST(RunTest, AnUnboundedRunWaitsForTheChild) {
  auto r = internal::Run({"/bin/sh", "-c", "exec >/dev/null 2>&1; sleep 0.2; exit 4"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->exit_code, 4);
}

TEST(SpawnTest, TalksWithAChildLineByLine) {
  auto c = Spawn({"/bin/sh", "-c", "echo ready; read x; echo got $x; echo bye >&2"});
  ASSERT_TRUE(c) << c.error().message;
  auto line = ReadLine(*c);
  ASSERT_TRUE(line) << line.error().message;
  EXPECT_EQ(*line, "ready");
  EXPECT_TRUE(WriteAll(*c, "hello\n"));
  RunResult r = Finish(*c);
  EXPECT_EQ(r.out, "got hello\n");
  EXPECT_EQ(r.err, "bye\n");
  EXPECT_EQ(r.exit_code, 0);
}

TEST(SpawnTest, RefusesAProgramThatCannotStart) {
  auto c = Spawn({"/nonexistent/berth-test-program"});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("start /nonexistent/berth-test-program"), std::string::npos);
}

}  // namespace
}  // namespace berth::agent::internal
