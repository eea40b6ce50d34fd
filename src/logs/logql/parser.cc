#include "logs/logql/parser.h"

#include <re2/re2.h>

#include <fmt/format.h>

#include "logs/labels.h"
#include "logs/logql/lexer.h"

namespace berth::logs::logql {
namespace {

std::string Shown(const Token& t) {
  if (t.kind == Tok::kEnd) return "end of query";
  if (t.kind == Tok::kString) {
    std::string q;
    AppendQuoted(q, t.text.substr(0, 40));
    return "string " + q;
  }
  return "\"" + t.text.substr(0, 40) + "\"";
}

std::shared_ptr<const re2::RE2> CompileRegex(const std::string& pattern, bool anchored,
                                             std::string& error) {
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_dot_nl(anchored);
  auto re = std::make_shared<RE2>(anchored ? "^(?:" + pattern + ")$" : pattern, opts);
  if (!re->ok()) {
    error = re->error();
    return nullptr;
  }
  return re;
}

const std::pair<std::string_view, RangeAggregation::Fn> kRangeFns[] = {
    {"count_over_time", RangeAggregation::Fn::kCountOverTime},
    {"rate", RangeAggregation::Fn::kRate},
    {"bytes_over_time", RangeAggregation::Fn::kBytesOverTime},
    {"bytes_rate", RangeAggregation::Fn::kBytesRate},
    {"quantile_over_time", RangeAggregation::Fn::kQuantileOverTime},
    {"sum_over_time", RangeAggregation::Fn::kSumOverTime},
    {"avg_over_time", RangeAggregation::Fn::kAvgOverTime},
    {"min_over_time", RangeAggregation::Fn::kMinOverTime},
    {"max_over_time", RangeAggregation::Fn::kMaxOverTime},
    {"first_over_time", RangeAggregation::Fn::kFirstOverTime},
    {"last_over_time", RangeAggregation::Fn::kLastOverTime},
    {"rate_counter", RangeAggregation::Fn::kRateCounter},
};

const std::pair<std::string_view, VectorAggregation::Op> kVectorOps[] = {
    {"sum", VectorAggregation::Op::kSum},         {"avg", VectorAggregation::Op::kAvg},
    {"min", VectorAggregation::Op::kMin},         {"max", VectorAggregation::Op::kMax},
    {"count", VectorAggregation::Op::kCount},     {"topk", VectorAggregation::Op::kTopk},
    {"bottomk", VectorAggregation::Op::kBottomk}, {"stddev", VectorAggregation::Op::kStddev},
    {"stdvar", VectorAggregation::Op::kStdvar},
};

bool NeedsUnwrap(RangeAggregation::Fn fn) {
  using F = RangeAggregation::Fn;
  return fn != F::kCountOverTime && fn != F::kRate && fn != F::kBytesOverTime &&
         fn != F::kBytesRate;
}

class ParserImpl {
 public:
  ParserImpl(std::string_view q, std::vector<Token> tokens, const ParseLimits& limits)
      : q_(q), t_(std::move(tokens)), limits_(limits) {}

  Result<Expr> Query() {
    auto e = ParseExpr(0);
    if (!e) return e;
    if (Peek().kind != Tok::kEnd)
      return Err(Peek(), "unexpected " + Shown(Peek()) + " after the query");
    return e;
  }

  Result<std::vector<LabelMatcher>> SelectorOnly() {
    auto m = Selector();
    if (!m) return m;
    if (Peek().kind != Tok::kEnd)
      return Err(Peek(), "unexpected " + Shown(Peek()) + " after the selector");
    return m;
  }

 private:
  const Token& Peek(size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& Next() { return t_[std::min(i_++, t_.size() - 1)]; }
  bool IsIdent(std::string_view word, size_t ahead = 0) const {
    return Peek(ahead).kind == Tok::kIdent && Peek(ahead).text == word;
  }
  std::unexpected<Error> Err(const Token& at, std::string_view what) const {
    return std::unexpected(Error(ErrorCode::kInvalidArgument,
                                 fmt::format("parse error at {}: {}", Position(q_, at.pos), what)));
  }
  Result<Token> Expect(Tok kind, std::string_view context) {
    if (Peek().kind != kind) {
      return Err(Peek(), fmt::format("expected \"{}\" {}, found {}", TokName(kind), context,
                                     Shown(Peek())));
    }
    return Next();
  }

  static int Precedence(const Token& t, BinaryOp::Op& op) {
    using O = BinaryOp::Op;
    switch (t.kind) {
      case Tok::kIdent:
        if (t.text == "or") {
          op = O::kOr;
          return 1;
        }
        if (t.text == "and") {
          op = O::kAnd;
          return 2;
        }
        if (t.text == "unless") {
          op = O::kUnless;
          return 2;
        }
        return -1;
      case Tok::kEqEq:
        op = O::kEq;
        return 3;
      case Tok::kNeq:
        op = O::kNeq;
        return 3;
      case Tok::kGt:
        op = O::kGt;
        return 3;
      case Tok::kGte:
        op = O::kGte;
        return 3;
      case Tok::kLt:
        op = O::kLt;
        return 3;
      case Tok::kLte:
        op = O::kLte;
        return 3;
      case Tok::kAdd:
        op = O::kAdd;
        return 4;
      case Tok::kSub:
        op = O::kSub;
        return 4;
      case Tok::kMul:
        op = O::kMul;
        return 5;
      case Tok::kDiv:
        op = O::kDiv;
        return 5;
      case Tok::kMod:
        op = O::kMod;
        return 5;
      case Tok::kPow:
        op = O::kPow;
        return 6;
      default:
        return -1;
    }
  }

  Result<Expr> ParseExpr(int min_prec) {
    if (++depth_ > limits_.max_depth) return Err(Peek(), "query nests too deeply");
    auto left = Unary();
    if (!left) return left;
    while (true) {
      BinaryOp::Op op;
      int prec = Precedence(Peek(), op);
      if (prec < 0 || prec < min_prec) break;
      const Token& op_tok = Next();
      bool return_bool = false;
      if (IsIdent("bool")) {
        Next();
        return_bool = true;
      }
      // ^ is right-associative, the others left.
      auto right = ParseExpr(op == BinaryOp::Op::kPow ? prec : prec + 1);
      if (!right) return right;
      if (left->is_log() || right->is_log()) {
        return Err(op_tok, "binary operators take metric queries or numbers, not log queries");
      }
      BinaryOp b;
      b.op = op;
      b.return_bool = return_bool;
      b.pos = op_tok.pos;
      b.left = std::make_unique<Expr>(std::move(*left));
      b.right = std::make_unique<Expr>(std::move(*right));
      Expr e;
      e.node = std::move(b);
      left = std::move(e);
    }
    --depth_;
    return left;
  }

  Result<Expr> Unary() {
    const Token& t = Peek();
    if (t.kind == Tok::kSub || t.kind == Tok::kAdd) {
      Next();
      auto inner = Unary();
      if (!inner) return inner;
      if (t.kind == Tok::kAdd) return inner;
      Expr zero;
      zero.node = Literal{0};
      BinaryOp b;
      b.op = BinaryOp::Op::kSub;
      b.pos = t.pos;
      b.left = std::make_unique<Expr>(std::move(zero));
      b.right = std::make_unique<Expr>(std::move(*inner));
      Expr e;
      e.node = std::move(b);
      return e;
    }
    return Primary();
  }

  Result<Expr> Primary() {
    const Token& t = Peek();
    Expr e;
    switch (t.kind) {
      case Tok::kNumber:
        Next();
        e.node = Literal{t.num};
        return e;
      case Tok::kLParen: {
        Next();
        auto inner = ParseExpr(0);
        if (!inner) return inner;
        if (auto r = Expect(Tok::kRParen, "to close the parenthesis"); !r)
          return std::unexpected(r.error());
        return inner;
      }
      case Tok::kLBrace: {
        auto log = Log();
        if (!log) return std::unexpected(log.error());
        if (Peek().kind == Tok::kLBracket) {
          return Err(Peek(), "a range [" + Peek(1).text +
                                 "] needs a range function around it, e.g. count_over_time(...)");
        }
        e.node = std::move(*log);
        return e;
      }
      case Tok::kIdent:
        if (t.text == "vector" && Peek(1).kind == Tok::kLParen) {
          Next();
          Next();
          const Token& n = Peek();
          if (n.kind != Tok::kNumber) return Err(n, "vector() takes a number, found " + Shown(n));
          Next();
          if (auto r = Expect(Tok::kRParen, "to close vector("); !r)
            return std::unexpected(r.error());
          e.node = Literal{n.num, true};
          return e;
        }
        for (const auto& [name, fn] : kRangeFns) {
          if (t.text == name) return RangeAgg(fn);
        }
        for (const auto& [name, op] : kVectorOps) {
          if (t.text == name) return VectorAgg(op);
        }
        return Err(t, "unknown function or keyword " + Shown(t) +
                          " (a query starts with {selector}, a function such as rate(...) or "
                          "sum(...), or a number)");
      default:
        return Err(t, "unexpected " + Shown(t) +
                          ": a query starts with {selector}, a function or a number");
    }
  }

  Result<std::vector<std::string>> Grouping() {
    if (auto r = Expect(Tok::kLParen, "after by/without"); !r) return std::unexpected(r.error());
    std::vector<std::string> names;
    while (Peek().kind != Tok::kRParen) {
      if (!names.empty()) {
        if (auto r = Expect(Tok::kComma, "between label names"); !r)
          return std::unexpected(r.error());
      }
      if (Peek().kind != Tok::kIdent)
        return Err(Peek(), "expected a label name, found " + Shown(Peek()));
      names.push_back(Next().text);
    }
    Next();
    return names;
  }

  Result<Expr> VectorAgg(VectorAggregation::Op op) {
    VectorAggregation v;
    v.op = op;
    v.pos = Next().pos;
    auto grouping = [&]() -> Result<void> {
      if (IsIdent("by") || IsIdent("without")) {
        if (v.has_grouping) return Err(Peek(), "by/without given twice");
        v.without = Next().text == "without";
        auto names = Grouping();
        if (!names) return std::unexpected(names.error());
        v.grouping = std::move(*names);
        v.has_grouping = true;
      }
      return {};
    };
    if (auto r = grouping(); !r) return std::unexpected(r.error());
    if (auto r = Expect(Tok::kLParen, "after the aggregation's name"); !r)
      return std::unexpected(r.error());
    if (op == VectorAggregation::Op::kTopk || op == VectorAggregation::Op::kBottomk) {
      const Token& k = Peek();
      if (k.kind != Tok::kNumber || k.num < 1 ||
          k.num != static_cast<double>(static_cast<int64_t>(k.num))) {
        return Err(k, "topk and bottomk take a whole number above 0 first, found " + Shown(k));
      }
      v.param = static_cast<int64_t>(Next().num);
      if (auto r = Expect(Tok::kComma, "after k"); !r) return std::unexpected(r.error());
    }
    const Token& inner_at = Peek();
    auto inner = ParseExpr(0);
    if (!inner) return inner;
    if (inner->is_log())
      return Err(inner_at,
                 "aggregations take metric queries: wrap the log query in a range function such as "
                 "count_over_time({...}[5m])");
    if (auto r = Expect(Tok::kRParen, "to close the aggregation"); !r)
      return std::unexpected(r.error());
    if (auto r = grouping(); !r) return std::unexpected(r.error());
    v.inner = std::make_unique<Expr>(std::move(*inner));
    Expr e;
    e.node = std::move(v);
    return e;
  }

  Result<Expr> RangeAgg(RangeAggregation::Fn fn) {
    RangeAggregation r;
    r.fn = fn;
    const Token& name = Next();
    r.pos = name.pos;
    if (auto x = Expect(Tok::kLParen, "after " + name.text); !x) return std::unexpected(x.error());
    if (fn == RangeAggregation::Fn::kQuantileOverTime) {
      const Token& q = Peek();
      if (q.kind != Tok::kNumber || q.num < 0 || q.num > 1) {
        return Err(q,
                   "quantile_over_time takes a quantile between 0 and 1 first, found " + Shown(q));
      }
      r.quantile = Next().num;
      if (auto x = Expect(Tok::kComma, "after the quantile"); !x) return std::unexpected(x.error());
    }
    bool parens = Peek().kind == Tok::kLParen;
    if (parens) Next();
    auto log = Log();
    if (!log) return std::unexpected(log.error());
    r.log = std::move(*log);
    if (parens && Peek().kind == Tok::kRParen) Next();
    if (Peek().kind != Tok::kLBracket) {
      return Err(Peek(), fmt::format("{} needs a range such as [5m] after its log query, found {}",
                                     name.text, Shown(Peek())));
    }
    Next();
    const Token& d = Peek();
    if (d.kind != Tok::kDuration || d.num <= 0)
      return Err(d, "expected a duration such as 5m, found " + Shown(d));
    r.range_ns = static_cast<int64_t>(Next().num);
    if (auto x = Expect(Tok::kRBracket, "after the range"); !x) return std::unexpected(x.error());
    // Loki also accepts the pipeline after the range: {app="x"}[5m] | json.
    if (auto more = Pipeline(r.log.pipeline); !more) return std::unexpected(more.error());
    if (parens && Peek().kind == Tok::kRParen) Next();
    if (IsIdent("offset")) {
      Next();
      const Token& o = Peek();
      if (o.kind != Tok::kDuration)
        return Err(o, "expected a duration after offset, found " + Shown(o));
      r.offset_ns = static_cast<int64_t>(Next().num);
    }
    if (auto x = SplitUnwrap(r, name); !x) return std::unexpected(x.error());
    if (auto x = Expect(Tok::kRParen, "to close " + name.text); !x)
      return std::unexpected(x.error());
    if (IsIdent("by") || IsIdent("without")) {
      if (!NeedsUnwrap(fn))
        return Err(Peek(), name.text +
                               " takes no by/without; put it on an aggregation: sum by (x) (" +
                               name.text + "(...))");
      r.without = Next().text == "without";
      auto names = Grouping();
      if (!names) return std::unexpected(names.error());
      r.grouping = std::move(*names);
    }
    Expr e;
    e.node = std::move(r);
    return e;
  }

  // Moves `| unwrap x` and what follows it out of the pipeline.
  Result<void> SplitUnwrap(RangeAggregation& r, const Token& name) {
    auto& p = r.log.pipeline;
    for (size_t k = 0; k < p.size(); ++k) {
      if (p[k].kind != Stage::Kind::kKeep || p[k].names.size() != 2 ||
          p[k].names[0] != "\x01unwrap")
        continue;
      const std::string& spec = p[k].names[1];
      if (spec.starts_with("duration:")) r.conversion = RangeAggregation::Conversion::kDuration;
      if (spec.starts_with("bytes:")) r.conversion = RangeAggregation::Conversion::kBytes;
      r.unwrap = spec.substr(spec.find(':') + 1);
      for (size_t j = k + 1; j < p.size(); ++j) {
        if (p[j].kind != Stage::Kind::kLabelFilter) {
          Token at;
          at.pos = p[j].pos;
          return Err(at, "only label filters may follow unwrap");
        }
        r.post_unwrap.push_back(std::move(p[j]));
      }
      size_t unwrap_pos = p[k].pos;
      p.resize(k);
      if (!NeedsUnwrap(r.fn)) {
        Token at;
        at.pos = unwrap_pos;
        return Err(at, name.text +
                           " counts lines and takes no unwrap; use sum_over_time or "
                           "quantile_over_time for unwrapped values");
      }
      return {};
    }
    if (NeedsUnwrap(r.fn))
      return Err(name,
                 name.text + " needs an unwrapped label: add | unwrap <label> to its log query");
    return {};
  }

  Result<std::vector<LabelMatcher>> Selector() {
    if (auto r = Expect(Tok::kLBrace, "to open a stream selector"); !r)
      return std::unexpected(r.error());
    std::vector<LabelMatcher> out;
    const Token& open = t_[i_ - 1];
    while (Peek().kind != Tok::kRBrace) {
      if (!out.empty()) {
        if (Peek().kind != Tok::kComma)
          return Err(Peek(), "expected \",\" or \"}\" after a matcher, found " + Shown(Peek()));
        Next();
      }
      const Token& name = Peek();
      if (name.kind != Tok::kIdent) return Err(name, "expected a label name, found " + Shown(name));
      Next();
      auto op = MatchOperator();
      if (!op) return std::unexpected(op.error());
      const Token& value = Peek();
      if (value.kind != Tok::kString)
        return Err(value, "expected a quoted value, found " + Shown(value));
      Next();
      auto m = LabelMatcher::Make(name.text, *op, value.text);
      if (!m) return Err(value, m.error().message);
      out.push_back(std::move(*m));
    }
    Next();
    bool selective = false;
    for (const auto& m : out) selective |= !m.MatchesEmpty();
    if (!selective) {
      return Err(open,
                 "a stream selector needs at least one matcher that does not match the empty "
                 "value, e.g. {app=\"api\"} or {app=~\".+\"}");
    }
    return out;
  }

  Result<MatchOp> MatchOperator() {
    const Token& t = Peek();
    switch (t.kind) {
      case Tok::kEq:
        Next();
        return MatchOp::kEq;
      case Tok::kNeq:
        Next();
        return MatchOp::kNeq;
      case Tok::kRe:
        Next();
        return MatchOp::kRe;
      case Tok::kNre:
        Next();
        return MatchOp::kNre;
      default:
        return Err(t, "expected one of = != =~ !~, found " + Shown(t));
    }
  }

  Result<LogQuery> Log() {
    LogQuery log;
    log.pos = Peek().pos;
    auto m = Selector();
    if (!m) return std::unexpected(m.error());
    log.matchers = std::move(*m);
    if (auto r = Pipeline(log.pipeline); !r) return std::unexpected(r.error());
    return log;
  }

  Result<void> Pipeline(std::vector<Stage>& out) {
    while (true) {
      const Token& t = Peek();
      if (t.kind == Tok::kPipeEq || t.kind == Tok::kNeq || t.kind == Tok::kPipeRe ||
          t.kind == Tok::kNre) {
        auto s = LineFilterStage();
        if (!s) return std::unexpected(s.error());
        out.push_back(std::move(*s));
        continue;
      }
      if (t.kind != Tok::kPipe) return {};
      Next();
      auto s = PipeStage();
      if (!s) return std::unexpected(s.error());
      out.push_back(std::move(*s));
    }
  }

  Result<Stage> LineFilterStage() {
    const Token& op = Next();
    Stage s;
    s.kind = Stage::Kind::kLineFilter;
    s.pos = op.pos;
    using O = LineFilter::Op;
    s.line_filter.op = op.kind == Tok::kPipeEq   ? O::kContains
                       : op.kind == Tok::kNeq    ? O::kNotContains
                       : op.kind == Tok::kPipeRe ? O::kMatches
                                                 : O::kNotMatches;
    while (true) {
      const Token& v = Peek();
      if (v.kind != Tok::kString)
        return Err(v, "expected a quoted string after " + op.text + ", found " + Shown(v));
      Next();
      if (s.line_filter.op == O::kMatches || s.line_filter.op == O::kNotMatches) {
        std::string error;
        auto re = CompileRegex(v.text, false, error);
        if (!re) return Err(v, "regex " + Shown(v) + " does not compile: " + error);
        s.line_filter.res.push_back(std::move(re));
      }
      s.line_filter.values.push_back(v.text);
      // `|= "a" or "b"`: alternatives (Loki 2.9+).
      if (IsIdent("or") && Peek(1).kind == Tok::kString) {
        Next();
        continue;
      }
      return s;
    }
  }

  Result<Stage> PipeStage() {
    const Token& t = Peek();
    Stage s;
    s.pos = t.pos;
    if (t.kind != Tok::kIdent && t.kind != Tok::kLParen) {
      return Err(t, "expected a pipeline stage after |, found " + Shown(t));
    }
    if (t.kind == Tok::kIdent && Peek(1).kind != Tok::kEq && Peek(1).kind != Tok::kNeq &&
        Peek(1).kind != Tok::kRe && Peek(1).kind != Tok::kNre && Peek(1).kind != Tok::kGt &&
        Peek(1).kind != Tok::kGte && Peek(1).kind != Tok::kLt && Peek(1).kind != Tok::kLte &&
        Peek(1).kind != Tok::kEqEq) {
      return NamedStage();
    }
    s.kind = Stage::Kind::kLabelFilter;
    auto f = LabelFilterOr();
    if (!f) return std::unexpected(f.error());
    s.label_filter = std::move(*f);
    return s;
  }

  Result<Stage> NamedStage() {
    const Token& t = Next();
    Stage s;
    s.pos = t.pos;
    if (t.text == "json") {
      s.kind = Stage::Kind::kParser;
      s.parser.kind = Parser::Kind::kJson;
      while (Peek().kind == Tok::kIdent && Peek(1).kind == Tok::kEq) {
        std::string label = Next().text;
        Next();
        const Token& path = Peek();
        if (path.kind != Tok::kString)
          return Err(path, "expected a quoted JSON path, found " + Shown(path));
        Next();
        s.parser.json_paths.emplace_back(label, path.text);
        if (Peek().kind != Tok::kComma) break;
        Next();
      }
      return s;
    }
    if (t.text == "logfmt") {
      s.kind = Stage::Kind::kParser;
      s.parser.kind = Parser::Kind::kLogfmt;
      return s;
    }
    if (t.text == "pattern") return PatternStage(t);
    if (t.text == "regexp") {
      const Token& v = Peek();
      if (v.kind != Tok::kString)
        return Err(v, "regexp takes a quoted expression, found " + Shown(v));
      Next();
      std::string error;
      auto re = CompileRegex(v.text, false, error);
      if (!re) return Err(v, "regex " + Shown(v) + " does not compile: " + error);
      s.kind = Stage::Kind::kParser;
      s.parser.kind = Parser::Kind::kRegexp;
      s.parser.re_names.assign(re->NumberOfCapturingGroups(), "");
      for (const auto& [name, index] : re->NamedCapturingGroups())
        s.parser.re_names[index - 1] = name;
      if (re->NamedCapturingGroups().empty())
        return Err(v, "regexp needs at least one named group such as (?P<status>\\d+)");
      for (const auto& [name, index] : re->NamedCapturingGroups()) {
        if (!ValidLabelName(name))
          return Err(v, "group name \"" + name + "\" is not a valid label name");
      }
      s.parser.re = std::move(re);
      return s;
    }
    if (t.text == "line_format") return LineFormatStage(t);
    if (t.text == "drop" || t.text == "keep") {
      s.kind = t.text == "drop" ? Stage::Kind::kDrop : Stage::Kind::kKeep;
      while (true) {
        const Token& n = Peek();
        if (n.kind != Tok::kIdent)
          return Err(n, "expected a label name after " + t.text + ", found " + Shown(n));
        s.names.push_back(Next().text);
        if (Peek().kind != Tok::kComma) break;
        Next();
      }
      return s;
    }
    if (t.text == "unwrap") {
      // Kept as a marker stage; the range aggregation takes it apart (SplitUnwrap).
      s.kind = Stage::Kind::kKeep;
      std::string conv;
      if ((IsIdent("duration") || IsIdent("duration_seconds") || IsIdent("bytes")) &&
          Peek(1).kind == Tok::kLParen) {
        conv = Next().text == "bytes" ? "bytes:" : "duration:";
        Next();
      }
      const Token& n = Peek();
      if (n.kind != Tok::kIdent)
        return Err(n, "expected a label name after unwrap, found " + Shown(n));
      s.names = {"\x01unwrap", conv.empty() ? ":" + Next().text : conv + Next().text};
      if (!conv.empty()) {
        if (auto r = Expect(Tok::kRParen, "after the unwrapped label"); !r)
          return std::unexpected(r.error());
      }
      return s;
    }
    if (t.text == "label_format" || t.text == "decolorize" || t.text == "unpack" ||
        t.text == "distinct") {
      return Err(t, "the " + t.text +
                        " stage is not supported by Berth's LogQL (supported: json, logfmt, "
                        "pattern, regexp, line_format, drop, keep, unwrap, label filters)");
    }
    return Err(t, "unknown pipeline stage " + Shown(t) +
                      " (expected json, logfmt, pattern, regexp, line_format, drop, keep, unwrap "
                      "or a label filter such as status >= 500)");
  }

  Result<Stage> PatternStage(const Token& t) {
    const Token& v = Peek();
    if (v.kind != Tok::kString) return Err(v, "pattern takes a quoted pattern, found " + Shown(v));
    Next();
    Stage s;
    s.pos = t.pos;
    s.kind = Stage::Kind::kParser;
    s.parser.kind = Parser::Kind::kPattern;
    s.parser.pattern = v.text;
    const std::string& p = v.text;
    size_t i = 0;
    bool any_capture = false;
    while (i < p.size()) {
      size_t open = p.find('<', i);
      size_t close = open == std::string::npos ? std::string::npos : p.find('>', open);
      bool capture =
          close != std::string::npos && (p.substr(open + 1, close - open - 1) == "_" ||
                                         ValidLabelName(p.substr(open + 1, close - open - 1)));
      if (!capture) {
        // A '<' that does not start <name> is literal text.
        size_t end = open == std::string::npos ? p.size() : open + 1;
        if (!s.parser.parts.empty() && !s.parser.parts.back().capture) {
          s.parser.parts.back().text += p.substr(i, end - i);
        } else {
          s.parser.parts.push_back({false, p.substr(i, end - i)});
        }
        i = end;
        continue;
      }
      if (open > i) {
        if (!s.parser.parts.empty() && !s.parser.parts.back().capture) {
          s.parser.parts.back().text += p.substr(i, open - i);
        } else {
          s.parser.parts.push_back({false, p.substr(i, open - i)});
        }
      }
      if (!s.parser.parts.empty() && s.parser.parts.back().capture) {
        return Err(v, "pattern " + Shown(v) + " has two captures in a row at byte " +
                          std::to_string(open) + ": put literal text between them");
      }
      s.parser.parts.push_back({true, p.substr(open + 1, close - open - 1)});
      any_capture |= s.parser.parts.back().text != "_";
      i = close + 1;
    }
    if (!any_capture)
      return Err(v, "pattern " + Shown(v) + " captures nothing: name a part such as <status>");
    return s;
  }

  Result<Stage> LineFormatStage(const Token& t) {
    const Token& v = Peek();
    if (v.kind != Tok::kString)
      return Err(v, "line_format takes a quoted template, found " + Shown(v));
    Next();
    Stage s;
    s.pos = t.pos;
    s.kind = Stage::Kind::kLineFormat;
    const std::string& tpl = v.text;
    size_t i = 0;
    while (i < tpl.size()) {
      size_t open = tpl.find("{{", i);
      if (open == std::string::npos) {
        s.line_format.parts.push_back({false, tpl.substr(i)});
        break;
      }
      if (open > i) s.line_format.parts.push_back({false, tpl.substr(i, open - i)});
      size_t close = tpl.find("}}", open);
      if (close == std::string::npos) {
        return Err(
            v, fmt::format("line_format template: \"{{{{\" at byte {} is not closed by \"}}}}\"",
                           open));
      }
      std::string action = tpl.substr(open + 2, close - open - 2);
      size_t a = action.find_first_not_of(' '), b = action.find_last_not_of(' ');
      action = a == std::string::npos ? "" : action.substr(a, b - a + 1);
      if (action == "__line__") {
        s.line_format.parts.push_back({true, "__line__"});
      } else if (action.size() > 1 && action[0] == '.' && ValidLabelName(action.substr(1))) {
        s.line_format.parts.push_back({true, action.substr(1)});
      } else {
        return Err(v, fmt::format("line_format template: {{{{{}}}}} at byte {} is not supported "
                                  "(use {{{{.label}}}} or {{{{__line__}}}})",
                                  action, open));
      }
      i = close + 2;
    }
    return s;
  }

  Result<std::shared_ptr<LabelFilter>> LabelFilterOr() {
    auto left = LabelFilterAnd();
    if (!left) return left;
    while (IsIdent("or")) {
      Next();
      auto right = LabelFilterAnd();
      if (!right) return right;
      auto f = std::make_shared<LabelFilter>();
      f->kind = LabelFilter::Kind::kOr;
      f->left = std::make_unique<LabelFilter>(std::move(**left));
      f->right = std::make_unique<LabelFilter>(std::move(**right));
      left = f;
    }
    return left;
  }

  Result<std::shared_ptr<LabelFilter>> LabelFilterAnd() {
    auto left = LabelFilterAtom();
    if (!left) return left;
    while (IsIdent("and") || Peek().kind == Tok::kComma) {
      Next();
      auto right = LabelFilterAtom();
      if (!right) return right;
      auto f = std::make_shared<LabelFilter>();
      f->kind = LabelFilter::Kind::kAnd;
      f->left = std::make_unique<LabelFilter>(std::move(**left));
      f->right = std::make_unique<LabelFilter>(std::move(**right));
      left = f;
    }
    return left;
  }

  Result<std::shared_ptr<LabelFilter>> LabelFilterAtom() {
    if (Peek().kind == Tok::kLParen) {
      Next();
      auto inner = LabelFilterOr();
      if (!inner) return inner;
      if (auto r = Expect(Tok::kRParen, "to close the label filter"); !r)
        return std::unexpected(r.error());
      return inner;
    }
    const Token& name = Peek();
    if (name.kind != Tok::kIdent)
      return Err(name, "expected a label name in a label filter, found " + Shown(name));
    Next();
    const Token& op = Next();
    const Token& value = Peek();
    auto f = std::make_shared<LabelFilter>();
    bool numeric_value =
        value.kind == Tok::kNumber || value.kind == Tok::kDuration || value.kind == Tok::kBytes;
    if (value.kind == Tok::kString && (op.kind == Tok::kEq || op.kind == Tok::kNeq ||
                                       op.kind == Tok::kRe || op.kind == Tok::kNre)) {
      Next();
      MatchOp mop = op.kind == Tok::kEq    ? MatchOp::kEq
                    : op.kind == Tok::kNeq ? MatchOp::kNeq
                    : op.kind == Tok::kRe  ? MatchOp::kRe
                                           : MatchOp::kNre;
      auto m = LabelMatcher::Make(name.text, mop, value.text);
      if (!m) return Err(value, m.error().message);
      f->kind = LabelFilter::Kind::kString;
      f->matcher = std::move(*m);
      return f;
    }
    if (!numeric_value) {
      return Err(value,
                 fmt::format("expected a {} after {} {}, found {}",
                             op.kind == Tok::kRe || op.kind == Tok::kNre ? "quoted regex" : "value",
                             name.text, op.text, Shown(value)));
    }
    Next();
    f->kind = LabelFilter::Kind::kNumber;
    f->name = name.text;
    switch (op.kind) {
      case Tok::kEq:
      case Tok::kEqEq:
        f->cmp = CmpOp::kEq;
        break;
      case Tok::kNeq:
        f->cmp = CmpOp::kNeq;
        break;
      case Tok::kGt:
        f->cmp = CmpOp::kGt;
        break;
      case Tok::kGte:
        f->cmp = CmpOp::kGte;
        break;
      case Tok::kLt:
        f->cmp = CmpOp::kLt;
        break;
      case Tok::kLte:
        f->cmp = CmpOp::kLte;
        break;
      default:
        return Err(op, "a number compares with == != > >= < <=, not " + op.text);
    }
    f->unit = value.kind == Tok::kDuration ? LabelFilter::Unit::kDuration
              : value.kind == Tok::kBytes  ? LabelFilter::Unit::kBytes
                                           : LabelFilter::Unit::kNumber;
    f->value = value.kind == Tok::kDuration ? value.num / 1e9 : value.num;
    return f;
  }

  std::string_view q_;
  std::vector<Token> t_;
  const ParseLimits& limits_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

Result<Expr> Parse(std::string_view query, const ParseLimits& limits) {
  if (query.size() > limits.max_query_bytes) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("query is {} bytes, over the limit of {}",
                                                         query.size(), limits.max_query_bytes));
  }
  auto tokens = Lex(query);
  if (!tokens) return std::unexpected(tokens.error());
  if (tokens->size() == 1)
    return Fail(ErrorCode::kInvalidArgument, "parse error at line 1, col 1: the query is empty");
  ParserImpl p(query, std::move(*tokens), limits);
  return p.Query();
}

Result<std::vector<LabelMatcher>> ParseSelector(std::string_view text) {
  auto tokens = Lex(text);
  if (!tokens) return std::unexpected(tokens.error());
  ParseLimits limits;
  ParserImpl p(text, std::move(*tokens), limits);
  return p.SelectorOnly();
}

}  // namespace berth::logs::logql
