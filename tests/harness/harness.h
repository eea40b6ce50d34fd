// The integration-test harness: the one small library every integration test under tests/
// (and every `LABELS integration` test beside the code) uses to start real processes.
//
// What it gives a test:
// - FreePort(): a loopback TCP port nobody is listening on (bind port 0, read it back).
// - TempDir: a fresh directory under $TMPDIR, removed recursively when it goes away.
// - Process: spawns an argv with extra environment in its own process group, stdout and
//   stderr to a log file; Kill, Wait with a deadline; the destructor kills the group.
//   When a test fails, the logs of every process still alive (and of every process
//   destroyed during the failing test) are printed, so CI output shows why.
// - WaitFor(condition, timeout): polls until a condition holds. Deadlines are generous
//   upper bounds for "never happened", never performance assertions.
// - WaitForTcp(port): waits until something accepts on 127.0.0.1:port.
// - EtcdCluster: a 1- or 3-member etcd on free loopback ports in a temp dir; waits until
//   healthy, exposes client endpoints, kills/restarts a member.
// - BinaryPath(): built binaries under $BERTH_BINARY_DIR (set by ctest for berth_test).
// - RunTool(name, argv, options): runs a command to completion; exit code and output.
//
// Thread-safety: a Process or EtcdCluster is used from the test thread; FreePort, WaitFor
// and WaitForTcp are safe from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::testing {

using namespace std::chrono_literals;
using Duration = std::chrono::milliseconds;

// A generous default for "the thing never became ready": long enough for a loaded CI
// machine shared by many jobs.
inline constexpr Duration kDefaultTimeout = 60s;

// A free TCP port on 127.0.0.1 (bound with port 0, read back and released). Ports handed
// out by this process are never handed out twice.
int FreePort();

// A unique directory under $TMPDIR (or /tmp) named "<prefix>-XXXXXX", removed with
// everything in it on destruction (unless BERTH_KEEP_TEMP=1 is set in the environment).
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "berth-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string Sub(std::string_view name) const;
  // Creates path()/name (and parents); returns it.
  std::string MakeSubdir(std::string_view name) const;

 private:
  std::string path_;
};

// Polls `condition` every `interval` until it returns true (returns true) or `timeout`
// passes (returns false). Use as ASSERT_TRUE(WaitFor(...)) << "what never happened".
bool WaitFor(const std::function<bool()>& condition, Duration timeout = kDefaultTimeout,
             Duration interval = 20ms);

// True once a TCP connect to host:port succeeds within `timeout`.
bool WaitForTcp(int port, Duration timeout = kDefaultTimeout, std::string_view host = "127.0.0.1");

// A blocking one-shot HTTP/1.0 GET to 127.0.0.1:port with a short timeout; the response
// body, or nullopt when the connection or read failed or status was not 2xx. For
// readiness probes in tests (the harness does not depend on core/http).
std::optional<std::string> HttpGet(int port, std::string_view path,
                                   Duration timeout = std::chrono::seconds(5));

// The same for a POST with a body (Content-Type: application/json).
std::optional<std::string> HttpPost(int port, std::string_view path, std::string_view body,
                                    Duration timeout = std::chrono::seconds(5));

// $BERTH_BINARY_DIR/<relative> when the variable is set (ctest sets it for berth_test
// targets), else the build dir guessed from the test's own path; e.g.
// BinaryPath("src/cmd/berthd").
std::string BinaryPath(std::string_view relative);
// The berthd binary ($BERTH_BINARY_DIR/src/cmd/berthd).
std::string BerthdPath();
// An executable found on $PATH (e.g. "etcd"), or nullopt.
std::optional<std::string> FindProgram(std::string_view name);

struct ProcessOptions {
  // Extra environment on top of the test's own ("NAME", "value").
  std::vector<std::pair<std::string, std::string>> env;
  // Where stdout and stderr go (appended). Empty: a file under $TMPDIR named after the
  // process, deleted with the Process unless the test failed. A given path is appended to
  // and kept (an EtcdCluster member's restarts append to one file in its TempDir).
  std::string log_path;
  std::string working_dir;  // empty: inherit
};

// A child process in its own process group. Not copyable; the destructor sends SIGKILL
// to the group and reaps the child.
class Process {
 public:
  // Spawns argv[0] (searched in $PATH when it has no '/'); `name` labels its logs.
  // Fails (returns nullptr and fills *error) when the fork/exec fails.
  static std::unique_ptr<Process> Start(std::string name, std::vector<std::string> argv,
                                        ProcessOptions options = {}, std::string* error = nullptr);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  const std::string& name() const { return name_; }
  pid_t Pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  const std::vector<std::string>& argv() const { return argv_; }

  // Sends `signal` to the process group. Returns false when the process is already reaped.
  bool Kill(int signal);
  // True while the child has not exited (reaps it when it has).
  bool Running();
  // Waits until the child exits or `timeout` passes. Returns its wait status
  // (see WIFEXITED/WEXITSTATUS), or nullopt on timeout.
  std::optional<int> Wait(Duration timeout = kDefaultTimeout);
  // SIGTERM, wait up to `grace`, then SIGKILL and wait. Returns the wait status.
  int Stop(Duration grace = 10s);

  // The whole log file so far.
  std::string Logs() const;
  // Writes "=== <name> (pid N) log: <path> ===" and the log (last `max_bytes`) to `out`.
  void DumpLogs(std::ostream& out, size_t max_bytes = 64 * 1024) const;

 private:
  Process() = default;
  std::string name_;
  std::vector<std::string> argv_;
  std::string log_path_;
  pid_t pid_ = -1;
  bool owns_log_ = false;
  std::optional<int> status_;  // set once reaped
};

// A command-line tool run to completion (`berth ...` in CLI tests).
struct ToolResult {
  int code = -1;     // exit code; -1 when it did not start, died of a signal or timed out
  std::string text;  // stdout and stderr together, without the harness's banner lines
};
// Runs argv (its log at options.log_path, or a temporary one) and waits up to `timeout`.
ToolResult RunTool(std::string name, std::vector<std::string> argv, ProcessOptions options = {},
                   Duration timeout = kDefaultTimeout);
// A process log without the "=== harness: ..." lines the harness writes into it.
std::string WithoutHarnessLines(std::string_view log);

// Writes the logs of every live Process to `out` (what the failure listener does).
void DumpAllProcessLogs(std::ostream& out);

// Installs (once) a GoogleTest listener that dumps every live process's logs when a test
// fails. Process::Start calls it, so tests normally never need to.
void InstallLogDumpOnFailure();

// A 1- or 3-member etcd cluster on free loopback ports, data in a TempDir.
//
//   EtcdCluster etcd;
//   ASSERT_TRUE(etcd.Start(3)) << etcd.error();
//   auto endpoints = etcd.ClientEndpoints();   // {"http://127.0.0.1:P1", ...}
//   etcd.KillMember(0); ...; ASSERT_TRUE(etcd.RestartMember(0));
class EtcdCluster {
 public:
  EtcdCluster();
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  // Starts `members` (1 or 3) members and waits until each reports healthy. Returns false
  // (see error()) when etcd is missing or the cluster does not become healthy in `timeout`.
  bool Start(int members = 1, Duration timeout = 90s);
  const std::string& error() const { return error_; }

  int size() const { return static_cast<int>(members_.size()); }
  // "http://127.0.0.1:<client port>" per member, in member order.
  std::vector<std::string> ClientEndpoints() const;
  std::string ClientEndpoint(int member) const;
  int ClientPort(int member) const { return members_.at(member).client_port; }
  // Comma-separated "127.0.0.1:P,..." (the form of the store url "etcd://...").
  std::string ClientHostPorts() const;

  // True when member `i` answers /health with "true".
  bool Healthy(int member) const;
  // The index of the member that leads the cluster now, or -1 when no running member knows
  // a leader (asks each running member's /v3/maintenance/status).
  int Leader() const;
  // Waits until every running member is healthy.
  bool WaitHealthy(Duration timeout = 90s) const;

  // SIGKILLs member `i` (data kept). RestartMember starts it again on the same ports and
  // data dir and waits until it is healthy.
  void KillMember(int member);
  bool RestartMember(int member, Duration timeout = 90s);
  bool MemberRunning(int member) const;

  Process* member_process(int member) { return members_.at(member).process.get(); }
  void DumpLogs(std::ostream& out) const;
  const TempDir& dir() const { return *dir_; }

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::string data_dir;
    std::string log_path;
    std::unique_ptr<Process> process;
  };
  bool StartMember(int i);

  std::unique_ptr<TempDir> dir_;
  std::string token_;
  std::string initial_cluster_;
  std::vector<Member> members_;
  std::string error_;
};

}  // namespace berth::testing
