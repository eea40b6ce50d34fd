#include "core/http/websocket.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <string>

namespace berth::http::ws {
namespace {

const uint8_t kMask[4] = {0x37, 0xfa, 0x21, 0x3d};

TEST(WebSocket, AcceptKeyMatchesTheRfcExample) {
  EXPECT_EQ(AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

Request Handshake() {
  Request r;
  r.method = "GET";
  r.path = "/ws";
  r.headers.Set("Upgrade", "websocket");
  r.headers.Set("Connection", "keep-alive, Upgrade");
  r.headers.Set("Sec-WebSocket-Version", "13");
  r.headers.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  return r;
}

TEST(WebSocket, HandshakeChecksNameWhatIsMissing) {
  EXPECT_TRUE(CheckHandshake(Handshake()).has_value());
  auto r = Handshake();
  r.headers.Set("Sec-WebSocket-Version", "8");
  EXPECT_NE(CheckHandshake(r).error().message.find("version"), std::string::npos);
  r = Handshake();
  r.headers.Set("Sec-WebSocket-Key", "short");
  EXPECT_NE(CheckHandshake(r).error().message.find("Sec-WebSocket-Key"), std::string::npos);
  r = Handshake();
  r.headers.Set("Connection", "keep-alive");
  EXPECT_FALSE(CheckHandshake(r).has_value());
  r = Handshake();
  r.method = "POST";
  EXPECT_FALSE(CheckHandshake(r).has_value());
  auto ok = HandshakeResponse(Handshake(), "berth.exec.v1");
  EXPECT_EQ(ok.status, 101);
  EXPECT_EQ(ok.headers.Get("Sec-WebSocket-Accept").value_or(""), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(ok.headers.Get("Sec-WebSocket-Protocol").value_or(""), "berth.exec.v1");
}

TEST(WebSocket, DecodesMaskedFramesSplitAnywhere) {
  std::string wire = EncodeFrame(Opcode::kText, "hello", true, kMask) +
                     EncodeFrame(Opcode::kBinary, std::string(70000, 'x'), true, kMask) +
                     EncodeFrame(Opcode::kPing, "p", true, kMask);
  // Byte by byte: every partial header and payload is kept until complete.
  Decoder d;
  std::vector<Message> out;
  for (char c : wire) ASSERT_TRUE(d.Feed(std::string_view(&c, 1), &out).has_value());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].opcode, Opcode::kText);
  EXPECT_EQ(out[0].payload, "hello");
  EXPECT_EQ(out[1].opcode, Opcode::kBinary);
  EXPECT_EQ(out[1].payload.size(), 70000u);
  EXPECT_EQ(out[2].opcode, Opcode::kPing);
}

TEST(WebSocket, ReassemblesFragmentsAroundControlFrames) {
  std::string wire = EncodeFrame(Opcode::kText, "hel", false, kMask) +
                     EncodeFrame(Opcode::kPing, "", true, kMask) +
                     EncodeFrame(Opcode::kContinuation, "lo", true, kMask);
  Decoder d;
  std::vector<Message> out;
  ASSERT_TRUE(d.Feed(wire, &out).has_value());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].opcode, Opcode::kPing);
  EXPECT_EQ(out[1].payload, "hello");
}

TEST(WebSocket, RefusesWhatTheRfcForbids) {
  auto fails = [](const std::string& wire, uint16_t code, size_t max = 1 << 20) {
    Decoder d(max);
    std::vector<Message> out;
    auto r = d.Feed(wire, &out);
    if (r.has_value()) return std::string("accepted");
    return r.error().close_code == code ? std::string() : r.error().reason;
  };
  EXPECT_EQ(fails(EncodeFrame(Opcode::kText, "x"), kCloseProtocolError), "");  // unmasked
  EXPECT_EQ(
      fails(EncodeFrame(Opcode::kPing, std::string(126, 'x'), true, kMask), kCloseProtocolError),
      "");
  EXPECT_EQ(fails(EncodeFrame(Opcode::kClose, "", false, kMask), kCloseProtocolError), "");
  EXPECT_EQ(fails(EncodeFrame(Opcode::kContinuation, "x", true, kMask), kCloseProtocolError), "");
  EXPECT_EQ(
      fails(EncodeFrame(Opcode::kText, std::string(2000, 'x'), true, kMask), kCloseTooBig, 1000),
      "");
  std::string reserved = EncodeFrame(Opcode::kText, "x", true, kMask);
  reserved[0] = static_cast<char>(reserved[0] | 0x40);
  EXPECT_EQ(fails(reserved, kCloseProtocolError), "");
  std::string opcode = EncodeFrame(Opcode::kText, "x", true, kMask);
  opcode[0] = static_cast<char>(0x83);
  EXPECT_EQ(fails(opcode, kCloseProtocolError), "");
}

// A real server: the session sends a message, answers a ping that came in the handshake's
// packet, and completes the closing handshake.
class Tcp {
 public:
  explicit Tcp(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{.tv_sec = 10, .tv_usec = 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Tcp() { ::close(fd_); }
  bool connected() const { return connected_; }
  void Send(std::string_view b) { ::send(fd_, b.data(), b.size(), MSG_NOSIGNAL); }
  // Reads until `buffer` holds at least `n` bytes, or the peer closes (false).
  bool ReadAtLeast(size_t n) {
    char buf[4096];
    while (buffer.size() < n) {
      ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
      if (got <= 0) return false;
      buffer.append(buf, static_cast<size_t>(got));
    }
    return true;
  }
  bool PeerClosed() {
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }
  std::string buffer;

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// Parses one unmasked server frame from the front of `buffer`.
std::optional<Message> TakeServerFrame(std::string& buffer) {
  Decoder d(1 << 20, /*require_mask=*/false);
  std::vector<Message> out;
  if (buffer.size() < 2) return std::nullopt;
  size_t len = static_cast<uint8_t>(buffer[1]) & 0x7f;
  size_t header = 2;
  if (len == 126) {
    len = (static_cast<uint8_t>(buffer[2]) << 8) | static_cast<uint8_t>(buffer[3]);
    header = 4;
  }
  if (buffer.size() < header + len) return std::nullopt;
  if (!d.Feed(buffer.substr(0, header + len), &out) || out.size() != 1) return std::nullopt;
  buffer.erase(0, header + len);
  return out[0];
}

TEST(WebSocketSession, GreetsAnswersPingsAndCompletesTheCloseOverARealServer) {
  std::promise<uint16_t> closed;
  auto server = Server::Listen({.address = "127.0.0.1:0"}, [&](Request&& req, auto writer) {
    auto s = Session::Accept(req, writer, "echo",
                             {.on_message = [](Opcode, std::string&&) {},
                              .on_close = [&closed](uint16_t code) { closed.set_value(code); }});
    if (!s) return;
    (*s)->SendText("welcome");
  });
  ASSERT_TRUE(server.has_value());
  (*server)->Start();
  Tcp c((*server)->port());
  ASSERT_TRUE(c.connected());
  // The handshake and the first frame in one write: the early frame must not be lost.
  c.Send(
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Protocol: echo\r\n\r\n" +
      EncodeFrame(Opcode::kPing, "are you there", true, kMask));
  ASSERT_TRUE(c.ReadAtLeast(12));
  size_t end = c.buffer.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  std::string head = c.buffer.substr(0, end);
  c.buffer.erase(0, end + 4);
  EXPECT_NE(head.find("101"), std::string::npos) << head;
  EXPECT_NE(head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << head;
  std::vector<Message> got;
  while (got.size() < 2) {
    auto m = TakeServerFrame(c.buffer);
    if (m) {
      got.push_back(*m);
      continue;
    }
    ASSERT_TRUE(c.ReadAtLeast(c.buffer.size() + 1));
  }
  EXPECT_EQ(got[0].opcode, Opcode::kText);
  EXPECT_EQ(got[0].payload, "welcome");
  EXPECT_EQ(got[1].opcode, Opcode::kPong);
  EXPECT_EQ(got[1].payload, "are you there");
  c.Send(EncodeFrame(Opcode::kClose, ClosePayload(kCloseNormal, "bye"), true, kMask));
  for (;;) {
    auto m = TakeServerFrame(c.buffer);
    if (m) {
      EXPECT_EQ(m->opcode, Opcode::kClose);
      break;
    }
    ASSERT_TRUE(c.ReadAtLeast(c.buffer.size() + 1));
  }
  EXPECT_TRUE(c.PeerClosed());
  EXPECT_EQ(closed.get_future().get(), kCloseNormal);
  (*server)->Stop();
}

TEST(WebSocketSession, BadHandshakeIsA400) {
  auto server = Server::Listen({.address = "127.0.0.1:0"}, [&](Request&& req, auto writer) {
    (void)Session::Accept(req, writer, "", {});
  });
  ASSERT_TRUE(server.has_value());
  (*server)->Start();
  Tcp c((*server)->port());
  c.Send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  ASSERT_TRUE(c.ReadAtLeast(12));
  EXPECT_TRUE(c.buffer.starts_with("HTTP/1.1 400")) << c.buffer;
  (*server)->Stop();
}

}  // namespace
}  // namespace berth::http::ws
