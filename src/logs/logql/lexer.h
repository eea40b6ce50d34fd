// LogQL's tokens: what the query parser and the label-set reader consume. Strings are
// unquoted here (Go escapes in "..." strings, none in `...`); numbers, durations ("5m",
// "1h30m") and byte sizes ("10KB") are told apart by their suffix. Each token keeps its byte
// offset so every parse error names the line and column it is at.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace berth::logs::logql {

enum class Tok {
  kEnd,
  kIdent,     // names, keywords and function names
  kString,    // text holds the unquoted value
  kNumber,    // text as written; num holds the value
  kDuration,  // text as written; num holds nanoseconds
  kBytes,     // text as written; num holds bytes
  kLBrace,
  kRBrace,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kEq,      // =
  kNeq,     // !=
  kRe,      // =~
  kNre,     // !~
  kPipeEq,  // |=
  kPipeRe,  // |~
  kPipe,    // |
  kGt,
  kGte,
  kLt,
  kLte,
  kEqEq,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
};

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  double num = 0;
  size_t pos = 0;  // byte offset in the query
};

// The tokens of `query`, ending with one kEnd token. Errors name the line and column.
Result<std::vector<Token>> Lex(std::string_view query);

// "line 1, col 5" for byte offset `pos` of `query` (1-based, columns in bytes).
std::string Position(std::string_view query, size_t pos);

// Parses a Prometheus/LogQL duration ("1h30m", "500ms", "2d"); nullopt when malformed.
std::optional<int64_t> ParseDurationNanos(std::string_view text);
// Parses a byte size as LogQL writes it ("10KB", "1.5MiB", "20B"); nullopt when malformed.
std::optional<double> ParseBytes(std::string_view text);

std::string_view TokName(Tok t);

}  // namespace berth::logs::logql
