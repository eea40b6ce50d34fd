#include <gtest/gtest.h>

#include "registry/dns/answerer.h"
#include "registry/dns/message.h"
#include "store/testing/fake_store.h"

namespace berth::registry::dns {
namespace {

std::vector<uint8_t> Name(std::string_view n) {
  std::vector<uint8_t> out;
  while (!n.empty()) {
    auto dot = n.find('.');
    auto l = n.substr(0, dot);
    out.push_back(static_cast<uint8_t>(l.size()));
    out.insert(out.end(), l.begin(), l.end());
    n = dot == std::string_view::npos ? "" : n.substr(dot + 1);
  }
  out.push_back(0);
  return out;
}

std::vector<uint8_t> MakeQuery(uint16_t id, std::string_view name, uint16_t qtype,
                               bool edns = false, uint16_t flags = 0x0100) {
  std::vector<uint8_t> m = {static_cast<uint8_t>(id >> 8),
                            static_cast<uint8_t>(id),
                            static_cast<uint8_t>(flags >> 8),
                            static_cast<uint8_t>(flags),
                            0,
                            1,
                            0,
                            0,
                            0,
                            0,
                            0,
                            static_cast<uint8_t>(edns ? 1 : 0)};
  auto n = Name(name);
  m.insert(m.end(), n.begin(), n.end());
  m.insert(m.end(), {static_cast<uint8_t>(qtype >> 8), static_cast<uint8_t>(qtype), 0, 1});
  if (edns) m.insert(m.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0});  // OPT, 1232
  return m;
}

uint16_t U16(const std::vector<uint8_t>& m, size_t at) {
  return static_cast<uint16_t>((m[at] << 8) | m[at + 1]);
}

TEST(DnsMessageTest, ParsesAQueryCaseInsensitively) {
  auto p = ParseQuery(MakeQuery(77, "Web.SERVICE.berth", type::kSrv, true));
  ASSERT_EQ(p.kind, ParseResult::Kind::kQuery) << p.error;
  EXPECT_EQ(p.query.id, 77);
  EXPECT_TRUE(p.query.rd);
  EXPECT_EQ(p.query.question.name, "web.service.berth");
  EXPECT_EQ(p.query.question.type, type::kSrv);
  EXPECT_TRUE(p.query.edns);
  EXPECT_EQ(p.query.edns_udp_size, 1232);
}

TEST(DnsMessageTest, RejectsMalformedMessages) {
  EXPECT_EQ(ParseQuery(std::vector<uint8_t>{1, 2, 3}).kind, ParseResult::Kind::kDrop);
  auto q = MakeQuery(1, "a.berth", type::kA);
  q.push_back(0);
  auto p = ParseQuery(q);
  EXPECT_EQ(p.kind, ParseResult::Kind::kError);
  EXPECT_EQ(p.rcode, Rcode::kFormErr);
  // A label that runs past the end.
  q = MakeQuery(1, "a.berth", type::kA);
  q.resize(14);
  q[12] = 40;
  EXPECT_EQ(ParseQuery(q).rcode, Rcode::kFormErr);
  // A compression pointer to itself.
  std::vector<uint8_t> loop = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1};
  p = ParseQuery(loop);
  EXPECT_EQ(p.kind, ParseResult::Kind::kError);
  EXPECT_NE(p.error.find("backwards"), std::string::npos);
  // Not a standard query.
  p = ParseQuery(MakeQuery(1, "a.berth", type::kA, false, 0x2800));
  EXPECT_EQ(p.rcode, Rcode::kNotImp);
  // A response is never answered.
  EXPECT_EQ(ParseQuery(MakeQuery(1, "a.berth", type::kA, false, 0x8000)).kind,
            ParseResult::Kind::kDrop);
}

TEST(DnsMessageTest, TruncatesWholeRecordsAndSetsTc) {
  Response r;
  r.id = 9;
  r.question = Question{"web.service.berth", type::kSrv, kClassIn};
  for (int i = 0; i < 50; ++i) {
    Record srv{.name = "web.service.berth", .type = type::kSrv, .ttl = 5};
    srv.port = static_cast<uint16_t>(8000 + i);
    srv.target = EncodeIpv4Hex(0x0a000000u + static_cast<uint32_t>(i)) + ".addr.berth";
    r.answers.push_back(srv);
  }
  auto small = BuildResponse(r, 512);
  EXPECT_LE(small.size(), 512u);
  EXPECT_TRUE(small[2] & 0x02);
  EXPECT_GT(U16(small, 6), 0);
  EXPECT_LT(U16(small, 6), 50);
  auto big = BuildResponse(r, 65535);
  EXPECT_FALSE(big[2] & 0x02);
  EXPECT_EQ(U16(big, 6), 50);
}

class AnswererTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Add("web", "w1", "10.0.0.1", 8080, Health::kPassing);
    Add("web", "w2", "10.0.0.2", 8081, Health::kPassing);
    Add("web", "w3", "10.0.0.3", 8082, Health::kCritical);
    Add("idle", "i1", "10.0.0.9", 9000, Health::kCritical);
    Instance in;
    in.ns = "prod";
    in.service = "api";
    in.id = "a1";
    in.address = "10.1.0.1";
    in.port = 7000;
    ASSERT_TRUE(registry_.Register(in).has_value());
  }
  void Add(std::string svc, std::string id, std::string addr, uint32_t port, Health h) {
    Instance in;
    in.service = svc;
    in.id = id;
    in.address = addr;
    in.port = port;
    ASSERT_TRUE(registry_.Register(in).has_value());
    if (h != Health::kPassing)
      ASSERT_TRUE(registry_.SetHealth("default", svc, id, h, "x").has_value());
  }
  Response Ask(std::string_view name, uint16_t t) {
    auto p = ParseQuery(MakeQuery(1, name, t));
    EXPECT_EQ(p.kind, ParseResult::Kind::kQuery);
    return answerer_.Answer(p.query);
  }
  ManualClock clock_;
  store::testing::FakeStore store_{clock_};
  Registry registry_{store_, clock_};
  Answerer answerer_{registry_};
};

TEST_F(AnswererTest, SrvListsPassingInstancesWithAddressRecords) {
  auto r = Ask("web.service.berth", type::kSrv);
  EXPECT_EQ(r.rcode, Rcode::kNoError);
  ASSERT_EQ(r.answers.size(), 2u);
  EXPECT_EQ(r.answers[0].port, 8080);
  EXPECT_EQ(r.answers[0].target, "0a000001.addr.berth");
  EXPECT_EQ(r.answers[0].ttl, 5u);
  EXPECT_EQ(r.answers[1].port, 8081);
  ASSERT_EQ(r.additional.size(), 2u);
  EXPECT_EQ(r.additional[0].a, 0x0a000001u);
  auto same = Ask("web.service.default.berth", type::kSrv);
  EXPECT_EQ(same.answers.size(), 2u);
}

TEST_F(AnswererTest, AListsPassingAddressesAndAddrNamesResolve) {
  auto r = Ask("web.service.berth", type::kA);
  ASSERT_EQ(r.answers.size(), 2u);
  EXPECT_EQ(r.answers[1].a, 0x0a000002u);
  auto addr = Ask("0a000001.addr.berth", type::kA);
  ASSERT_EQ(addr.answers.size(), 1u);
  EXPECT_EQ(addr.answers[0].a, 0x0a000001u);
  auto ns = Ask("api.service.prod.berth", type::kA);
  ASSERT_EQ(ns.answers.size(), 1u);
  EXPECT_EQ(ns.answers[0].a, 0x0a010001u);
}

TEST_F(AnswererTest, UnknownIsNxdomainForeignIsRefusedNothingPassingIsEmpty) {
  EXPECT_EQ(Ask("nope.service.berth", type::kSrv).rcode, Rcode::kNxDomain);
  EXPECT_EQ(Ask("web.service.nope.berth", type::kSrv).rcode, Rcode::kNxDomain);
  EXPECT_EQ(Ask("web.berth", type::kA).rcode, Rcode::kNxDomain);
  EXPECT_EQ(Ask("example.com", type::kA).rcode, Rcode::kRefused);
  auto idle = Ask("idle.service.berth", type::kSrv);
  EXPECT_EQ(idle.rcode, Rcode::kNoError);
  EXPECT_TRUE(idle.answers.empty());
  auto aaaa = Ask("web.service.berth", type::kAaaa);
  EXPECT_EQ(aaaa.rcode, Rcode::kNoError);
  EXPECT_TRUE(aaaa.answers.empty());
}

TEST_F(AnswererTest, HandleAnswersFormerrWithTheQueryId) {
  auto q = MakeQuery(0x4242, "web.service.berth", type::kA);
  q[5] = 2;  // two questions claimed
  auto out = answerer_.Handle(q, true);
  ASSERT_GE(out.size(), 12u);
  EXPECT_EQ(U16(out, 0), 0x4242);
  EXPECT_EQ(out[3] & 0x0F, static_cast<int>(Rcode::kFormErr));
}

}  // namespace
}  // namespace berth::registry::dns
