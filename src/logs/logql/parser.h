// LogQL's parser: query text -> syntax tree (ast.h). Recursive descent over the lexer's
// tokens, following Loki's grammar for the supported subset. Errors are kInvalidArgument and
// read as Loki's do, with the position: `parse error at line 1, col 12: expected "}" or ","
// after a matcher, found "="`. Regexes (selectors, line filters, label filters, the regexp
// parser) are compiled here, so a bad regex is a parse error naming its position too.
// Thread-safety: pure function.
#pragma once

#include <string_view>

#include "core/error.h"
#include "logs/logql/ast.h"

namespace berth::logs::logql {

struct ParseLimits {
  size_t max_query_bytes = 64 * 1024;
  int max_depth = 64;  // nested parentheses and aggregations
};

Result<Expr> Parse(std::string_view query, const ParseLimits& limits = {});

// Parses a stream selector alone (`{app="api"}`), as the tail and series endpoints take.
Result<std::vector<LabelMatcher>> ParseSelector(std::string_view text);

}  // namespace berth::logs::logql
