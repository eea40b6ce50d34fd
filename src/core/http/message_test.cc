#include "core/http/message.h"

#include <gtest/gtest.h>

namespace berth::http {
namespace {

TEST(HeadersTest, GetIsCaseInsensitiveAndReturnsFirst) {
  Headers h;
  h.Add("Content-Type", "a");
  h.Add("content-type", "b");
  EXPECT_EQ(h.Get("CONTENT-TYPE"), "a");
  EXPECT_TRUE(h.Has("content-TYPE"));
  EXPECT_FALSE(h.Has("X"));
}

TEST(HeadersTest, SetReplacesAllAndRemoveCounts) {
  Headers h;
  h.Add("A", "1");
  h.Add("a", "2");
  h.Add("B", "3");
  h.Set("A", "4");
  EXPECT_EQ(h.size(), 2u);
  EXPECT_EQ(h.Get("a"), "4");
  EXPECT_EQ(h.Remove("b"), 1u);
  EXPECT_EQ(h.Remove("b"), 0u);
}

TEST(MessageTest, PercentDecodeAndEncode) {
  EXPECT_EQ(PercentDecode("a%20b%2Fc"), "a b/c");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("a+b"), "a+b");
  EXPECT_FALSE(PercentDecode("%2"));
  EXPECT_FALSE(PercentDecode("%"));
  EXPECT_FALSE(PercentDecode("%g0"));
  EXPECT_EQ(PercentEncode("a b/c~"), "a%20b%2Fc~");
  EXPECT_EQ(PercentDecode(PercentEncode("\x01\xff=&")), "\x01\xff=&");
}

TEST(MessageTest, QueryParam) {
  Request r;
  r.query = "a=1&b=x%20y&c&d=a+b&b=second";
  EXPECT_EQ(r.QueryParam("a"), "1");
  EXPECT_EQ(r.QueryParam("b"), "x y");
  EXPECT_EQ(r.QueryParam("c"), "");
  EXPECT_EQ(r.QueryParam("d"), "a b");
  EXPECT_FALSE(r.QueryParam("e"));
}

TEST(MessageTest, SerializeResponse) {
  Response r = Response::Json(404, "{}");
  r.headers.Add("Content-Length", "999");  // replaced by the real length
  EXPECT_EQ(
      Serialize(r),
      "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(
      Serialize(r, true),
      "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n");
  Response empty;
  empty.status = 204;
  EXPECT_EQ(Serialize(empty), "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(MessageTest, SerializeRequest) {
  Request r;
  r.method = "GET";
  r.path = "/x";
  r.query = "a=1";
  r.headers.Add("Host", "h");
  EXPECT_EQ(Serialize(r), "GET /x?a=1 HTTP/1.1\r\nHost: h\r\n\r\n");
  r.method = "POST";
  r.body = "abc";
  EXPECT_EQ(Serialize(r), "POST /x?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
}

TEST(MessageTest, ReasonPhrase) {
  EXPECT_EQ(ReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(ReasonPhrase(799), "Unknown");
}

}  // namespace
}  // namespace berth::http
