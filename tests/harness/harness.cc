#include "harness/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace berth::testing {
namespace {

namespace fs = std::filesystem;

std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}
// Every live Process; guarded by RegistryMutex().
std::set<Process*>& Registry() {
  static std::set<Process*> live;
  return live;
}

std::string TmpRoot() {
  const char* t = std::getenv("TMPDIR");
  return (t != nullptr && *t != '\0') ? std::string(t) : std::string("/tmp");
}

std::string UniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  return std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(rd() % 100000);
}

std::string ReadFileTail(const std::string& path, size_t max_bytes, bool* truncated) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  size_t start = size > max_bytes ? size - max_bytes : 0;
  if (truncated != nullptr) *truncated = start > 0;
  in.seekg(static_cast<std::streamoff>(start));
  std::string data(size - start, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

bool TestFailing() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info != nullptr && ::testing::Test::HasFailure();
}

class LogDumpListener : public ::testing::EmptyTestEventListener {
 public:
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result() != nullptr && info.result()->Failed()) {
      std::cerr << "\n### " << info.test_suite_name() << "." << info.name()
                << " failed: logs of the processes it ran ###\n";
      DumpAllProcessLogs(std::cerr);
    }
  }
};

}  // namespace

int FreePort() {
  static std::mutex mu;
  static std::set<int> handed_out;
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      socklen_t len = sizeof addr;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
      }
    }
    ::close(fd);
    if (port == 0) continue;
    std::lock_guard lock(mu);
    if (handed_out.insert(port).second) return port;
  }
  std::cerr << "harness: FreePort: could not find a free port\n";
  std::abort();
}

TempDir::TempDir(std::string_view prefix) {
  std::string templ = TmpRoot() + "/" + std::string(prefix) + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    std::cerr << "harness: mkdtemp " << templ << ": " << std::strerror(errno) << "\n";
    std::abort();
  }
  path_ = templ;
}

TempDir::~TempDir() {
  const char* keep = std::getenv("BERTH_KEEP_TEMP");
  if (keep != nullptr && std::string_view(keep) == "1") {
    std::cerr << "harness: keeping " << path_ << "\n";
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::Sub(std::string_view name) const { return path_ + "/" + std::string(name); }

std::string TempDir::MakeSubdir(std::string_view name) const {
  std::string p = Sub(name);
  std::error_code ec;
  fs::create_directories(p, ec);
  return p;
}

bool WaitFor(const std::function<bool()>& condition, Duration timeout, Duration interval) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

namespace {

int ConnectLoopback(std::string_view host, int port, Duration timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  std::string h(host);
  if (::inet_pton(AF_INET, h.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

bool WaitForTcp(int port, Duration timeout, std::string_view host) {
  return WaitFor(
      [&] {
        int fd = ConnectLoopback(host, port, 1s);
        if (fd < 0) return false;
        ::close(fd);
        return true;
      },
      timeout, 50ms);
}

namespace {

std::optional<std::string> HttpExchange(int port, std::string_view method, std::string_view path,
                                        std::string_view body, Duration timeout) {
  int fd = ConnectLoopback("127.0.0.1", port, timeout);
  if (fd < 0) return std::nullopt;
  std::string req =
      std::string(method) + " " + std::string(path) + " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
  if (method == "POST") {
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n";
  req += body;
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return std::nullopt;
    }
    off += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  // "HTTP/1.x 200 ..."
  if (resp.size() < 12 || resp.compare(0, 5, "HTTP/") != 0) return std::nullopt;
  int status = std::atoi(resp.c_str() + 9);
  if (status < 200 || status >= 300) return std::nullopt;
  auto head_end = resp.find("\r\n\r\n");
  if (head_end == std::string::npos) return std::nullopt;
  return resp.substr(head_end + 4);
}

// The value of the first `"field":"..."` in a JSON text (enough for etcd's flat answers).
std::string JsonStringField(const std::string& json, std::string_view field) {
  std::string needle = "\"" + std::string(field) + "\":\"";
  auto at = json.find(needle);
  if (at == std::string::npos) return {};
  at += needle.size();
  auto end = json.find('"', at);
  return end == std::string::npos ? std::string() : json.substr(at, end - at);
}

}  // namespace

std::optional<std::string> HttpGet(int port, std::string_view path, Duration timeout) {
  return HttpExchange(port, "GET", path, {}, timeout);
}

std::optional<std::string> HttpPost(int port, std::string_view path, std::string_view body,
                                    Duration timeout) {
  return HttpExchange(port, "POST", path, body, timeout);
}

std::string BinaryPath(std::string_view relative) {
  const char* dir = std::getenv("BERTH_BINARY_DIR");
  if (dir != nullptr && *dir != '\0') return std::string(dir) + "/" + std::string(relative);
  // Outside ctest: walk up from this executable to the directory holding CMakeCache.txt.
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (p = p.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
      if (fs::exists(p / "CMakeCache.txt", ec)) return (p / relative).string();
    }
  }
  return std::string(relative);
}

std::string BerthdPath() { return BinaryPath("src/cmd/berthd"); }

std::optional<std::string> FindProgram(std::string_view name) {
  if (name.find('/') != std::string_view::npos) {
    std::string p(name);
    if (::access(p.c_str(), X_OK) == 0) return p;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string paths = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream ss(paths);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + std::string(name);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Process

std::unique_ptr<Process> Process::Start(std::string name, std::vector<std::string> argv,
                                        ProcessOptions options, std::string* error) {
  InstallLogDumpOnFailure();
  auto fail = [&](std::string message) -> std::unique_ptr<Process> {
    if (error != nullptr) *error = message;
    std::cerr << "harness: start " << name << ": " << message << "\n";
    return nullptr;
  };
  if (argv.empty()) return fail("empty argv");
  auto exe = FindProgram(argv[0]);
  if (!exe) return fail("program not found: " + argv[0]);

  std::unique_ptr<Process> p(new Process());
  p->name_ = std::move(name);
  p->argv_ = argv;
  p->owns_log_ = options.log_path.empty();
  p->log_path_ = options.log_path.empty()
                     ? TmpRoot() + "/berth-" + p->name_ + "-" + UniqueSuffix() + ".log"
                     : options.log_path;

  // Everything the child needs is built before fork: after fork only syscalls.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    std::string_view key = kv.substr(0, eq);
    bool overridden = false;
    for (const auto& [k, v] : options.env) overridden = overridden || k == key;
    if (!overridden) env_strings.emplace_back(kv);
  }
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);

  int log_fd = ::open(p->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return fail("open log " + p->log_path_ + ": " + std::strerror(errno));
  {
    std::string banner = "=== harness: starting";
    for (const auto& a : argv) banner += " " + a;
    banner += " ===\n";
    (void)!::write(log_fd, banner.data(), banner.size());
  }
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return fail(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    // Dies with the test binary even when the test crashes or ctest kills it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    if (!options.working_dir.empty() && ::chdir(options.working_dir.c_str()) != 0) ::_exit(126);
    ::execve(exe->c_str(), args.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so Kill never races the child's setpgid
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  p->pid_ = pid;
  {
    std::lock_guard lock(RegistryMutex());
    Registry().insert(p.get());
  }
  return p;
}

Process::~Process() {
  {
    std::lock_guard lock(RegistryMutex());
    Registry().erase(this);
  }
  bool failing = TestFailing();
  if (failing) DumpLogs(std::cerr);
  if (!status_ && pid_ > 0) {
    ::killpg(pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
  // A log the harness named itself goes with the process unless the test failed.
  if (owns_log_ && !failing) ::unlink(log_path_.c_str());
}

bool Process::Kill(int signal) {
  if (status_ || pid_ <= 0) return false;
  if (::killpg(pid_, signal) != 0) ::kill(pid_, signal);
  return true;
}

bool Process::Running() {
  if (status_ || pid_ <= 0) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    // Leftover children of the group die with their leader.
    ::killpg(pid_, SIGKILL);
    return false;
  }
  return true;
}

std::optional<int> Process::Wait(Duration timeout) {
  if (status_) return status_;
  if (!WaitFor([&] { return !Running(); }, timeout, 10ms)) return std::nullopt;
  return status_;
}

int Process::Stop(Duration grace) {
  if (status_) return *status_;
  Kill(SIGTERM);
  if (auto st = Wait(grace)) return *st;
  Kill(SIGKILL);
  if (auto st = Wait(kDefaultTimeout)) return *st;
  return -1;
}

std::string Process::Logs() const { return ReadFileTail(log_path_, SIZE_MAX / 2, nullptr); }

void Process::DumpLogs(std::ostream& out, size_t max_bytes) const {
  bool truncated = false;
  std::string data = ReadFileTail(log_path_, max_bytes, &truncated);
  out << "=== " << name_ << " (pid " << pid_ << ") log: " << log_path_
      << (truncated ? " (last " + std::to_string(max_bytes) + " bytes)" : std::string()) << " ===\n"
      << data << (data.empty() || data.back() == '\n' ? "" : "\n") << "=== end of " << name_
      << " ===\n";
  out.flush();
}

std::string WithoutHarnessLines(std::string_view log) {
  std::string out;
  for (size_t pos = 0; pos < log.size();) {
    size_t nl = log.find('\n', pos);
    size_t end = nl == std::string_view::npos ? log.size() : nl + 1;
    if (log.substr(pos, 12) != "=== harness:") out.append(log.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

ToolResult RunTool(std::string name, std::vector<std::string> argv, ProcessOptions options,
                   Duration timeout) {
  ToolResult out;
  std::string error;
  auto p = Process::Start(std::move(name), std::move(argv), std::move(options), &error);
  if (!p) {
    out.text = error;
    return out;
  }
  auto status = p->Wait(timeout);
  if (status && WIFEXITED(*status)) out.code = WEXITSTATUS(*status);
  out.text = WithoutHarnessLines(p->Logs());
  return out;
}

void DumpAllProcessLogs(std::ostream& out) {
  std::lock_guard lock(RegistryMutex());
  for (const Process* p : Registry()) p->DumpLogs(out);
}

void InstallLogDumpOnFailure() {
  static std::once_flag once;
  std::call_once(once, [] {
    // The listeners list owns the listener.
    ::testing::UnitTest::GetInstance()->listeners().Append(new LogDumpListener());
  });
}

// ---------------------------------------------------------------------------------------
// EtcdCluster

EtcdCluster::EtcdCluster() = default;

EtcdCluster::~EtcdCluster() {
  for (auto& m : members_) m.process.reset();
}

bool EtcdCluster::Start(int members, Duration timeout) {
  if (members != 1 && members != 3) {
    error_ = "EtcdCluster supports 1 or 3 members";
    return false;
  }
  if (!FindProgram("etcd")) {
    error_ = "etcd not found on PATH (Debian package etcd-server)";
    return false;
  }
  // A port picked by FreePort can be taken by another job before etcd binds it: retry with
  // fresh ports a few times.
  for (int attempt = 0; attempt < 3; ++attempt) {
    for (auto& m : members_) m.process.reset();
    members_.clear();
    dir_ = std::make_unique<TempDir>("berth-etcd");
    token_ = "berth-" + UniqueSuffix();
    initial_cluster_.clear();
    for (int i = 0; i < members; ++i) {
      Member m;
      m.name = "m" + std::to_string(i + 1);
      m.client_port = FreePort();
      m.peer_port = FreePort();
      m.data_dir = dir_->Sub(m.name + ".etcd");
      m.log_path = dir_->Sub(m.name + ".log");
      if (!initial_cluster_.empty()) initial_cluster_ += ",";
      initial_cluster_ += m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
      members_.push_back(std::move(m));
    }
    bool started = true;
    for (int i = 0; i < members && started; ++i) started = StartMember(i);
    if (started && WaitHealthy(timeout)) {
      error_.clear();
      return true;
    }
    bool port_clash = false;
    for (const auto& m : members_) {
      std::string logs = m.process ? m.process->Logs() : std::string();
      if (logs.find("address already in use") != std::string::npos) port_clash = true;
    }
    std::ostringstream os;
    os << "etcd cluster of " << members << " did not become healthy (attempt " << attempt + 1
       << ")\n";
    DumpLogs(os);
    error_ = os.str();
    if (!port_clash) return false;
  }
  return false;
}

bool EtcdCluster::StartMember(int i) {
  Member& m = members_.at(i);
  std::string client = "http://127.0.0.1:" + std::to_string(m.client_port);
  std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
  std::vector<std::string> argv = {
      "etcd",
      "--name",
      m.name,
      "--data-dir",
      m.data_dir,
      "--listen-client-urls",
      client,
      "--advertise-client-urls",
      client,
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      initial_cluster_,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      token_,
      // The test machine is shared and loaded: slower heartbeats than etcd's 100ms/1s
      // defaults keep elections from flapping.
      "--heartbeat-interval",
      "200",
      "--election-timeout",
      "2000",
      "--logger",
      "zap",
      "--log-outputs",
      "stderr",
  };
  std::string err;
  ProcessOptions opts;
  opts.log_path = m.log_path;
  m.process = Process::Start("etcd-" + m.name, argv, opts, &err);
  if (!m.process) {
    error_ = "start etcd " + m.name + ": " + err;
    return false;
  }
  return true;
}

std::vector<std::string> EtcdCluster::ClientEndpoints() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(ClientEndpoint(i));
  return out;
}

std::string EtcdCluster::ClientEndpoint(int member) const {
  return "http://127.0.0.1:" + std::to_string(members_.at(member).client_port);
}

std::string EtcdCluster::ClientHostPorts() const {
  std::string out;
  for (const auto& m : members_) {
    if (!out.empty()) out += ",";
    out += "127.0.0.1:" + std::to_string(m.client_port);
  }
  return out;
}

bool EtcdCluster::Healthy(int member) const {
  auto body = HttpGet(members_.at(member).client_port, "/health", 3s);
  return body && body->find("\"health\":\"true\"") != std::string::npos;
}

int EtcdCluster::Leader() const {
  for (int i = 0; i < size(); ++i) {
    if (!MemberRunning(i)) continue;
    auto status = HttpPost(members_[i].client_port, "/v3/maintenance/status", "{}", 3s);
    if (!status) continue;
    std::string leader = JsonStringField(*status, "leader");
    if (leader.empty() || leader == "0") continue;
    // Each member names itself in its header; find the one whose id is the leader's.
    for (int j = 0; j < size(); ++j) {
      if (!MemberRunning(j)) continue;
      auto other =
          j == i ? status : HttpPost(members_[j].client_port, "/v3/maintenance/status", "{}", 3s);
      if (other && JsonStringField(*other, "member_id") == leader) return j;
    }
  }
  return -1;
}

bool EtcdCluster::MemberRunning(int member) const {
  const auto& p = members_.at(member).process;
  return p != nullptr && const_cast<Process*>(p.get())->Running();
}

bool EtcdCluster::WaitHealthy(Duration timeout) const {
  return WaitFor(
      [&] {
        for (int i = 0; i < size(); ++i) {
          if (!MemberRunning(i)) {
            // A member that exited will not become healthy; only a killed one is expected.
            if (members_[i].process == nullptr) continue;
            return false;
          }
          if (!Healthy(i)) return false;
        }
        return true;
      },
      timeout, 100ms);
}

void EtcdCluster::KillMember(int member) {
  auto& p = members_.at(member).process;
  if (p == nullptr) return;
  p->Kill(SIGKILL);
  p->Wait(kDefaultTimeout);
  p.reset();
}

bool EtcdCluster::RestartMember(int member, Duration timeout) {
  KillMember(member);
  // The killed process's ports may linger briefly; etcd sets SO_REUSEADDR so a restart
  // binds again at once.
  if (!StartMember(member)) return false;
  return WaitFor([&] { return MemberRunning(member) && Healthy(member); }, timeout, 100ms);
}

void EtcdCluster::DumpLogs(std::ostream& out) const {
  for (const auto& m : members_) {
    if (m.process) {
      m.process->DumpLogs(out);
    } else {
      bool truncated = false;
      out << "=== etcd-" << m.name << " (not running) log: " << m.log_path << " ===\n"
          << ReadFileTail(m.log_path, 64 * 1024, &truncated) << "=== end ===\n";
    }
  }
}

}  // namespace berth::testing
