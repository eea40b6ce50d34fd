// The mapping between Berth's Store types (store/store.h) and etcd v3's protobuf messages
// (store/etcd/proto/rpc.proto), and from a failed gRPC call to a Berth Error.
// Private to store/etcd. Thread-safety: pure functions.
#pragma once

#include <grpcpp/support/status.h>

#include <string>
#include <string_view>

#include "core/error.h"
#include "store/etcd/proto/rpc.pb.h"
#include "store/store.h"

namespace berth::store::etcd_internal {

namespace pb = ::etcdserverpb;

// The [key, range_end) pair of a Store request: explicit range_end wins, then prefix
// (an empty key with prefix: every key, "\0".."\0").
struct KeyRange {
  std::string key;
  std::string range_end;  // empty: the single key
};
KeyRange MakeKeyRange(std::string_view key, bool prefix, std::string_view range_end);

// The Berth error for a failed call named `what`. etcd's messages come first (they are its
// stable error strings: "etcdserver: mvcc: required revision has been compacted"), then the
// gRPC code. UNAVAILABLE (no leader, member stopping, connection lost) is kUnavailable.
Error ErrorFromGrpc(int grpc_code, std::string_view message, std::string_view what);
Error ErrorFromStatus(const grpc::Status& status, std::string_view what);

// Whether a failed call provably never took effect, so that a write may go to another
// member: etcd refused it before proposing (no leader, not capable, stopping), or the client
// never had a connection to send it on. Any other failure of a write leaves its outcome
// unknown.
bool NotProposed(const grpc::Status& status);

KeyValue FromProto(const pb::KeyValue& kv);
void ToProto(const KeyValue& kv, pb::KeyValue* out);

void EncodeRange(std::string_view key, const RangeOptions& options, bool prefix,
                 pb::RangeRequest* out);
RangeResult DecodeRange(pb::RangeResponse&& response);

void EncodePut(std::string_view key, std::string_view value, const PutOptions& options,
               pb::PutRequest* out);
PutResult DecodePut(const pb::PutResponse& response);

void EncodeDelete(std::string_view key, const DeleteOptions& options, pb::DeleteRangeRequest* out);
DeleteResult DecodeDelete(const pb::DeleteRangeResponse& response);

void EncodeTxn(const TxnRequest& request, pb::TxnRequest* out);
// `request` gives the op kinds of the branch taken.
Result<TxnResult> DecodeTxn(pb::TxnResponse&& response, const TxnRequest& request);

Event FromProto(const pb::Event& event);

// The create_request of a watch over `range` from `start_revision`.
void EncodeWatchCreate(const KeyRange& range, int64_t start_revision, bool prev_kv,
                       bool progress_notify, pb::WatchRequest* out);

// Checks a put's key and value against the Store's limits; `what` names the call.
Result<void> ValidatePut(std::string_view key, std::string_view value, std::string_view what);
// Validates every put of a txn; true in *writes when the txn writes at all.
Result<void> ValidateTxn(const TxnRequest& request, bool* writes);

}  // namespace berth::store::etcd_internal
