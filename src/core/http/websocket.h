// WebSocket (RFC 6455) for the control-plane server: the handshake and a frame codec, and a
// session over a ResponseWriter that the server has switched to the upgraded protocol
// (ResponseWriter::Upgrade). The web console's terminal (container exec) runs on it.
//
// The Decoder is incremental and strict: client frames must be masked, control frames short
// and unfragmented, reserved bits clear, text valid UTF-8 is not checked (the console sends
// terminal bytes as binary), messages at most `max_message` bytes; a violation is an error
// carrying the close code to send (1002 protocol error, 1009 too big).
// Thread-safety: Decoder is a plain value; a WebSocketSession may send from any thread, and
// its handlers run on the connection's worker thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/http/message.h"
#include "core/http/server.h"

namespace berth::http::ws {

enum class Opcode : uint8_t {
  kContinuation = 0,
  kText = 1,
  kBinary = 2,
  kClose = 8,
  kPing = 9,
  kPong = 10,
};

inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseTooBig = 1009;
inline constexpr uint16_t kCloseInternal = 1011;

// The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key.
std::string AcceptKey(std::string_view client_key);

// Whether `request` is a WebSocket handshake this server accepts (GET, Upgrade: websocket,
// Connection: upgrade, Sec-WebSocket-Version: 13, a 16-byte base64 key); the error says what
// is missing. `IsUpgrade` only looks at the Upgrade header.
bool IsUpgrade(const Request& request);
// Whether the client offered `protocol` in Sec-WebSocket-Protocol.
bool OffersProtocol(const Request& request, std::string_view protocol);
Result<void> CheckHandshake(const Request& request);

// The 101 answer to a checked handshake; `protocol` (may be empty) is echoed as the chosen
// Sec-WebSocket-Protocol.
Response HandshakeResponse(const Request& request, std::string_view protocol);

// One frame. Server frames are unmasked; a client (tests) passes a mask.
std::string EncodeFrame(Opcode opcode, std::string_view payload, bool fin = true,
                        const uint8_t* mask = nullptr);
// A close frame's payload: the code, then the reason (cut to fit 123 bytes).
std::string ClosePayload(uint16_t code, std::string_view reason);

struct Message {
  Opcode opcode = Opcode::kText;  // kText, kBinary, kClose, kPing or kPong
  std::string payload;
};

struct ProtocolError {
  uint16_t close_code = kCloseProtocolError;
  std::string reason;
};

class Decoder {
 public:
  explicit Decoder(size_t max_message = 1 << 20, bool require_mask = true)
      : max_message_(max_message), require_mask_(require_mask) {}
  // Consumes `bytes`, appending every complete message (data messages reassembled from their
  // fragments; control frames as they come) to `out`. After an error it stays failed.
  std::expected<void, ProtocolError> Feed(std::string_view bytes, std::vector<Message>* out);

 private:
  std::expected<bool, ProtocolError> Step(std::vector<Message>* out);  // false: need more bytes

  const size_t max_message_;
  const bool require_mask_;
  std::string buffer_;     // bytes not consumed yet
  std::string fragments_;  // a data message in progress
  Opcode fragment_opcode_ = Opcode::kText;
  bool in_message_ = false;  // fragments_ holds a message's first frames
  bool failed_ = false;
};

// A server-side WebSocket on an upgraded connection: answers pings, reassembles messages,
// completes the closing handshake, and gives the rest to its handlers.
class Session : public std::enable_shared_from_this<Session> {
 public:
  struct Handlers {
    // A text or binary message, on the worker thread.
    std::function<void(Opcode opcode, std::string&& payload)> on_message;
    // Once, when the session ends for any reason (close frame, error, connection gone).
    std::function<void(uint16_t code)> on_close;
  };
  // Answers the handshake on `writer` (CheckHandshake first; an error is answered with 400
  // and returned) and starts the session.
  static Result<std::shared_ptr<Session>> Accept(const Request& request,
                                                 std::shared_ptr<ResponseWriter> writer,
                                                 std::string_view protocol, Handlers handlers,
                                                 size_t max_message = 1 << 20);

  // False once the session is closing or closed.
  bool SendText(std::string_view text) { return Send(Opcode::kText, text); }
  bool SendBinary(std::string_view data) { return Send(Opcode::kBinary, data); }
  // Sends a close frame and ends the connection (idempotent).
  void Close(uint16_t code, std::string_view reason = {});
  bool closed() const;

 private:
  Session(std::shared_ptr<ResponseWriter> writer, Handlers handlers, size_t max_message)
      : writer_(std::move(writer)), handlers_(std::move(handlers)), decoder_(max_message) {}
  bool Send(Opcode opcode, std::string_view payload);
  void OnData(std::string_view bytes);  // worker thread
  void Finish(uint16_t code);           // runs on_close once

  std::shared_ptr<ResponseWriter> writer_;
  Handlers handlers_;
  Decoder decoder_;  // worker thread only
  mutable std::mutex mu_;
  bool closing_ = false;   // guarded by mu_: a close frame was sent
  bool finished_ = false;  // guarded by mu_: on_close ran
};

}  // namespace berth::http::ws
