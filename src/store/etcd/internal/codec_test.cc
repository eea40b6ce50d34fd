#include "store/etcd/internal/codec.h"

#include <gtest/gtest.h>

#include "core/json.h"

namespace berth::store::etcd_internal {
namespace {

TEST(Base64Test, RoundTripsEveryLengthAndByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (size_t n = 0; n <= all.size(); n += 1) {
    std::string in = all.substr(0, n);
    auto out = Base64Decode(Base64Encode(in));
    ASSERT_TRUE(out.has_value()) << n;
    EXPECT_EQ(*out, in) << n;
  }
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("a"), "YQ==");
  EXPECT_EQ(Base64Encode(std::string(1, '\0')), "AA==");
}

TEST(Base64Test, RejectsMalformedInput) {
  EXPECT_FALSE(Base64Decode("abc").has_value());
  EXPECT_FALSE(Base64Decode("a=bc").has_value());
  EXPECT_FALSE(Base64Decode("ab!c").has_value());
  EXPECT_FALSE(Base64Decode("YQ==YQ==").has_value());
}

TEST(JsonIntTest, ReadsStringsNumbersAndMissingFields) {
  Json j = {{"a", "9223372036854775807"}, {"b", 12}, {"c", "x"}};
  EXPECT_EQ(JsonInt(j, "a"), 9223372036854775807LL);
  EXPECT_EQ(JsonInt(j, "b"), 12);
  EXPECT_EQ(JsonInt(j, "c"), 0);
  EXPECT_EQ(JsonInt(j, "missing"), 0);
}

TEST(ErrorMappingTest, MapsEtcdErrorsToBerthCodes) {
  EXPECT_EQ(ErrorFromResponse(
                400,
                R"({"error":"etcdserver: mvcc: required revision has been compacted",)"
                R"("message":"etcdserver: mvcc: required revision has been compacted","code":11})",
                "range")
                .code,
            ErrorCode::kCompacted);
  EXPECT_EQ(
      ErrorFromResponse(
          400,
          R"({"error":"x","message":"etcdserver: mvcc: required revision is a future revision","code":11})",
          "range")
          .code,
      ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      ErrorFromResponse(
          404,
          R"({"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5})",
          "revoke")
          .code,
      ErrorCode::kNotFound);
  EXPECT_EQ(
      ErrorFromResponse(
          503, R"({"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14})",
          "put")
          .code,
      ErrorCode::kUnavailable);
  // A stream error object.
  EXPECT_EQ(
      ErrorFromResponse(
          200, R"({"error":{"grpc_code":14,"http_code":503,"message":"transport is closing"}})",
          "watch")
          .code,
      ErrorCode::kUnavailable);
  EXPECT_EQ(ErrorFromResponse(502, "Bad Gateway", "put").code, ErrorCode::kUnavailable);
  auto e = ErrorFromResponse(404, R"({"message":"etcdserver: requested lease not found","code":5})",
                             "lease revoke");
  EXPECT_NE(e.message.find("lease revoke"), std::string::npos) << e.message;
}

TEST(KeyRangeTest, PrefixExplicitEndAndEveryKey) {
  auto single = MakeKeyRange("a", false, "");
  EXPECT_EQ(single.key, "a");
  EXPECT_EQ(single.range_end, "");
  auto prefix = MakeKeyRange("/a/", true, "");
  EXPECT_EQ(prefix.range_end, "/a0");
  auto explicit_end = MakeKeyRange("a", true, "c");
  EXPECT_EQ(explicit_end.range_end, "c");
  auto every = MakeKeyRange("", true, "");
  EXPECT_EQ(every.key, std::string(1, '\0'));
  EXPECT_EQ(every.range_end, std::string(1, '\0'));
}

TEST(RangeCodecTest, EncodesOptionsAndDecodesGatewayResponse) {
  RangeOptions o;
  o.limit = 2;
  o.revision = 7;
  o.keys_only = true;
  Json req = EncodeRange("/p/", o, /*prefix=*/true);
  EXPECT_EQ(req["key"], Base64Encode("/p/"));
  EXPECT_EQ(req["range_end"], Base64Encode("/p0"));
  EXPECT_EQ(req["limit"], 2);
  EXPECT_EQ(req["revision"], 7);
  EXPECT_EQ(req["keys_only"], true);
  EXPECT_FALSE(req.contains("count_only"));

  auto resp = ParseJson(
      R"({"header":{"cluster_id":"1","member_id":"2","revision":"9","raft_term":"2"},)"
      R"("kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"4","version":"3","value":"MQ==","lease":"77"},)"
      R"({"key":"Yg==","create_revision":"5","mod_revision":"5","version":"1"}],"more":true,"count":"3"})");
  ASSERT_TRUE(resp.has_value());
  auto r = DecodeRange(*resp);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->revision, 9);
  EXPECT_EQ(r->count, 3);
  EXPECT_TRUE(r->more);
  ASSERT_EQ(r->kvs.size(), 2u);
  EXPECT_EQ(r->kvs[0], (KeyValue{"a", "1", 2, 4, 3, 77}));
  EXPECT_EQ(r->kvs[1], (KeyValue{"b", "", 5, 5, 1, 0}));
}

TEST(TxnCodecTest, EncodesComparesAndOpsAndDecodesTakenBranch) {
  TxnRequest t;
  Compare c1;
  c1.key = "k";
  c1.target = Compare::Target::kModRevision;
  c1.op = Compare::Op::kLess;
  c1.number = 5;
  Compare c2;
  c2.key = "v";
  c2.target = Compare::Target::kValue;
  c2.op = Compare::Op::kNotEqual;
  c2.value = "x";
  t.compare = {c1, c2};
  t.success = {TxnOp::Put("k", "1", 9), TxnOp::Get("p/", true), TxnOp::Delete("d")};
  t.failure = {TxnOp::Get("k")};
  Json j = EncodeTxn(t);
  EXPECT_EQ(j["compare"][0]["target"], "MOD");
  EXPECT_EQ(j["compare"][0]["result"], "LESS");
  EXPECT_EQ(j["compare"][0]["mod_revision"], 5);
  EXPECT_EQ(j["compare"][1]["target"], "VALUE");
  EXPECT_EQ(j["compare"][1]["result"], "NOT_EQUAL");
  EXPECT_EQ(j["compare"][1]["value"], Base64Encode("x"));
  EXPECT_EQ(j["success"][0]["request_put"]["lease"], 9);
  EXPECT_EQ(j["success"][1]["request_range"]["range_end"], Base64Encode("p0"));
  EXPECT_EQ(j["success"][2]["request_delete_range"]["key"], Base64Encode("d"));
  EXPECT_EQ(j["failure"][0]["request_range"]["key"], Base64Encode("k"));

  auto resp = ParseJson(
      R"({"header":{"revision":"7"},"succeeded":true,"responses":[)"
      R"({"response_put":{"header":{"revision":"7"}}},)"
      R"({"response_range":{"header":{"revision":"7"},"kvs":[{"key":"cC94","create_revision":"7","mod_revision":"7","version":"1","value":"MQ=="}],"count":"1"}},)"
      R"({"response_delete_range":{"header":{"revision":"7"},"deleted":"1"}}]})");
  ASSERT_TRUE(resp.has_value());
  auto r = DecodeTxn(*resp, t);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(r->revision, 7);
  ASSERT_EQ(r->results.size(), 3u);
  EXPECT_EQ(r->results[0].type, TxnOp::Type::kPut);
  EXPECT_EQ(r->results[0].put.revision, 7);
  EXPECT_EQ(r->results[1].range.kvs.at(0).key, "p/x");
  EXPECT_EQ(r->results[2].del.deleted, 1);

  // The failure branch with its response list.
  auto failed = ParseJson(
      R"({"header":{"revision":"7"},"responses":[{"response_range":{"header":{"revision":"7"}}}]})");
  auto f = DecodeTxn(*failed, t);
  ASSERT_TRUE(f.has_value());
  EXPECT_FALSE(f->succeeded);
  ASSERT_EQ(f->results.size(), 1u);
  EXPECT_TRUE(f->results[0].range.kvs.empty());
}

TEST(WatchCodecTest, ParsesPutAndDeleteEventsAndEncodesCreate) {
  auto put = ParseJson(
      R"({"kv":{"key":"YQ==","create_revision":"2","mod_revision":"4","version":"3","value":"Mw=="},)"
      R"("prev_kv":{"key":"YQ==","create_revision":"2","mod_revision":"3","version":"2","value":"Mg=="}})");
  auto e = ParseEvent(*put);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->type, Event::Type::kPut);
  EXPECT_EQ(e->kv.mod_revision, 4);
  ASSERT_TRUE(e->prev_kv.has_value());
  EXPECT_EQ(e->prev_kv->value, "2");
  auto del = ParseJson(R"({"type":"DELETE","kv":{"key":"YQ==","mod_revision":"6"}})");
  auto d = ParseEvent(*del);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->type, Event::Type::kDelete);
  EXPECT_EQ(d->kv.key, "a");
  EXPECT_EQ(d->kv.mod_revision, 6);
  EXPECT_FALSE(d->prev_kv.has_value());

  Json create = EncodeWatchCreate(MakeKeyRange("/a/", true, ""), 12, true, false);
  EXPECT_EQ(create["create_request"]["start_revision"], 12);
  EXPECT_EQ(create["create_request"]["prev_kv"], true);
  EXPECT_EQ(create["create_request"]["range_end"], Base64Encode("/a0"));
}

}  // namespace
}  // namespace berth::store::etcd_internal
