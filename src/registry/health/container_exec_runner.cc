#include "registry/health/container_exec_runner.h"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <fmt/core.h>

namespace berth::registry::health {
namespace {

constexpr size_t kMaxOutput = 256;

// One run: whichever of the command and the timer finishes first answers.
struct ExecRun {
  explicit ExecRun(asio::io_context& io, ProbeDone d) : timer(io), done(std::move(d)) {}
  asio::steady_timer timer;  // touched on the io_context only
  std::atomic<bool> answered{false};
  ProbeDone done;

  // On the io_context.
  void Answer(ProbeResult result) {
    if (answered.exchange(true)) return;
    timer.cancel();
    done(std::move(result));
  }
};

std::string Cut(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (s.size() > kMaxOutput) {
    s.resize(kMaxOutput);
    s += "...";
  }
  return s;
}

}  // namespace

Health ExecVerdict(int exit_code) {
  if (exit_code == 0) return Health::kPassing;
  if (exit_code == 1) return Health::kWarning;
  return Health::kCritical;
}

ContainerExecRunner::ContainerExecRunner(asio::io_context& io, ContainerExec& exec,
                                         ContainerExecRunnerOptions options)
    : io_(io),
      exec_(exec),
      options_(options),
      pool_(static_cast<size_t>(std::max(1, options.threads))) {}

ContainerExecRunner::~ContainerExecRunner() {
  stop_.request_stop();  // running commands are killed
  pool_.join();
}

void ContainerExecRunner::Run(const Instance& instance, const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout, ProbeDone done) {
  auto it = instance.metadata.find(std::string(kContainerMetadataKey));
  if (it == instance.metadata.end() || it->second.empty()) {
    asio::post(io_, [done = std::move(done)] {
      done({Health::kCritical, fmt::format("exec check: the instance names no container "
                                           "(metadata \"{}\")",
                                           kContainerMetadataKey)});
    });
    return;
  }
  if (running_.fetch_add(1) >= std::max(1, options_.threads)) {
    running_.fetch_sub(1);
    asio::post(io_, [done = std::move(done)] {
      done({Health::kCritical, "exec check: busy (every exec thread is running a command)"});
    });
    return;
  }
  auto run = std::make_shared<ExecRun>(io_, std::move(done));
  run->timer.expires_after(timeout);
  run->timer.async_wait([run](const asio::error_code& ec) {
    if (!ec) run->Answer({Health::kCritical, "timeout"});
  });
  asio::post(pool_, [this, run, container = it->second, argv, timeout] {
    auto r = exec_.Exec(container, argv, timeout, stop_.get_token());
    running_.fetch_sub(1);
    ProbeResult result;
    if (!r) {
      result = {Health::kCritical,
                Cut(fmt::format("exec in {}: {}", container, r.error().message))};
    } else if (r->timed_out) {
      result = {Health::kCritical, "timeout"};
    } else {
      result.status = ExecVerdict(r->exit_code);
      result.output = Cut(r->output.empty() ? fmt::format("exit {}", r->exit_code)
                                            : fmt::format("exit {}: {}", r->exit_code, r->output));
    }
    asio::post(io_,
               [run, result = std::move(result)]() mutable { run->Answer(std::move(result)); });
  });
}

}  // namespace berth::registry::health
