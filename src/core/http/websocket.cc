#include "core/http/websocket.h"

#include <fmt/core.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

namespace berth::http::ws {
namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool HeaderHasToken(const Request& request, std::string_view name, std::string_view token) {
  for (const auto& f : request.headers.fields()) {
    if (!EqualsIgnoreCase(f.name, name)) continue;
    for (std::string_view item : SplitHeaderList(f.value)) {
      if (EqualsIgnoreCase(item, token)) return true;
    }
  }
  return false;
}

}  // namespace

std::string AcceptKey(std::string_view client_key) {
  std::string input(client_key);
  input.append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

bool IsUpgrade(const Request& request) { return HeaderHasToken(request, "Upgrade", "websocket"); }

bool OffersProtocol(const Request& request, std::string_view protocol) {
  return HeaderHasToken(request, "Sec-WebSocket-Protocol", protocol);
}

Result<void> CheckHandshake(const Request& request) {
  if (request.method != "GET") {
    return Fail(ErrorCode::kInvalidArgument, "a WebSocket handshake is a GET request");
  }
  if (!IsUpgrade(request)) {
    return Fail(ErrorCode::kInvalidArgument,
                "this endpoint speaks WebSocket: send Upgrade: websocket");
  }
  if (!HeaderHasToken(request, "Connection", "upgrade")) {
    return Fail(ErrorCode::kInvalidArgument, "WebSocket handshake without Connection: Upgrade");
  }
  if (request.headers.Get("Sec-WebSocket-Version").value_or("") != "13") {
    return Fail(ErrorCode::kInvalidArgument, "WebSocket version must be 13");
  }
  auto key = request.headers.Get("Sec-WebSocket-Key");
  if (!key || key->size() != 24 || !key->ends_with("==")) {
    return Fail(ErrorCode::kInvalidArgument,
                "Sec-WebSocket-Key must be 16 random bytes in base64 (24 characters)");
  }
  unsigned char decoded[24];
  if (EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(key->data()), 24) != 18) {
    return Fail(ErrorCode::kInvalidArgument, "Sec-WebSocket-Key is not base64");
  }
  return {};
}

Response HandshakeResponse(const Request& request, std::string_view protocol) {
  Response r;
  r.status = 101;
  r.headers.Set("Upgrade", "websocket");
  r.headers.Set("Connection", "Upgrade");
  r.headers.Set("Sec-WebSocket-Accept",
                AcceptKey(request.headers.Get("Sec-WebSocket-Key").value_or("")));
  if (!protocol.empty()) r.headers.Set("Sec-WebSocket-Protocol", std::string(protocol));
  return r;
}

std::string EncodeFrame(Opcode opcode, std::string_view payload, bool fin, const uint8_t* mask) {
  std::string out;
  out.reserve(payload.size() + 14);
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | static_cast<uint8_t>(opcode)));
  const uint8_t mask_bit = mask ? 0x80 : 0;
  const uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  if (!mask) {
    out.append(payload);
    return out;
  }
  out.append(reinterpret_cast<const char*>(mask), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(payload[i]) ^ mask[i % 4]));
  }
  return out;
}

std::string ClosePayload(uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xff));
  out.append(reason.substr(0, 123));
  return out;
}

std::expected<void, ProtocolError> Decoder::Feed(std::string_view bytes,
                                                 std::vector<Message>* out) {
  if (failed_) return std::unexpected(ProtocolError{kCloseProtocolError, "session failed"});
  buffer_.append(bytes);
  for (;;) {
    auto more = Step(out);
    if (!more) {
      failed_ = true;
      return std::unexpected(more.error());
    }
    if (!*more) return {};
  }
}

std::expected<bool, ProtocolError> Decoder::Step(std::vector<Message>* out) {
  if (buffer_.size() < 2) return false;
  const auto b0 = static_cast<uint8_t>(buffer_[0]);
  const auto b1 = static_cast<uint8_t>(buffer_[1]);
  const bool fin = b0 & 0x80;
  const uint8_t op = b0 & 0x0f;
  const bool masked = b1 & 0x80;
  if (b0 & 0x70) return std::unexpected(ProtocolError{kCloseProtocolError, "reserved bits set"});
  if (require_mask_ && !masked) {
    return std::unexpected(ProtocolError{kCloseProtocolError, "client frames must be masked"});
  }
  const bool control = op & 0x08;
  if (op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10) {
    return std::unexpected(
        ProtocolError{kCloseProtocolError, fmt::format("unknown opcode {}", op)});
  }
  size_t at = 2;
  uint64_t length = b1 & 0x7f;
  if (length == 126) {
    if (buffer_.size() < 4) return false;
    length = (static_cast<uint64_t>(static_cast<uint8_t>(buffer_[2])) << 8) |
             static_cast<uint8_t>(buffer_[3]);
    at = 4;
  } else if (length == 127) {
    if (buffer_.size() < 10) return false;
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<uint8_t>(buffer_[2 + i]);
    at = 10;
    if (length >> 63) return std::unexpected(ProtocolError{kCloseProtocolError, "bad length"});
  }
  if (control && (!fin || length > 125)) {
    return std::unexpected(
        ProtocolError{kCloseProtocolError, "control frames must be whole and at most 125 bytes"});
  }
  const size_t pending = in_message_ ? fragments_.size() : 0;
  if (!control && length + pending > max_message_) {
    return std::unexpected(
        ProtocolError{kCloseTooBig, fmt::format("message over {} bytes", max_message_)});
  }
  uint8_t mask[4] = {0, 0, 0, 0};
  if (masked) {
    if (buffer_.size() < at + 4) return false;
    std::memcpy(mask, buffer_.data() + at, 4);
    at += 4;
  }
  if (buffer_.size() < at + length) return false;
  std::string payload = buffer_.substr(at, length);
  if (masked) {
    for (size_t i = 0; i < payload.size(); ++i)
      payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
  }
  buffer_.erase(0, at + length);
  if (control) {
    out->push_back({static_cast<Opcode>(op), std::move(payload)});
    return true;
  }
  if (op == 0) {
    if (!in_message_) {
      return std::unexpected(ProtocolError{kCloseProtocolError, "continuation without a message"});
    }
    fragments_.append(payload);
  } else {
    if (in_message_) {
      return std::unexpected(
          ProtocolError{kCloseProtocolError, "new message inside a fragmented one"});
    }
    fragment_opcode_ = static_cast<Opcode>(op);
    fragments_ = std::move(payload);
    in_message_ = true;
  }
  if (fin) {
    out->push_back({fragment_opcode_, std::move(fragments_)});
    fragments_.clear();
    in_message_ = false;
  }
  return true;
}

Result<std::shared_ptr<Session>> Session::Accept(const Request& request,
                                                 std::shared_ptr<ResponseWriter> writer,
                                                 std::string_view protocol, Handlers handlers,
                                                 size_t max_message) {
  if (auto ok = CheckHandshake(request); !ok) {
    Response bad = Response::Json(
        400, fmt::format("{{\"error\":{{\"code\":\"invalid_argument\",\"message\":\"{}\"}}}}\n",
                         ok.error().message));
    writer->Send(std::move(bad));
    return std::unexpected(ok.error());
  }
  std::shared_ptr<Session> s(new Session(writer, std::move(handlers), max_message));
  std::weak_ptr<Session> weak = s;
  writer->Upgrade(HandshakeResponse(request, protocol), [weak](std::string_view bytes) {
    if (auto self = weak.lock()) self->OnData(bytes);
  });
  // The session lives as long as its connection: the close callback holds it.
  writer->OnClose([s] { s->Finish(1006); });
  return s;
}

bool Session::Send(Opcode opcode, std::string_view payload) {
  {
    std::lock_guard lock(mu_);
    if (closing_ || finished_) return false;
  }
  return writer_->Write(EncodeFrame(opcode, payload));
}

void Session::Close(uint16_t code, std::string_view reason) {
  {
    std::lock_guard lock(mu_);
    if (closing_ || finished_) return;
    closing_ = true;
  }
  writer_->Write(EncodeFrame(Opcode::kClose, ClosePayload(code, reason)));
  writer_->End();
  Finish(code);
}

bool Session::closed() const {
  std::lock_guard lock(mu_);
  return closing_ || finished_;
}

void Session::Finish(uint16_t code) {
  std::function<void(uint16_t)> on_close;
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    on_close = std::move(handlers_.on_close);
  }
  if (on_close) on_close(code);
}

void Session::OnData(std::string_view bytes) {
  std::vector<Message> messages;
  auto fed = decoder_.Feed(bytes, &messages);
  for (auto& m : messages) {
    switch (m.opcode) {
      case Opcode::kPing:
        Send(Opcode::kPong, m.payload);
        break;
      case Opcode::kPong:
        break;
      case Opcode::kClose: {
        uint16_t code = kCloseNormal;
        if (m.payload.size() >= 2) {
          code = static_cast<uint16_t>((static_cast<uint8_t>(m.payload[0]) << 8) |
                                       static_cast<uint8_t>(m.payload[1]));
        }
        Close(code == 1005 || code == 1006 ? kCloseNormal : code);
        return;
      }
      default:
        if (handlers_.on_message && !closed()) handlers_.on_message(m.opcode, std::move(m.payload));
    }
  }
  if (!fed) Close(fed.error().close_code, fed.error().reason);
}

}  // namespace berth::http::ws
