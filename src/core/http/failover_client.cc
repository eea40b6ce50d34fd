#include "core/http/failover_client.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <vector>

namespace berth::http {
namespace {

class FailoverClient final : public Client {
 public:
  FailoverClient(std::vector<std::unique_ptr<Client>> clients, std::vector<std::string> bases)
      : clients_(std::move(clients)), bases_(std::move(bases)) {}

  Result<Response> Send(const Request& request) override {
    std::optional<Response> unavailable;  // the last 503, answered when every server failed
    Error last(ErrorCode::kUnavailable, "no attempt");
    const size_t n = clients_.size();
    const size_t first = current_.load();
    for (size_t tried = 0; tried < n; ++tried) {
      const size_t i = (first + tried) % n;
      Client& c = *clients_[i];
      auto r = c.Send(request);
      sent_ = c.last_request_sent();
      if (r && !(r->status == 503 && IdempotentMethod(request.method))) {
        current_.store(i);
        return r;
      }
      if (r) {
        unavailable = std::move(*r);
        continue;
      }
      last = r.error();
      if (sent_ && !IdempotentMethod(request.method)) {
        return Fail(ErrorCode::kUnavailable,
                    fmt::format("{} {} to {}: the connection broke after the request was sent, so "
                                "it may or may not have taken effect: {}",
                                request.method, request.target, bases_[i], last.message));
      }
    }
    if (unavailable) return std::move(*unavailable);
    return Fail(
        last.code == ErrorCode::kDeadlineExceeded ? last.code : ErrorCode::kUnavailable,
        fmt::format("no server of [{}] answered: {}", fmt::join(bases_, ","), last.message));
  }

  Result<void> Stream(const Request& request,
                      const std::function<void(const Response& head)>& on_head,
                      const std::function<bool(std::string_view data)>& on_data) override {
    Error last(ErrorCode::kUnavailable, "no attempt");
    const size_t n = clients_.size();
    const size_t first = current_.load();
    for (size_t tried = 0; tried < n; ++tried) {
      const size_t i = (first + tried) % n;
      Client& c = *clients_[i];
      bool answered = false;
      {
        std::lock_guard lock(mu_);
        if (shutdown_) return Fail(ErrorCode::kUnavailable, "http client: shut down");
      }
      auto r = c.Stream(
          request,
          [&](const Response& head) {
            answered = true;
            if (on_head) on_head(head);
          },
          on_data);
      sent_ = c.last_request_sent();
      // Once a server answered, its stream is the caller's: no fail-over after that.
      if (r || answered) {
        current_.store(i);
        return r;
      }
      last = r.error();
      if (sent_ && !IdempotentMethod(request.method)) return r;
    }
    return Fail(ErrorCode::kUnavailable, fmt::format("no server of [{}] answered: {}",
                                                     fmt::join(bases_, ","), last.message));
  }

  void Shutdown() override {
    std::lock_guard lock(mu_);
    shutdown_ = true;
    for (auto& c : clients_) c->Shutdown();
  }

  bool last_request_sent() const override { return sent_; }

 private:
  const std::vector<std::unique_ptr<Client>> clients_;
  const std::vector<std::string> bases_;
  std::atomic<size_t> current_{0};  // the server that answered last
  bool sent_ = false;
  std::mutex mu_;
  bool shutdown_ = false;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<Client>> CreateFailoverClient(std::string_view bases,
                                                     const ClientOptions& options) {
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::string> names;
  while (true) {
    auto comma = bases.find(',');
    std::string_view one = bases.substr(0, comma);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "an empty server address in a comma-separated list (want "
                  "https://a:7700,https://b:7700)");
    }
    auto c = Client::Create(one, options);
    if (!c) return std::unexpected(c.error());
    clients.push_back(std::move(*c));
    names.emplace_back(one);
    if (comma == std::string_view::npos) break;
    bases.remove_prefix(comma + 1);
  }
  return std::unique_ptr<Client>(new FailoverClient(std::move(clients), std::move(names)));
}

}  // namespace berth::http
