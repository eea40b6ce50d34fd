// Stream labels: the set of name="value" pairs that names a log stream, as in Loki. A
// LabelSet is sorted by name with unique names; its canonical text `{a="1", b="2"}` (Loki's
// own form, values escaped as Go quotes them) is what the store persists and hashes.
// Validation follows Loki's defaults: names [a-zA-Z_][a-zA-Z0-9_]*, at most 15 labels, names
// up to 1024 bytes and values up to 2048, values valid UTF-8; every error names the label.
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace berth::logs {

struct Label {
  std::string name;
  std::string value;
  bool operator==(const Label&) const = default;
};

struct LabelLimits {
  size_t max_labels = 15;
  size_t max_name_bytes = 1024;
  size_t max_value_bytes = 2048;
};

class LabelSet {
 public:
  LabelSet() = default;
  // Sorts `labels` and validates them (duplicate names, bad names, empty or oversize values).
  static Result<LabelSet> Make(std::vector<Label> labels, const LabelLimits& limits = {});
  // Parses the canonical text or any Loki stream selector made only of `=` matchers:
  // `{app="api",namespace="shop"}`. Errors name the byte position.
  static Result<LabelSet> Parse(std::string_view text, const LabelLimits& limits = {});

  const std::vector<Label>& labels() const { return labels_; }
  // The value of `name`; empty when absent (Loki treats absent and empty alike).
  std::string_view Get(std::string_view name) const;
  bool empty() const { return labels_.empty(); }
  // `{a="1", b="2"}`.
  std::string Canonical() const;
  bool operator==(const LabelSet&) const = default;

 private:
  std::vector<Label> labels_;
};

// True for names Loki accepts: [a-zA-Z_][a-zA-Z0-9_]*.
bool ValidLabelName(std::string_view name);
// Appends `s` double-quoted with Go's escapes for `"`, `\`, control bytes.
void AppendQuoted(std::string& out, std::string_view s);
// FNV-1a 64 of the canonical text: the stream's fingerprint, stable across processes (the
// owner of a stream in a cluster is chosen by it).
uint64_t Fingerprint(std::string_view canonical);
// True when `s` is well-formed UTF-8.
bool ValidUtf8(std::string_view s);

}  // namespace berth::logs
