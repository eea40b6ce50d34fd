#include "logs/matcher.h"

#include <re2/re2.h>

#include "logs/labels.h"

namespace berth::logs {

std::string_view MatchOpText(MatchOp op) {
  switch (op) {
    case MatchOp::kEq:
      return "=";
    case MatchOp::kNeq:
      return "!=";
    case MatchOp::kRe:
      return "=~";
    case MatchOp::kNre:
      return "!~";
  }
  return "?";
}

Result<LabelMatcher> LabelMatcher::Make(std::string name, MatchOp op, std::string value) {
  LabelMatcher m;
  m.name_ = std::move(name);
  m.op_ = op;
  m.value_ = std::move(value);
  if (op == MatchOp::kRe || op == MatchOp::kNre) {
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_dot_nl(true);
    auto re = std::make_shared<RE2>("^(?:" + m.value_ + ")$", opts);
    if (!re->ok()) {
      std::string q;
      AppendQuoted(q, m.value_);
      return Fail(ErrorCode::kInvalidArgument,
                  "regex " + q + " of label " + m.name_ + " does not compile: " + re->error());
    }
    m.re_ = std::move(re);
  }
  m.matches_empty_ = m.Matches("");
  return m;
}

bool LabelMatcher::Matches(std::string_view v) const {
  switch (op_) {
    case MatchOp::kEq:
      return v == value_;
    case MatchOp::kNeq:
      return v != value_;
    case MatchOp::kRe:
      return RE2::FullMatch(v, *re_);
    case MatchOp::kNre:
      return !RE2::FullMatch(v, *re_);
  }
  return false;
}

std::string LabelMatcher::String() const {
  std::string out = name_;
  out += MatchOpText(op_);
  AppendQuoted(out, value_);
  return out;
}

}  // namespace berth::logs
