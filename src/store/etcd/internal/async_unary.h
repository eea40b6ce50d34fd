// AsyncUnary: one unary gRPC call started on the members' completion queue, whose `done`
// runs on the completion thread with the call's status and response. The request is
// serialized when the call starts, so it may be a temporary.
//
// Private to store/etcd. Thread-safety: Start from any thread.
#pragma once

#include <grpcpp/support/async_unary_call.h>

#include <functional>
#include <memory>

#include "store/etcd/internal/members.h"

namespace berth::store::etcd_internal {

template <typename Response>
class AsyncUnary final : public CqEvent {
 public:
  using Callback = std::function<void(const grpc::Status& status, Response& response)>;

  // `start(context, cq)` returns the stub's AsyncXxx reader for the call (deadline and
  // `hasleader` already set on the context).
  template <typename StartFn>
  static void Start(Members& members, StartFn&& start, Callback done) {
    auto* call = new AsyncUnary(std::move(done));
    members.Prepare(call->context_);
    call->reader_ = start(&call->context_, members.cq());
    call->reader_->Finish(&call->response_, &call->status_, call);
  }

  void Done(bool) override {
    std::unique_ptr<AsyncUnary> self(this);
    done_(status_, response_);
  }

 private:
  explicit AsyncUnary(Callback done) : done_(std::move(done)) {}

  Callback done_;
  grpc::ClientContext context_;
  Response response_;
  grpc::Status status_;
  std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader_;
};

}  // namespace berth::store::etcd_internal
