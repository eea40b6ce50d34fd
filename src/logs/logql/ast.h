// LogQL's syntax tree: what `Parse` (parser.h) builds and the engine (engine.h) runs. The
// subset is Loki's: a log query is a stream selector and a pipeline of stages (line filters,
// parsers, label filters, line_format); a metric query wraps a log query in a range
// aggregation (count_over_time, rate, bytes_over_time, bytes_rate, quantile/sum/avg/min/
// max_over_time with unwrap), then vector aggregations (sum, avg, min, max, count, topk,
// bottomk by/without) and binary operators. Every node keeps the byte offset it came from.
// Thread-safety: immutable once parsed; shared between the engine's workers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "logs/matcher.h"

namespace re2 {
class RE2;
}

namespace berth::logs::logql {

// `|= "a"`, `!= "a"`, `|~ "re"`, `!~ "re"`; `|= "a" or "b"` keeps alternatives.
struct LineFilter {
  enum class Op { kContains, kNotContains, kMatches, kNotMatches };
  Op op = Op::kContains;
  std::vector<std::string> values;                   // one, or the `or` alternatives
  std::vector<std::shared_ptr<const re2::RE2>> res;  // for kMatches / kNotMatches
};

enum class CmpOp { kEq, kNeq, kGt, kGte, kLt, kLte };

// A label filter: string matchers (`level="error"`, `path=~"/api.*"`) and numeric
// comparisons (`status >= 500`, `latency > 250ms`, `size < 1KB`), joined by and/or.
struct LabelFilter {
  enum class Kind { kString, kNumber, kAnd, kOr };
  enum class Unit { kNumber, kDuration, kBytes };
  Kind kind = Kind::kString;
  std::optional<LabelMatcher> matcher;  // kString
  std::string name;                     // kNumber
  CmpOp cmp = CmpOp::kEq;
  double value = 0;  // seconds for durations, bytes for sizes
  Unit unit = Unit::kNumber;
  std::unique_ptr<LabelFilter> left, right;  // kAnd, kOr
};

// `json`, `json a="x.y", b="z[0]"`, `logfmt`, `pattern "<ip> - <_>"`, `regexp "(?P<x>...)"`.
struct Parser {
  enum class Kind { kJson, kLogfmt, kPattern, kRegexp };
  Kind kind = Kind::kJson;
  std::vector<std::pair<std::string, std::string>> json_paths;  // label -> path
  std::string pattern;
  struct PatternPart {
    bool capture = false;
    std::string text;  // literal, or the capture's name ("_" : skipped)
  };
  std::vector<PatternPart> parts;
  std::shared_ptr<const re2::RE2> re;
  std::vector<std::string> re_names;  // capture group index-1 -> label name
};

// `line_format "{{.level}} {{ .msg }}"`: literal text and label references.
struct LineFormat {
  struct Part {
    bool label = false;
    std::string text;  // literal, or the label's name
  };
  std::vector<Part> parts;
};

struct Stage {
  enum class Kind { kLineFilter, kParser, kLabelFilter, kLineFormat, kDrop, kKeep };
  Kind kind = Kind::kLineFilter;
  size_t pos = 0;
  LineFilter line_filter;
  Parser parser;
  std::shared_ptr<LabelFilter> label_filter;
  LineFormat line_format;
  std::vector<std::string> names;  // drop / keep
};

struct LogQuery {
  std::vector<LabelMatcher> matchers;
  std::vector<Stage> pipeline;
  size_t pos = 0;
};

struct Expr;

struct RangeAggregation {
  enum class Fn {
    kCountOverTime,
    kRate,
    kBytesOverTime,
    kBytesRate,
    kQuantileOverTime,
    kSumOverTime,
    kAvgOverTime,
    kMinOverTime,
    kMaxOverTime,
    kFirstOverTime,
    kLastOverTime,
    kRateCounter,
  };
  Fn fn = Fn::kCountOverTime;
  LogQuery log;
  int64_t range_ns = 0;
  int64_t offset_ns = 0;
  double quantile = 0;  // quantile_over_time's parameter
  // unwrap: the label whose value is the sample; conversion for durations and byte sizes.
  std::optional<std::string> unwrap;
  enum class Conversion { kNone, kDuration, kBytes } conversion = Conversion::kNone;
  std::vector<Stage> post_unwrap;  // label filters after unwrap
  // Grouping on the range aggregation itself (`quantile_over_time(...) by (x)`).
  std::optional<std::vector<std::string>> grouping;
  bool without = false;
  size_t pos = 0;
};

struct VectorAggregation {
  enum class Op { kSum, kAvg, kMin, kMax, kCount, kTopk, kBottomk, kStddev, kStdvar };
  Op op = Op::kSum;
  std::vector<std::string> grouping;
  bool without = false;
  bool has_grouping = false;
  int64_t param = 0;  // topk / bottomk
  std::unique_ptr<Expr> inner;
  size_t pos = 0;
};

struct BinaryOp {
  enum class Op {
    kAdd,
    kSub,
    kMul,
    kDiv,
    kMod,
    kPow,
    kEq,
    kNeq,
    kGt,
    kGte,
    kLt,
    kLte,
    kAnd,
    kOr,
    kUnless
  };
  Op op = Op::kAdd;
  bool return_bool = false;  // `> bool`
  std::unique_ptr<Expr> left, right;
  size_t pos = 0;
};

// A number; `vector(1)` is a label-less series with that value at every step.
struct Literal {
  double value = 0;
  bool vector = false;
};

struct Expr {
  std::variant<LogQuery, RangeAggregation, VectorAggregation, BinaryOp, Literal> node;
  bool is_log() const { return std::holds_alternative<LogQuery>(node); }
};

}  // namespace berth::logs::logql
