// One request as it moves through its connection's parts (Envoy's StreamInfo plus the
// router's decisions): what the client asked, the route and cluster it went to, the
// upstream that answered, and what came back. The connection manager fills the request side
// and sends local replies; the upstream request and the body pump fill the rest; stats and the
// access log line are made from it when the exchange ends.
// Views (method, target...) point into the request parser's head: valid until the next request
// on the connection starts. Thread-safety: one worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "gateway/router/route_table.h"
#include "gateway/server/http1_heads.h"

namespace berth::gateway::server {

class WorkerCluster;
struct RouteStats;

struct Exchange {
  Clock::TimePoint start;
  std::string_view method;
  std::string_view target;      // origin form (an absolute-form target is reduced to its path)
  std::string_view path;        // target without the query
  std::string host;             // lowercased, without port
  std::string_view request_id;  // the client's (a view into the head) or request_id_buf
  char request_id_buf[36];
  std::shared_ptr<const router::RouteTable> table;  // keeps `route` alive
  const router::Route* route = nullptr;
  RouteStats* route_stats = nullptr;
  std::shared_ptr<WorkerCluster> cluster;
  std::string_view upstream;  // the chosen host's address
  HeaderList add_request_headers;
  HeaderList add_response_headers;
  int status = 0;
  uint64_t bytes_in = 0;   // request body bytes sent upstream
  uint64_t bytes_out = 0;  // response body bytes
  int attempts = 0;
  bool has_body = false;
  bool keep_alive = true;
  bool continue_sent = false;
  bool request_complete = false;  // the request parser reached kComplete for this request
  size_t fed = 0;                 // body bytes at the front of the read buffer parsed, not sent
  bool body_written = false;      // some body bytes went to an upstream: no replay
  std::string flags;              // "UH", "UF", "UT", ... or the filter that answered
  bool grpc = false;              // a gRPC call (content-type application/grpc...)
  int grpc_status = -1;           // its grpc-status, when the answer had one

  // A reply of the gateway's own (no route, a filter stopped the request, no upstream could
  // answer): sent by the connection manager.
  int reply_status = 0;
  std::string_view reply_body;                // a literal or reply_body_owned
  std::string reply_body_owned;               // a filter's
  const HeaderList* reply_headers = nullptr;  // a literal list or &reply_headers_owned
  HeaderList reply_headers_owned;             // a filter's
  bool reply_close = false;

  // Sets the local reply (body and headers must outlive the exchange, or be the owned ones).
  void SetReply(int status, std::string_view body, bool close,
                const HeaderList* headers = nullptr) {
    reply_status = status;
    reply_body = body;
    reply_close = close;
    reply_headers = headers;
  }
};

}  // namespace berth::gateway::server
