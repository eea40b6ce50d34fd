// The production Connection: berth::http::Client (core/http/client.h) over plain TCP.
#include <atomic>

#include "core/http/client.h"
#include "store/etcd/internal/transport.h"

namespace berth::store::etcd_internal {
namespace {

http::Request MakePost(std::string_view path, std::string body) {
  http::Request request;
  request.method = "POST";
  request.target = std::string(path);
  request.path = std::string(path);
  request.headers.Set("Content-Type", "application/json");
  request.body = std::move(body);
  return request;
}

// The http client reports every transport failure as kUnavailable; the store must know
// whether a failed request may have reached etcd (a write must not be sent twice). A
// failure while resolving or connecting means it did not; anything later (send, read, a
// timeout) leaves the outcome unknown and is reported as kDeadlineExceeded.
// TODO(core/http): a structured "not sent" flag in the client's error would beat matching
// its messages.
Error ClassifyTransportError(Error e) {
  const std::string& m = e.message;
  bool before_send = m.starts_with("http client: connect to") ||
                     m.starts_with("http client: resolv") ||
                     m.starts_with("http client: TLS handshake");
  if (e.code == ErrorCode::kUnavailable && !before_send) e.code = ErrorCode::kDeadlineExceeded;
  if (e.code == ErrorCode::kDeadlineExceeded && before_send) e.code = ErrorCode::kUnavailable;
  return e;
}

class HttpConnection final : public Connection {
 public:
  explicit HttpConnection(std::unique_ptr<http::Client> client) : client_(std::move(client)) {}

  Result<HttpReply> Post(std::string_view path, std::string body) override {
    if (shutdown_.load()) return Fail(ErrorCode::kUnavailable, "connection shut down");
    auto response = client_->Send(MakePost(path, std::move(body)));
    if (!response) return std::unexpected(ClassifyTransportError(response.error()));
    return HttpReply{response->status, std::move(response->body)};
  }

  Result<void> PostStream(std::string_view path, std::string body,
                          const std::function<void(int status)>& on_status,
                          const std::function<bool(std::string_view data)>& on_data) override {
    if (shutdown_.load()) return Fail(ErrorCode::kUnavailable, "connection shut down");
    return client_->Stream(
        MakePost(path, std::move(body)),
        [&](const http::Response& head) { on_status(head.status); },
        [&](std::string_view data) { return !shutdown_.load() && on_data(data); });
  }

  void Shutdown() override {
    shutdown_.store(true);
    client_->Shutdown();
  }

 private:
  std::unique_ptr<http::Client> client_;
  std::atomic<bool> shutdown_{false};
};

}  // namespace

ConnectionFactory DefaultConnectionFactory() {
  return [](const std::string& endpoint,
            const ConnectionOptions& options) -> Result<std::unique_ptr<Connection>> {
    http::ClientOptions co;
    co.connect_timeout = options.connect_timeout;
    co.timeout = options.io_timeout;
    auto client = http::Client::Create(endpoint, co);
    if (!client) return std::unexpected(client.error());
    return std::unique_ptr<Connection>(new HttpConnection(std::move(*client)));
  };
}

}  // namespace berth::store::etcd_internal
