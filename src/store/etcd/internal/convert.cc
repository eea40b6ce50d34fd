#include "store/etcd/internal/convert.h"

#include <fmt/core.h>

namespace berth::store::etcd_internal {
namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

pb::Compare::CompareTarget TargetOf(Compare::Target t) {
  switch (t) {
    case Compare::Target::kValue:
      return pb::Compare::VALUE;
    case Compare::Target::kVersion:
      return pb::Compare::VERSION;
    case Compare::Target::kCreateRevision:
      return pb::Compare::CREATE;
    case Compare::Target::kModRevision:
      return pb::Compare::MOD;
    case Compare::Target::kLease:
      return pb::Compare::LEASE;
  }
  return pb::Compare::VERSION;
}

pb::Compare::CompareResult ResultOf(Compare::Op op) {
  switch (op) {
    case Compare::Op::kEqual:
      return pb::Compare::EQUAL;
    case Compare::Op::kNotEqual:
      return pb::Compare::NOT_EQUAL;
    case Compare::Op::kLess:
      return pb::Compare::LESS;
    case Compare::Op::kGreater:
      return pb::Compare::GREATER;
  }
  return pb::Compare::EQUAL;
}

void EncodeCompare(const Compare& c, pb::Compare* out) {
  out->set_key(c.key);
  out->set_target(TargetOf(c.target));
  out->set_result(ResultOf(c.op));
  switch (c.target) {
    case Compare::Target::kValue:
      out->set_value(c.value);
      break;
    case Compare::Target::kVersion:
      out->set_version(c.number);
      break;
    case Compare::Target::kCreateRevision:
      out->set_create_revision(c.number);
      break;
    case Compare::Target::kModRevision:
      out->set_mod_revision(c.number);
      break;
    case Compare::Target::kLease:
      out->set_lease(c.number);
      break;
  }
}

void EncodeTxnOp(const TxnOp& op, pb::RequestOp* out) {
  switch (op.type) {
    case TxnOp::Type::kRange:
      EncodeRange(op.key, op.range, op.prefix, out->mutable_request_range());
      break;
    case TxnOp::Type::kPut:
      EncodePut(op.key, op.value, PutOptions{.lease = op.lease, .prev_kv = op.prev_kv},
                out->mutable_request_put());
      break;
    case TxnOp::Type::kDelete:
      EncodeDelete(op.key, DeleteOptions{.prefix = op.prefix, .prev_kv = op.prev_kv},
                   out->mutable_request_delete_range());
      break;
  }
}

}  // namespace

KeyRange MakeKeyRange(std::string_view key, bool prefix, std::string_view range_end) {
  KeyRange r;
  r.key = std::string(key);
  if (!range_end.empty()) {
    r.range_end = std::string(range_end);
  } else if (prefix) {
    r.range_end = PrefixEnd(key);
    if (key.empty()) r.key = std::string(1, '\0');
  }
  return r;
}

Error ErrorFromGrpc(int grpc_code, std::string_view message, std::string_view what) {
  std::string m = fmt::format("etcd: {}: {}", what, message);
  if (Contains(message, "required revision has been compacted")) {
    return Error(ErrorCode::kCompacted, m);
  }
  if (Contains(message, "required revision is a future revision")) {
    return Error(ErrorCode::kInvalidArgument, m);
  }
  if (Contains(message, "requested lease not found")) return Error(ErrorCode::kNotFound, m);
  if (Contains(message, "lease already exists")) return Error(ErrorCode::kAlreadyExists, m);
  if (Contains(message, "request is too large")) return Error(ErrorCode::kPayloadTooLarge, m);
  switch (grpc_code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return Error(ErrorCode::kInvalidArgument, m);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Error(ErrorCode::kDeadlineExceeded, m);
    case grpc::StatusCode::NOT_FOUND:
      return Error(ErrorCode::kNotFound, m);
    case grpc::StatusCode::ALREADY_EXISTS:
      return Error(ErrorCode::kAlreadyExists, m);
    case grpc::StatusCode::PERMISSION_DENIED:
      return Error(ErrorCode::kPermissionDenied, m);
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Error(ErrorCode::kResourceExhausted, m);
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
      return Error(ErrorCode::kFailedPrecondition, m);
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
      return Error(ErrorCode::kUnavailable, m);
    case grpc::StatusCode::UNAUTHENTICATED:
      return Error(ErrorCode::kUnauthenticated, m);
    default:
      return Error(ErrorCode::kInternal, m);
  }
}

Error ErrorFromStatus(const grpc::Status& status, std::string_view what) {
  return ErrorFromGrpc(status.error_code(), status.error_message(), what);
}

bool NotProposed(const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return false;
  const std::string& m = status.error_message();
  // etcd refuses before proposing: the `hasleader` metadata check and the capability check
  // run ahead of the handler. gRPC fails a call fast without sending it when the channel has
  // no connection ("failed to connect to all addresses").
  return Contains(m, "etcdserver: no leader") || Contains(m, "etcdserver: not capable") ||
         Contains(m, "failed to connect to all addresses");
}

KeyValue FromProto(const pb::KeyValue& kv) {
  return KeyValue{.key = kv.key(),
                  .value = kv.value(),
                  .create_revision = kv.create_revision(),
                  .mod_revision = kv.mod_revision(),
                  .version = kv.version(),
                  .lease = kv.lease()};
}

void ToProto(const KeyValue& kv, pb::KeyValue* out) {
  out->set_key(kv.key);
  out->set_value(kv.value);
  out->set_create_revision(kv.create_revision);
  out->set_mod_revision(kv.mod_revision);
  out->set_version(kv.version);
  out->set_lease(kv.lease);
}

void EncodeRange(std::string_view key, const RangeOptions& options, bool prefix,
                 pb::RangeRequest* out) {
  KeyRange r = MakeKeyRange(key, prefix, options.range_end);
  out->set_key(std::move(r.key));
  if (!r.range_end.empty()) out->set_range_end(std::move(r.range_end));
  out->set_limit(options.limit);
  out->set_revision(options.revision);
  out->set_keys_only(options.keys_only);
  out->set_count_only(options.count_only);
}

RangeResult DecodeRange(pb::RangeResponse&& response) {
  RangeResult out;
  out.revision = response.header().revision();
  out.count = response.count();
  out.more = response.more();
  out.kvs.reserve(static_cast<size_t>(response.kvs_size()));
  for (auto& kv : *response.mutable_kvs()) {
    out.kvs.push_back(KeyValue{.key = std::move(*kv.mutable_key()),
                               .value = std::move(*kv.mutable_value()),
                               .create_revision = kv.create_revision(),
                               .mod_revision = kv.mod_revision(),
                               .version = kv.version(),
                               .lease = kv.lease()});
  }
  return out;
}

void EncodePut(std::string_view key, std::string_view value, const PutOptions& options,
               pb::PutRequest* out) {
  out->set_key(std::string(key));
  out->set_value(std::string(value));
  out->set_lease(options.lease);
  out->set_prev_kv(options.prev_kv);
  out->set_ignore_lease(options.ignore_lease);
}

PutResult DecodePut(const pb::PutResponse& response) {
  PutResult out;
  out.revision = response.header().revision();
  if (response.has_prev_kv()) out.prev_kv = FromProto(response.prev_kv());
  return out;
}

void EncodeDelete(std::string_view key, const DeleteOptions& options, pb::DeleteRangeRequest* out) {
  KeyRange r = MakeKeyRange(key, options.prefix, options.range_end);
  out->set_key(std::move(r.key));
  if (!r.range_end.empty()) out->set_range_end(std::move(r.range_end));
  out->set_prev_kv(options.prev_kv);
}

DeleteResult DecodeDelete(const pb::DeleteRangeResponse& response) {
  DeleteResult out;
  out.revision = response.header().revision();
  out.deleted = response.deleted();
  for (const auto& kv : response.prev_kvs()) out.prev_kvs.push_back(FromProto(kv));
  return out;
}

void EncodeTxn(const TxnRequest& request, pb::TxnRequest* out) {
  for (const auto& c : request.compare) EncodeCompare(c, out->add_compare());
  for (const auto& op : request.success) EncodeTxnOp(op, out->add_success());
  for (const auto& op : request.failure) EncodeTxnOp(op, out->add_failure());
}

Result<TxnResult> DecodeTxn(pb::TxnResponse&& response, const TxnRequest& request) {
  TxnResult out;
  out.revision = response.header().revision();
  out.succeeded = response.succeeded();
  const auto& ops = out.succeeded ? request.success : request.failure;
  if (static_cast<size_t>(response.responses_size()) != ops.size()) {
    return Fail(ErrorCode::kInternal, fmt::format("etcd: txn: {} responses for {} ops",
                                                  response.responses_size(), ops.size()));
  }
  out.results.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& r = *response.mutable_responses(static_cast<int>(i));
    TxnOpResult result;
    result.type = ops[i].type;
    switch (ops[i].type) {
      case TxnOp::Type::kRange:
        if (!r.has_response_range()) {
          return Fail(ErrorCode::kInternal, "etcd: txn: a range op got another response");
        }
        result.range = DecodeRange(std::move(*r.mutable_response_range()));
        break;
      case TxnOp::Type::kPut:
        if (!r.has_response_put()) {
          return Fail(ErrorCode::kInternal, "etcd: txn: a put op got another response");
        }
        result.put = DecodePut(r.response_put());
        break;
      case TxnOp::Type::kDelete:
        if (!r.has_response_delete_range()) {
          return Fail(ErrorCode::kInternal, "etcd: txn: a delete op got another response");
        }
        result.del = DecodeDelete(r.response_delete_range());
        break;
    }
    // Sub-responses carry the txn's header revision; etcd leaves their headers empty.
    if (result.range.revision == 0) result.range.revision = out.revision;
    if (result.put.revision == 0) result.put.revision = out.revision;
    if (result.del.revision == 0) result.del.revision = out.revision;
    out.results.push_back(std::move(result));
  }
  return out;
}

Event FromProto(const pb::Event& event) {
  Event out;
  out.type = event.type() == pb::Event::DELETE ? Event::Type::kDelete : Event::Type::kPut;
  out.kv = FromProto(event.kv());
  if (event.has_prev_kv()) out.prev_kv = FromProto(event.prev_kv());
  return out;
}

void EncodeWatchCreate(const KeyRange& range, int64_t start_revision, bool prev_kv,
                       bool progress_notify, pb::WatchRequest* out) {
  auto* create = out->mutable_create_request();
  create->set_key(range.key);
  if (!range.range_end.empty()) create->set_range_end(range.range_end);
  create->set_start_revision(start_revision);
  create->set_prev_kv(prev_kv);
  create->set_progress_notify(progress_notify);
}

Result<void> ValidatePut(std::string_view key, std::string_view value, std::string_view what) {
  if (auto ok = ValidateKey(key); !ok) {
    return std::unexpected(Wrap(ok.error(), fmt::format("etcd: {}", what)));
  }
  if (value.size() > kMaxValueBytes) {
    return Fail(ErrorCode::kPayloadTooLarge,
                fmt::format("etcd: {}: value of {} bytes for key \"{}\" exceeds the limit of {}",
                            what, value.size(), key, kMaxValueBytes));
  }
  return {};
}

Result<void> ValidateTxn(const TxnRequest& request, bool* writes) {
  *writes = false;
  for (const auto* ops : {&request.success, &request.failure}) {
    for (const auto& op : *ops) {
      if (op.type == TxnOp::Type::kPut) {
        *writes = true;
        if (auto ok = ValidatePut(op.key, op.value, "txn put"); !ok) return ok;
      } else if (op.type == TxnOp::Type::kDelete) {
        *writes = true;
      }
    }
  }
  return {};
}

}  // namespace berth::store::etcd_internal
