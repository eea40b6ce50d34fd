#include "registry/dns/message.h"

#include <fmt/core.h>

#include <map>

namespace berth::registry::dns {
namespace {

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> m) : m_(m) {}
  bool U8(uint8_t& v) {
    if (pos_ + 1 > m_.size()) return false;
    v = m_[pos_++];
    return true;
  }
  bool U16(uint16_t& v) {
    if (pos_ + 2 > m_.size()) return false;
    v = static_cast<uint16_t>((m_[pos_] << 8) | m_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool U32(uint32_t& v) {
    uint16_t hi, lo;
    if (!U16(hi) || !U16(lo)) return false;
    v = (uint32_t{hi} << 16) | lo;
    return true;
  }
  bool Skip(size_t n) {
    if (n > m_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  // Reads a possibly compressed name; `error` says what is wrong when it returns false.
  bool Name(std::string& out, std::string& error) {
    out.clear();
    size_t p = pos_;
    bool jumped = false;
    int jumps = 0;
    size_t wire_len = 1;  // the root label
    for (;;) {
      if (p >= m_.size()) {
        error = "name runs past the end of the message";
        return false;
      }
      uint8_t len = m_[p];
      if ((len & 0xC0) == 0xC0) {
        if (p + 1 >= m_.size()) {
          error = "compression pointer runs past the end";
          return false;
        }
        size_t target = (static_cast<size_t>(len & 0x3F) << 8) | m_[p + 1];
        if (target >= p) {
          error = "compression pointer does not point backwards";
          return false;
        }
        if (++jumps > 32) {
          error = "too many compression pointers";
          return false;
        }
        if (!jumped) pos_ = p + 2;
        jumped = true;
        p = target;
        continue;
      }
      if ((len & 0xC0) != 0) {
        error = "unknown label type";
        return false;
      }
      if (len == 0) {
        if (!jumped) pos_ = p + 1;
        return true;
      }
      if (p + 1 + len > m_.size()) {
        error = "label runs past the end of the message";
        return false;
      }
      wire_len += 1 + len;
      if (wire_len > kMaxNameBytes) {
        error = "name longer than 255 bytes";
        return false;
      }
      if (!out.empty()) out.push_back('.');
      for (size_t i = 0; i < len; ++i) {
        char c = static_cast<char>(m_[p + 1 + i]);
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c == '.') {
          error = "label contains a dot";
          return false;
        }
        out.push_back(c);
      }
      p += 1 + len;
    }
  }
  size_t pos() const { return pos_; }

 private:
  std::span<const uint8_t> m_;
  size_t pos_ = 0;
};

class Writer {
 public:
  void U8(uint8_t v) { b_.push_back(v); }
  void U16(uint16_t v) {
    b_.push_back(static_cast<uint8_t>(v >> 8));
    b_.push_back(static_cast<uint8_t>(v & 0xff));
  }
  void U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    U16(static_cast<uint16_t>(v & 0xffff));
  }
  void Name(std::string_view name) {
    // Compression: reuse any suffix already written.
    while (!name.empty()) {
      auto it = offsets_.find(std::string(name));
      if (it != offsets_.end()) {
        U16(static_cast<uint16_t>(0xC000 | it->second));
        return;
      }
      if (b_.size() < 0x3FFF && offsets_.emplace(std::string(name), b_.size()).second) {
        added_.emplace_back(name);
      }
      auto dot = name.find('.');
      auto label = name.substr(0, dot);
      if (label.size() > kMaxLabelBytes) label = label.substr(0, kMaxLabelBytes);
      U8(static_cast<uint8_t>(label.size()));
      b_.insert(b_.end(), label.begin(), label.end());
      name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
    }
    U8(0);
  }
  void Set16(size_t at, uint16_t v) {
    b_[at] = static_cast<uint8_t>(v >> 8);
    b_[at + 1] = static_cast<uint8_t>(v & 0xff);
  }
  size_t size() const { return b_.size(); }
  // A mark to roll back to: bytes written and names remembered.
  std::pair<size_t, size_t> Mark() const { return {b_.size(), added_.size()}; }
  void Rollback(std::pair<size_t, size_t> mark) {
    b_.resize(mark.first);
    while (added_.size() > mark.second) {
      offsets_.erase(added_.back());
      added_.pop_back();
    }
  }
  std::vector<uint8_t> Take() { return std::move(b_); }

 private:
  std::vector<uint8_t> b_;
  std::map<std::string, size_t> offsets_;
  std::vector<std::string> added_;
};

void WriteRecord(Writer& w, const Record& r) {
  w.Name(r.name);
  w.U16(r.type);
  w.U16(kClassIn);
  w.U32(r.ttl);
  size_t len_at = w.size();
  w.U16(0);
  size_t start = w.size();
  if (r.type == type::kA) {
    w.U32(r.a);
  } else if (r.type == type::kSrv) {
    w.U16(r.priority);
    w.U16(r.weight);
    w.U16(r.port);
    w.Name(r.target);
  }
  w.Set16(len_at, static_cast<uint16_t>(w.size() - start));
}

void WriteOpt(Writer& w, uint16_t udp_size) {
  w.U8(0);  // root name
  w.U16(type::kOpt);
  w.U16(udp_size);
  w.U32(0);  // extended rcode, version, flags
  w.U16(0);  // no options
}

}  // namespace

ParseResult ParseQuery(std::span<const uint8_t> message) {
  ParseResult out;
  Reader r(message);
  uint16_t id, flags, qd, an, ns, ar;
  if (!r.U16(id) || !r.U16(flags) || !r.U16(qd) || !r.U16(an) || !r.U16(ns) || !r.U16(ar)) {
    out.kind = ParseResult::Kind::kDrop;
    out.error = "shorter than a DNS header";
    return out;
  }
  out.query.id = id;
  out.query.opcode = static_cast<uint8_t>((flags >> 11) & 0xF);
  out.query.rd = (flags & 0x0100) != 0;
  auto fail = [&](Rcode rc, std::string why) {
    out.kind = ParseResult::Kind::kError;
    out.rcode = rc;
    out.error = std::move(why);
    return out;
  };
  if (flags & 0x8000) {
    out.kind = ParseResult::Kind::kDrop;
    out.error = "a response, not a query";
    return out;
  }
  if (out.query.opcode != 0) return fail(Rcode::kNotImp, "only standard queries are served");
  if (qd != 1) return fail(Rcode::kFormErr, fmt::format("{} questions; exactly one is served", qd));
  if (an != 0 || ns != 0) return fail(Rcode::kFormErr, "a query with answer or authority records");
  std::string err;
  if (!r.Name(out.query.question.name, err)) return fail(Rcode::kFormErr, "question: " + err);
  if (!r.U16(out.query.question.type) || !r.U16(out.query.question.klass)) {
    return fail(Rcode::kFormErr, "question is cut short");
  }
  for (uint16_t i = 0; i < ar; ++i) {
    std::string name;
    uint16_t t, cls, rdlen;
    uint32_t ttl;
    if (!r.Name(name, err)) return fail(Rcode::kFormErr, "additional record: " + err);
    if (!r.U16(t) || !r.U16(cls) || !r.U32(ttl) || !r.U16(rdlen) || !r.Skip(rdlen)) {
      return fail(Rcode::kFormErr, "additional record is cut short");
    }
    if (t == type::kOpt) {
      if (out.query.edns) return fail(Rcode::kFormErr, "more than one OPT record");
      if (!name.empty()) return fail(Rcode::kFormErr, "OPT record with a non-root name");
      out.query.edns = true;
      out.query.edns_udp_size = cls;
    }
  }
  if (r.pos() != message.size()) return fail(Rcode::kFormErr, "trailing bytes after the message");
  out.kind = ParseResult::Kind::kQuery;
  return out;
}

std::vector<uint8_t> BuildResponse(const Response& resp, size_t max_bytes) {
  max_bytes = std::max(max_bytes, kClassicUdpBytes);
  Writer w;
  w.U16(resp.id);
  uint16_t flags = 0x8000 | static_cast<uint16_t>((resp.opcode & 0xF) << 11);
  if (resp.aa) flags |= 0x0400;
  if (resp.rd) flags |= 0x0100;
  flags |= static_cast<uint16_t>(resp.rcode) & 0xF;
  w.U16(flags);
  w.U16(resp.question ? 1 : 0);
  w.U16(0);  // answers, set below
  w.U16(0);  // authority
  w.U16(0);  // additional, set below
  if (resp.question) {
    w.Name(resp.question->name);
    w.U16(resp.question->type);
    w.U16(resp.question->klass);
  }
  const size_t opt_bytes = resp.edns ? 11 : 0;
  bool truncated = false;
  uint16_t answers = 0;
  for (const auto& rec : resp.answers) {
    auto mark = w.Mark();
    WriteRecord(w, rec);
    if (w.size() + opt_bytes > max_bytes) {
      w.Rollback(mark);
      truncated = true;
      break;
    }
    ++answers;
  }
  uint16_t additional = 0;
  if (!truncated) {
    for (const auto& rec : resp.additional) {
      auto mark = w.Mark();
      WriteRecord(w, rec);
      if (w.size() + opt_bytes > max_bytes) {
        w.Rollback(mark);
        break;  // additional records are optional: no TC for them
      }
      ++additional;
    }
  }
  if (resp.edns) {
    WriteOpt(w, resp.edns_udp_size);
    ++additional;
  }
  if (truncated) w.Set16(2, static_cast<uint16_t>(flags | 0x0200));
  w.Set16(6, answers);
  w.Set16(10, additional);
  return w.Take();
}

std::string EncodeIpv4Hex(uint32_t ip) { return fmt::format("{:08x}", ip); }

std::optional<uint32_t> ParseIpv4(std::string_view text) {
  uint32_t out = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    if (i >= text.size()) return std::nullopt;
    uint32_t v = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      v = v * 10 + static_cast<uint32_t>(text[i] - '0');
      if (++digits > 3 || v > 255) return std::nullopt;
      ++i;
    }
    if (digits == 0) return std::nullopt;
    out = (out << 8) | v;
    ++parts;
    if (parts < 4) {
      if (i >= text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != text.size()) return std::nullopt;
  return out;
}

}  // namespace berth::registry::dns
