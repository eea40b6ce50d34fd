// A log query's pipeline run over one entry at a time: line filters, parsers (json,
// logfmt, pattern, regexp) that add labels, label filters, line_format, drop/keep. Parser and
// label-filter failures do not drop the line: as in Loki, the entry gets an `__error__`
// label (JSONParserErr, LogfmtParserErr, LabelFilterErr) that a later `| __error__=""`
// can filter on.
// Thread-safety: a Pipeline is immutable and shared by the engine's workers; each worker
// keeps its own EntryState.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "logs/labels.h"
#include "logs/logql/ast.h"

namespace berth::logs::logql {

// One entry as it goes through the pipeline: the stream's labels, labels the stages added or
// dropped, and the line (rewritten by line_format).
struct EntryState {
  const LabelSet* stream = nullptr;
  std::vector<Label> extracted;
  std::vector<std::string> dropped;  // names removed by drop
  const std::vector<std::string>* keep = nullptr;
  std::string_view line;
  std::string line_buf;  // owns a rewritten line
  std::string scratch;

  void Reset(const LabelSet* labels, std::string_view l) {
    stream = labels;
    extracted.clear();
    dropped.clear();
    keep = nullptr;
    line = l;
  }
  // The label's current value (extracted first, then the stream's); empty when absent.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;
  void Set(std::string name, std::string value);
  // The entry's label set after the pipeline, in canonical order.
  std::vector<Label> Final() const;
  // True when no stage changed the labels (the entry's series is its stream's).
  bool StreamLabelsOnly() const { return extracted.empty() && dropped.empty() && keep == nullptr; }
};

class Pipeline {
 public:
  explicit Pipeline(const std::vector<Stage>* stages) : stages_(stages) {}
  // Runs every stage; false when a filter dropped the entry.
  bool Process(EntryState& e) const;
  // The leading `|= "literal"` filters (one value each): the engine scans chunks for the
  // first of them with memmem before running the pipeline on candidates.
  std::vector<std::string_view> LeadingLiterals() const;
  bool Empty() const { return stages_->empty(); }
  // True when no stage can change labels (the series of an entry is its stream's).
  bool KeepsStreamLabels() const;

 private:
  const std::vector<Stage>* stages_;
};

// Evaluates label filters (a pipeline's, and those after unwrap).
bool EvalLabelFilter(const LabelFilter& f, EntryState& e);
// Parses a number as a label filter or unwrap reads it: plain, a duration (seconds) or a
// byte size.
std::optional<double> ParseSampleValue(std::string_view v, LabelFilter::Unit unit);

// Loki's name for an extracted key: invalid characters become '_', a leading digit gets '_'.
std::string SanitizeLabelName(std::string_view key);

}  // namespace berth::logs::logql
