// The mapping between Store types and etcd's protobuf messages, and etcd's errors.
#include "store/etcd/internal/convert.h"

#include <gtest/gtest.h>

namespace berth::store::etcd_internal {
namespace {

TEST(KeyRangeTest, PrefixExplicitEndAndEveryKey) {
  auto one = MakeKeyRange("/a", false, "");
  EXPECT_EQ(one.key, "/a");
  EXPECT_EQ(one.range_end, "");
  auto prefix = MakeKeyRange("/a/", true, "");
  EXPECT_EQ(prefix.range_end, "/a0");
  auto explicit_end = MakeKeyRange("/a", true, "/b");
  EXPECT_EQ(explicit_end.range_end, "/b");
  auto every = MakeKeyRange("", true, "");
  EXPECT_EQ(every.key, std::string(1, '\0'));
  EXPECT_EQ(every.range_end, std::string(1, '\0'));
}

TEST(ErrorMappingTest, EtcdMessagesWinOverCodes) {
  EXPECT_EQ(ErrorFromGrpc(grpc::StatusCode::OUT_OF_RANGE,
                          "etcdserver: mvcc: required revision has been compacted", "range")
                .code,
            ErrorCode::kCompacted);
  EXPECT_EQ(ErrorFromGrpc(grpc::StatusCode::OUT_OF_RANGE,
                          "etcdserver: mvcc: required revision is a future revision", "range")
                .code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      ErrorFromGrpc(grpc::StatusCode::NOT_FOUND, "etcdserver: requested lease not found", "lease")
          .code,
      ErrorCode::kNotFound);
  EXPECT_EQ(ErrorFromGrpc(grpc::StatusCode::FAILED_PRECONDITION, "etcdserver: lease already exists",
                          "lease")
                .code,
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(
      ErrorFromGrpc(grpc::StatusCode::INVALID_ARGUMENT, "etcdserver: request is too large", "put")
          .code,
      ErrorCode::kPayloadTooLarge);
  auto unavailable = ErrorFromGrpc(grpc::StatusCode::UNAVAILABLE, "etcdserver: no leader", "put");
  EXPECT_EQ(unavailable.code, ErrorCode::kUnavailable);
  EXPECT_EQ(unavailable.message, "etcd: put: etcdserver: no leader");
  EXPECT_EQ(ErrorFromGrpc(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded", "txn").code,
            ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(ErrorFromGrpc(grpc::StatusCode::UNAUTHENTICATED, "bad cert", "txn").code,
            ErrorCode::kUnauthenticated);
  EXPECT_EQ(ErrorFromGrpc(grpc::StatusCode::UNKNOWN, "what", "txn").code, ErrorCode::kInternal);
}

TEST(ErrorMappingTest, OnlyRefusalsBeforeProposingMayGoToAnotherMember) {
  EXPECT_TRUE(NotProposed(grpc::Status(grpc::StatusCode::UNAVAILABLE, "etcdserver: no leader")));
  EXPECT_TRUE(NotProposed(grpc::Status(grpc::StatusCode::UNAVAILABLE, "etcdserver: not capable")));
  EXPECT_TRUE(NotProposed(
      grpc::Status(grpc::StatusCode::UNAVAILABLE,
                   "failed to connect to all addresses; last error: UNKNOWN: Connection refused")));
  // The connection broke with the request on it, or etcd gave up waiting for its commit:
  // the write may have been applied.
  EXPECT_FALSE(NotProposed(grpc::Status(grpc::StatusCode::UNAVAILABLE, "Socket closed")));
  EXPECT_FALSE(
      NotProposed(grpc::Status(grpc::StatusCode::UNAVAILABLE, "etcdserver: request timed out")));
  EXPECT_FALSE(
      NotProposed(grpc::Status(grpc::StatusCode::UNAVAILABLE, "etcdserver: server stopped")));
  EXPECT_FALSE(NotProposed(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded")));
  EXPECT_FALSE(NotProposed(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no leader")));
}

TEST(RangeCodecTest, EncodesOptionsAndDecodesResponse) {
  pb::RangeRequest request;
  EncodeRange("/p/", RangeOptions{.limit = 5, .revision = 7, .keys_only = true}, true, &request);
  EXPECT_EQ(request.key(), "/p/");
  EXPECT_EQ(request.range_end(), "/p0");
  EXPECT_EQ(request.limit(), 5);
  EXPECT_EQ(request.revision(), 7);
  EXPECT_TRUE(request.keys_only());
  EXPECT_FALSE(request.count_only());

  pb::RangeResponse response;
  response.mutable_header()->set_revision(42);
  response.set_count(3);
  response.set_more(true);
  auto* kv = response.add_kvs();
  kv->set_key(std::string("/p/\0x", 5));
  kv->set_value("v");
  kv->set_create_revision(2);
  kv->set_mod_revision(9);
  kv->set_version(4);
  kv->set_lease(77);
  RangeResult r = DecodeRange(std::move(response));
  EXPECT_EQ(r.revision, 42);
  EXPECT_EQ(r.count, 3);
  EXPECT_TRUE(r.more);
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0], (KeyValue{.key = std::string("/p/\0x", 5),
                                .value = "v",
                                .create_revision = 2,
                                .mod_revision = 9,
                                .version = 4,
                                .lease = 77}));
}

TEST(TxnCodecTest, EncodesComparesAndOpsAndDecodesTheBranchTaken) {
  TxnRequest txn;
  txn.compare.push_back({.key = "/a",
                         .target = Compare::Target::kModRevision,
                         .op = Compare::Op::kLess,
                         .number = 5});
  txn.compare.push_back({.key = "/b", .target = Compare::Target::kValue, .value = "x"});
  txn.success = {TxnOp::Put("/a", "1", 9), TxnOp::Get("/c/", true)};
  txn.failure = {TxnOp::Delete("/d/", true)};
  pb::TxnRequest request;
  EncodeTxn(txn, &request);
  ASSERT_EQ(request.compare_size(), 2);
  EXPECT_EQ(request.compare(0).target(), pb::Compare::MOD);
  EXPECT_EQ(request.compare(0).result(), pb::Compare::LESS);
  EXPECT_EQ(request.compare(0).mod_revision(), 5);
  EXPECT_EQ(request.compare(1).target(), pb::Compare::VALUE);
  EXPECT_EQ(request.compare(1).value(), "x");
  ASSERT_EQ(request.success_size(), 2);
  EXPECT_EQ(request.success(0).request_put().lease(), 9);
  EXPECT_EQ(request.success(1).request_range().range_end(), "/c0");
  EXPECT_EQ(request.failure(0).request_delete_range().range_end(), "/d0");

  pb::TxnResponse response;
  response.mutable_header()->set_revision(12);
  response.set_succeeded(true);
  response.add_responses()->mutable_response_put();
  response.add_responses()->mutable_response_range()->set_count(2);
  auto decoded = DecodeTxn(pb::TxnResponse(response), txn);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_TRUE(decoded->succeeded);
  EXPECT_EQ(decoded->revision, 12);
  ASSERT_EQ(decoded->results.size(), 2u);
  EXPECT_EQ(decoded->results[0].put.revision, 12);
  EXPECT_EQ(decoded->results[1].range.count, 2);

  // A response that does not match the branch's ops is a protocol error, not a guess.
  response.set_succeeded(false);
  auto mismatched = DecodeTxn(std::move(response), txn);
  ASSERT_FALSE(mismatched.has_value());
  EXPECT_EQ(mismatched.error().code, ErrorCode::kInternal);
}

TEST(WatchCodecTest, DecodesPutAndDeleteEventsAndEncodesCreate) {
  pb::Event put;
  put.mutable_kv()->set_key("/k");
  put.mutable_kv()->set_value("v");
  put.mutable_kv()->set_mod_revision(3);
  put.mutable_prev_kv()->set_value("old");
  Event e = FromProto(put);
  EXPECT_EQ(e.type, Event::Type::kPut);
  EXPECT_EQ(e.kv.value, "v");
  ASSERT_TRUE(e.prev_kv.has_value());
  EXPECT_EQ(e.prev_kv->value, "old");
  pb::Event del;
  del.set_type(pb::Event::DELETE);
  del.mutable_kv()->set_key("/k");
  Event d = FromProto(del);
  EXPECT_EQ(d.type, Event::Type::kDelete);
  EXPECT_FALSE(d.prev_kv.has_value());

  pb::WatchRequest create;
  EncodeWatchCreate(MakeKeyRange("/w/", true, ""), 10, true, false, &create);
  ASSERT_TRUE(create.has_create_request());
  EXPECT_EQ(create.create_request().range_end(), "/w0");
  EXPECT_EQ(create.create_request().start_revision(), 10);
  EXPECT_TRUE(create.create_request().prev_kv());
}

TEST(ValidateTest, RefusesBadKeysAndValuesWithTheKeyNamed) {
  EXPECT_TRUE(ValidatePut("/k", "v", "put").has_value());
  auto empty = ValidatePut("", "v", "put");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  auto big = ValidatePut("/big", std::string(kMaxValueBytes + 1, 'x'), "put");
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_NE(big.error().message.find("/big"), std::string::npos) << big.error().message;

  bool writes = true;
  TxnRequest reads_only;
  reads_only.success = {TxnOp::Get("/a")};
  ASSERT_TRUE(ValidateTxn(reads_only, &writes).has_value());
  EXPECT_FALSE(writes);
  TxnRequest deletes;
  deletes.failure = {TxnOp::Delete("/a")};
  ASSERT_TRUE(ValidateTxn(deletes, &writes).has_value());
  EXPECT_TRUE(writes);
}

}  // namespace
}  // namespace berth::store::etcd_internal
