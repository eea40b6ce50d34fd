// A label matcher of a LogQL stream selector or label filter: `name op "value"` with op one
// of = != =~ !~. Regexes are RE2, anchored at both ends as Loki's are.
// Thread-safety: immutable after Make; Matches is safe from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace re2 {
class RE2;
}

namespace berth::logs {

enum class MatchOp { kEq, kNeq, kRe, kNre };
std::string_view MatchOpText(MatchOp op);

class LabelMatcher {
 public:
  // kInvalidArgument naming the regex and RE2's complaint when `value` does not compile.
  static Result<LabelMatcher> Make(std::string name, MatchOp op, std::string value);
  const std::string& name() const { return name_; }
  MatchOp op() const { return op_; }
  const std::string& value() const { return value_; }
  // True when `v` (the label's value; empty when the label is absent) matches.
  bool Matches(std::string_view v) const;
  // True when an absent label would match (`x!="a"`, `x=""`, `x=~".*"`).
  bool MatchesEmpty() const { return matches_empty_; }
  std::string String() const;

 private:
  std::string name_;
  MatchOp op_ = MatchOp::kEq;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;
  bool matches_empty_ = false;
};

}  // namespace berth::logs
