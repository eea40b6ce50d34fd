#include "tests/chaos/fault.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace berth::chaos {
namespace fs = std::filesystem;

Result<std::string> Run(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return Fail(ErrorCode::kInternal, "pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) return Fail(ErrorCode::kInternal, "fork failed");
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::dup2(pipefd[1], 2);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Fail(ErrorCode::kInternal,
                fmt::format("`{}` failed: {}", fmt::join(argv, " "), out.substr(0, 500)));
  }
  return out;
}

// ---- NetnsLink ------------------------------------------------------------------------

Result<std::unique_ptr<NetnsLink>> NetnsLink::Create(std::string name, int subnet) {
  if (name.empty() || name.size() > 10) {
    return Fail(ErrorCode::kInvalidArgument, "netns name must be 1..10 characters: " + name);
  }
  if (subnet < 0 || subnet > 65535) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("subnet {} is not 0..65535", subnet));
  }
  // 10.a.b.c/30: four /30s per /24 would be tighter; one /24 per link keeps it readable.
  std::string prefix = fmt::format("10.{}.{}.", 200 + subnet / 256 % 50, subnet % 256);
  std::unique_ptr<NetnsLink> link(new NetnsLink(name, prefix + "1", prefix + "2"));
  const std::string host_if = "vh" + name, ns_if = "vn" + name;
  (void)Run({"ip", "netns", "delete", name});  // a crashed run's leftover
  (void)Run({"ip", "link", "delete", host_if});
  for (const auto& step : std::vector<std::vector<std::string>>{
           {"ip", "netns", "add", name},
           {"ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if},
           {"ip", "link", "set", ns_if, "netns", name},
           {"ip", "addr", "add", link->host_ + "/24", "dev", host_if},
           {"ip", "link", "set", host_if, "up"},
           {"ip", "netns", "exec", name, "ip", "addr", "add", link->ns_ + "/24", "dev", ns_if},
           {"ip", "netns", "exec", name, "ip", "link", "set", ns_if, "up"},
           {"ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"},
           {"ip", "netns", "exec", name, "ip", "route", "add", "default", "via", link->host_}}) {
    if (auto r = Run(step); !r) return std::unexpected(Wrap(r.error(), "netns " + name));
  }
  return link;
}

NetnsLink::~NetnsLink() {
  (void)Run({"ip", "netns", "delete", name_});  // takes the veth pair with it
  (void)Run({"ip", "link", "delete", "vh" + name_});
}

Result<void> NetnsLink::Cut() {
  // Inside the namespace: drop everything to and from the host side, both hooks.
  std::string rules = fmt::format(
      "table inet berth_chaos {{\n"
      "  chain in {{ type filter hook input priority 0; policy accept; ip saddr {0} drop; }}\n"
      "  chain out {{ type filter hook output priority 0; policy accept; ip daddr {0} drop; }}\n"
      "}}\n",
      host_);
  std::string file = fmt::format("/tmp/berth-chaos-{}-{}.nft", name_, ::getpid());
  std::ofstream(file) << rules;
  auto r = Run({"ip", "netns", "exec", name_, "nft", "-f", file});
  fs::remove(file);
  if (!r) return std::unexpected(r.error());
  cut_ = true;
  return {};
}

Result<void> NetnsLink::Heal() {
  if (!cut_) return {};
  auto r = Run({"ip", "netns", "exec", name_, "nft", "delete", "table", "inet", "berth_chaos"});
  if (!r) return std::unexpected(r.error());
  cut_ = false;
  return {};
}

// ---- SmallDisk ------------------------------------------------------------------------

Result<std::unique_ptr<SmallDisk>> SmallDisk::Mount(std::string dir, size_t bytes) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string options = fmt::format("size={},mode=0755", bytes);
  if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    return Fail(ErrorCode::kInternal,
                fmt::format("mount a {}-byte tmpfs on {}: {}", bytes, dir, std::strerror(errno)));
  }
  return std::unique_ptr<SmallDisk>(new SmallDisk(std::move(dir)));
}

SmallDisk::~SmallDisk() { ::umount2(dir_.c_str(), MNT_DETACH); }

Result<size_t> SmallDisk::Fill() {
  std::string path = dir_ + "/.filler";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Fail(ErrorCode::kInternal, "open " + path + ": " + std::strerror(errno));
  std::string block(64 * 1024, 'f');
  size_t written = 0;
  for (size_t size = block.size(); size > 0;) {
    ssize_t n = ::write(fd, block.data(), size);
    if (n > 0) {
      written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == ENOSPC) {
      size /= 2;  // top up the last pages with smaller writes
      continue;
    }
    int e = errno;
    ::close(fd);
    return Fail(ErrorCode::kInternal, "write " + path + ": " + std::strerror(e));
  }
  ::close(fd);
  return written;
}

Result<void> SmallDisk::Free() {
  std::error_code ec;
  fs::remove(dir_ + "/.filler", ec);
  if (ec) return Fail(ErrorCode::kInternal, "remove the filler: " + ec.message());
  return {};
}

size_t SmallDisk::available() const {
  struct statvfs st {};
  if (::statvfs(dir_.c_str(), &st) != 0) return 0;
  return static_cast<size_t>(st.f_bavail) * st.f_frsize;
}

// ---- FakeClock ------------------------------------------------------------------------

Result<std::unique_ptr<FakeClock>> FakeClock::Create(const std::string& dir) {
  for (const char* lib : {"/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                          "/usr/lib/faketime/libfaketimeMT.so.1"}) {
    if (!fs::exists(lib)) continue;
    std::unique_ptr<FakeClock> c(new FakeClock(dir + "/faketime", lib));
    if (auto r = c->Jump(std::chrono::seconds(0)); !r) return std::unexpected(r.error());
    return c;
  }
  return Fail(ErrorCode::kUnavailable,
              "libfaketime is not installed (Debian package faketime; scripts/deps.sh)");
}

std::vector<std::pair<std::string, std::string>> FakeClock::Env() const {
  return {{"LD_PRELOAD", library_},
          {"FAKETIME_TIMESTAMP_FILE", file_},
          {"FAKETIME_DONT_FAKE_MONOTONIC", "1"},
          {"FAKETIME_CACHE_DURATION", "1"},
          // An ASan build wants its runtime first; libfaketime only wraps clock calls.
          {"ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=0"}};
}

Result<void> FakeClock::Jump(std::chrono::seconds offset) {
  std::string tmp = file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << fmt::format("{}{}s\n", offset.count() < 0 ? "-" : "+", std::abs(offset.count()));
    if (!out) return Fail(ErrorCode::kInternal, "cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, file_, ec);
  if (ec) return Fail(ErrorCode::kInternal, "rename " + tmp + ": " + ec.message());
  return {};
}

Result<void> Signal(pid_t pid, int signal) {
  if (pid <= 0) return Fail(ErrorCode::kInvalidArgument, fmt::format("no process {}", pid));
  if (::kill(pid, signal) != 0) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("signal {} to process {}: {}", signal, pid, std::strerror(errno)));
  }
  return {};
}

}  // namespace berth::chaos
