#include "logs/labels.h"

#include <algorithm>

#include <fmt/format.h>

#include "logs/logql/lexer.h"

namespace berth::logs {

bool ValidLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n;
  }
  return true;
}

void AppendQuoted(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

uint64_t Fingerprint(std::string_view canonical) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : canonical) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

Result<LabelSet> LabelSet::Make(std::vector<Label> labels, const LabelLimits& limits) {
  if (labels.size() > limits.max_labels) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("stream has {} labels, more than the limit of {}", labels.size(),
                            limits.max_labels));
  }
  std::sort(labels.begin(), labels.end(),
            [](const Label& a, const Label& b) { return a.name < b.name; });
  for (size_t i = 0; i < labels.size(); ++i) {
    const Label& l = labels[i];
    if (!ValidLabelName(l.name)) {
      std::string quoted;
      AppendQuoted(quoted, l.name.substr(0, 64));
      return Fail(ErrorCode::kInvalidArgument,
                  "label name " + quoted + " is not valid: it must match [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if (l.name.size() > limits.max_name_bytes) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("label name {}... is {} bytes, more than the limit of {}",
                              l.name.substr(0, 32), l.name.size(), limits.max_name_bytes));
    }
    if (i > 0 && labels[i - 1].name == l.name) {
      return Fail(ErrorCode::kInvalidArgument, "label " + l.name + " appears twice");
    }
    if (l.value.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "label " + l.name + " has an empty value (leave the label out instead)");
    }
    if (l.value.size() > limits.max_value_bytes) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("value of label {} is {} bytes, more than the limit of {}", l.name,
                              l.value.size(), limits.max_value_bytes));
    }
    if (!ValidUtf8(l.value)) {
      return Fail(ErrorCode::kInvalidArgument, "value of label " + l.name + " is not valid UTF-8");
    }
  }
  LabelSet set;
  set.labels_ = std::move(labels);
  return set;
}

Result<LabelSet> LabelSet::Parse(std::string_view text, const LabelLimits& limits) {
  auto tokens = logql::Lex(text);
  if (!tokens) return std::unexpected(tokens.error());
  const auto& t = *tokens;
  auto err = [&](size_t i, std::string_view what) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("labels {}: {} at position {}",
                                                         text.substr(0, 80), what, t[i].pos + 1));
  };
  size_t i = 0;
  if (t[i].kind != logql::Tok::kLBrace) return err(i, "expected {");
  ++i;
  std::vector<Label> labels;
  while (t[i].kind != logql::Tok::kRBrace) {
    if (!labels.empty()) {
      if (t[i].kind != logql::Tok::kComma) return err(i, "expected , or }");
      ++i;
    }
    if (t[i].kind != logql::Tok::kIdent) return err(i, "expected a label name");
    Label l{t[i].text, {}};
    ++i;
    if (t[i].kind != logql::Tok::kEq) return err(i, "expected =");
    ++i;
    if (t[i].kind != logql::Tok::kString) return err(i, "expected a quoted value");
    l.value = t[i].text;
    ++i;
    labels.push_back(std::move(l));
  }
  ++i;
  if (t[i].kind != logql::Tok::kEnd) return err(i, "unexpected text after }");
  return Make(std::move(labels), limits);
}

std::string_view LabelSet::Get(std::string_view name) const {
  for (const auto& l : labels_) {
    if (l.name == name) return l.value;
  }
  return {};
}

std::string LabelSet::Canonical() const {
  std::string out = "{";
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (i > 0) out += ", ";
    out += labels_[i].name;
    out += '=';
    AppendQuoted(out, labels_[i].value);
  }
  out += '}';
  return out;
}

}  // namespace berth::logs
