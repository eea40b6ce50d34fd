#include "logs/logql/lexer.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

#include <fmt/format.h>

namespace berth::logs::logql {

std::string Position(std::string_view query, size_t pos) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < pos && i < query.size(); ++i) {
    if (query[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return fmt::format("line {}, col {}", line, col);
}

std::optional<int64_t> ParseDurationNanos(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  int last_rank = 100;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start) return std::nullopt;
    int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data() + start, text.data() + i, n);
    if (ec != std::errc()) return std::nullopt;
    size_t u = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(u, i - u);
    int64_t scale;
    int rank;
    if (unit == "ms")
      scale = 1'000'000, rank = 1;
    else if (unit == "s")
      scale = 1'000'000'000, rank = 2;
    else if (unit == "m")
      scale = 60'000'000'000, rank = 3;
    else if (unit == "h")
      scale = 3'600'000'000'000, rank = 4;
    else if (unit == "d")
      scale = 86'400'000'000'000, rank = 5;
    else if (unit == "w")
      scale = 604'800'000'000'000, rank = 6;
    else if (unit == "y")
      scale = 31'536'000'000'000'000, rank = 7;
    else
      return std::nullopt;
    if (rank >= last_rank) return std::nullopt;  // units largest first, each once
    last_rank = rank;
    if (n > (INT64_MAX - total) / scale) return std::nullopt;
    total += n * scale;
  }
  return total;
}

std::optional<double> ParseBytes(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return std::nullopt;
  double n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + i, n);
  if (ec != std::errc() || p != text.data() + i) return std::nullopt;
  std::string unit(text.substr(i));
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::pair<const char*, double> kUnits[] = {{"B", 1},
                                                          {"KB", 1e3},
                                                          {"MB", 1e6},
                                                          {"GB", 1e9},
                                                          {"TB", 1e12},
                                                          {"KIB", 1024.0},
                                                          {"MIB", 1048576.0},
                                                          {"GIB", 1073741824.0},
                                                          {"TIB", 1099511627776.0},
                                                          {"K", 1e3},
                                                          {"M", 1e6},
                                                          {"G", 1e9}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) return n * scale;
  }
  return std::nullopt;
}

namespace {

Error LexError(std::string_view q, size_t pos, std::string_view what) {
  return Error(ErrorCode::kInvalidArgument,
               fmt::format("parse error at {}: {}", Position(q, pos), what));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// Reads a "..." string starting at q[i] == '"'; returns the offset after the closing quote.
Result<size_t> LexQuoted(std::string_view q, size_t i, std::string& out) {
  size_t start = i++;
  while (i < q.size() && q[i] != '"') {
    char c = q[i];
    if (c == '\n') return std::unexpected(LexError(q, start, "newline in string"));
    if (c != '\\') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= q.size()) break;
    char e = q[i + 1];
    i += 2;
    switch (e) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
        out += '\\';
        break;
      case '"':
        out += '"';
        break;
      case '\'':
        out += '\'';
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (i + digits > q.size()) return std::unexpected(LexError(q, i - 2, "short escape"));
        uint32_t v = 0;
        for (size_t k = 0; k < digits; ++k) {
          int h = HexValue(q[i + k]);
          if (h < 0) return std::unexpected(LexError(q, i + k, "bad hex digit in escape"));
          v = v * 16 + static_cast<uint32_t>(h);
        }
        i += digits;
        if (e == 'x') {
          out += static_cast<char>(v);
        } else {
          if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
            return std::unexpected(
                LexError(q, i - digits - 2, "escape is not a Unicode code point"));
          }
          AppendUtf8(out, v);
        }
        break;
      }
      default:
        return std::unexpected(LexError(q, i - 2, fmt::format("unknown escape \\{} in string", e)));
    }
  }
  if (i >= q.size()) return std::unexpected(LexError(q, start, "unterminated string"));
  return i + 1;
}

bool IdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

std::string_view TokName(Tok t) {
  switch (t) {
    case Tok::kEnd:
      return "end of query";
    case Tok::kIdent:
      return "name";
    case Tok::kString:
      return "string";
    case Tok::kNumber:
      return "number";
    case Tok::kDuration:
      return "duration";
    case Tok::kBytes:
      return "byte size";
    case Tok::kLBrace:
      return "{";
    case Tok::kRBrace:
      return "}";
    case Tok::kLParen:
      return "(";
    case Tok::kRParen:
      return ")";
    case Tok::kLBracket:
      return "[";
    case Tok::kRBracket:
      return "]";
    case Tok::kComma:
      return ",";
    case Tok::kEq:
      return "=";
    case Tok::kNeq:
      return "!=";
    case Tok::kRe:
      return "=~";
    case Tok::kNre:
      return "!~";
    case Tok::kPipeEq:
      return "|=";
    case Tok::kPipeRe:
      return "|~";
    case Tok::kPipe:
      return "|";
    case Tok::kGt:
      return ">";
    case Tok::kGte:
      return ">=";
    case Tok::kLt:
      return "<";
    case Tok::kLte:
      return "<=";
    case Tok::kEqEq:
      return "==";
    case Tok::kAdd:
      return "+";
    case Tok::kSub:
      return "-";
    case Tok::kMul:
      return "*";
    case Tok::kDiv:
      return "/";
    case Tok::kMod:
      return "%";
    case Tok::kPow:
      return "^";
  }
  return "?";
}

namespace {

// The operator or bracket that starts with `c` (then `n`): its kind and length.
std::optional<std::pair<Tok, size_t>> LexOperator(char c, char n) {
  using Op = std::pair<Tok, size_t>;
  switch (c) {
    case '{':
      return Op{Tok::kLBrace, 1};
    case '}':
      return Op{Tok::kRBrace, 1};
    case '(':
      return Op{Tok::kLParen, 1};
    case ')':
      return Op{Tok::kRParen, 1};
    case '[':
      return Op{Tok::kLBracket, 1};
    case ']':
      return Op{Tok::kRBracket, 1};
    case ',':
      return Op{Tok::kComma, 1};
    case '+':
      return Op{Tok::kAdd, 1};
    case '-':
      return Op{Tok::kSub, 1};
    case '*':
      return Op{Tok::kMul, 1};
    case '/':
      return Op{Tok::kDiv, 1};
    case '%':
      return Op{Tok::kMod, 1};
    case '^':
      return Op{Tok::kPow, 1};
    case '=':
      return n == '~' ? Op{Tok::kRe, 2} : n == '=' ? Op{Tok::kEqEq, 2} : Op{Tok::kEq, 1};
    case '!':
      if (n == '=') return Op{Tok::kNeq, 2};
      if (n == '~') return Op{Tok::kNre, 2};
      return std::nullopt;
    case '|':
      return n == '=' ? Op{Tok::kPipeEq, 2} : n == '~' ? Op{Tok::kPipeRe, 2} : Op{Tok::kPipe, 1};
    case '>':
      return n == '=' ? Op{Tok::kGte, 2} : Op{Tok::kGt, 1};
    case '<':
      return n == '=' ? Op{Tok::kLte, 2} : Op{Tok::kLt, 1};
    default:
      return std::nullopt;
  }
}

// A number, duration (`5m`, `1h30m`) or byte size (`10KB`) from q[i]; `i` moves past it.
Result<Token> LexNumber(std::string_view q, size_t& i) {
  size_t start = i;
  while (i < q.size() && (std::isalnum(static_cast<unsigned char>(q[i])) || q[i] == '.')) ++i;
  std::string_view text = q.substr(start, i - start);
  Token t{Tok::kNumber, std::string(text), 0, start};
  double v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && p == text.data() + text.size() && std::isfinite(v)) {
    t.num = v;
  } else if (auto d = ParseDurationNanos(text)) {
    t.kind = Tok::kDuration;
    t.num = static_cast<double>(*d);
  } else if (auto b = ParseBytes(text)) {
    t.kind = Tok::kBytes;
    t.num = *b;
  } else {
    return std::unexpected(
        LexError(q, start, fmt::format("\"{}\" is not a number, duration or byte size", text)));
  }
  return t;
}

}  // namespace

Result<std::vector<Token>> Lex(std::string_view q) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < q.size()) {
    char c = q[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '#') {  // comment to end of line
      while (i < q.size() && q[i] != '\n') ++i;
      continue;
    }
    char n = i + 1 < q.size() ? q[i + 1] : '\0';
    if (c == '"') {
      Token t{Tok::kString, {}, 0, i};
      auto end = LexQuoted(q, i, t.text);
      if (!end) return std::unexpected(end.error());
      i = *end;
      out.push_back(std::move(t));
      continue;
    }
    if (c == '`') {
      size_t close = q.find('`', i + 1);
      if (close == std::string_view::npos)
        return std::unexpected(LexError(q, i, "unterminated string"));
      out.push_back(Token{Tok::kString, std::string(q.substr(i + 1, close - i - 1)), 0, i});
      i = close + 1;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && std::isdigit(static_cast<unsigned char>(n)))) {
      auto t = LexNumber(q, i);
      if (!t) return std::unexpected(t.error());
      out.push_back(std::move(*t));
      continue;
    }
    if (IdentStart(c)) {
      size_t start = i;
      while (i < q.size() && IdentChar(q[i])) ++i;
      out.push_back(Token{Tok::kIdent, std::string(q.substr(start, i - start)), 0, start});
      continue;
    }
    if (auto op = LexOperator(c, n)) {
      out.push_back(Token{op->first, std::string(q.substr(i, op->second)), 0, i});
      i += op->second;
      continue;
    }
    std::string shown =
        static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f
            ? fmt::format("byte 0x{:02x}", static_cast<unsigned char>(c))
            : fmt::format("'{}'", c);
    return std::unexpected(LexError(q, i, "unexpected " + shown));
  }
  out.push_back(Token{Tok::kEnd, {}, 0, q.size()});
  return out;
}

}  // namespace berth::logs::logql
