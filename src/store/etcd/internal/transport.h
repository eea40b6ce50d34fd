// How the etcd store reaches one etcd member: a blocking HTTP/1.1 connection that POSTs a
// JSON body and reads either the whole response or a stream of pieces (watch). The store
// keeps a small pool of these per endpoint; a test can swap the factory for a fake.
// Private to store/etcd. Thread-safety: a Connection is used by one thread at a time, except
// Shutdown(), which may be called from any thread to end a blocked call.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace berth::store::etcd_internal {

struct HttpReply {
  int status = 0;
  std::string body;
};

class Connection {
 public:
  virtual ~Connection() = default;

  // POSTs `body` (application/json) to `path` and reads the whole response. An error
  // (never an HTTP status) means the exchange failed at the transport level; its code is
  // kUnavailable when the request is known not to have reached the server (connect failed).
  virtual Result<HttpReply> Post(std::string_view path, std::string body) = 0;

  // POSTs and hands the response body to `on_data` piece by piece as it arrives, after one
  // `on_status` call. Returns when the body ends, `on_data` returns false, the idle timeout
  // passes without a byte, or Shutdown() is called.
  virtual Result<void> PostStream(std::string_view path, std::string body,
                                  const std::function<void(int status)>& on_status,
                                  const std::function<bool(std::string_view data)>& on_data) = 0;

  // Ends a blocked Post/PostStream from another thread; the connection is dead afterwards.
  virtual void Shutdown() = 0;
};

struct ConnectionOptions {
  std::chrono::milliseconds connect_timeout{3000};
  // Whole exchange for Post; longest silence between pieces for PostStream.
  std::chrono::milliseconds io_timeout{15000};
};

// Makes a connection to `endpoint` ("http://host:port").
using ConnectionFactory = std::function<Result<std::unique_ptr<Connection>>(
    const std::string& endpoint, const ConnectionOptions& options)>;

// The production factory.
ConnectionFactory DefaultConnectionFactory();

}  // namespace berth::store::etcd_internal
