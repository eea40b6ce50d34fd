#include "logs/logql/pipeline.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/json.h"
#include "logs/logql/lexer.h"

namespace berth::logs::logql {

std::string_view EntryState::Get(std::string_view name) const {
  if (std::find(dropped.begin(), dropped.end(), name) != dropped.end()) return {};
  for (auto it = extracted.rbegin(); it != extracted.rend(); ++it) {
    if (it->name == name) return it->value;
  }
  return stream ? stream->Get(name) : std::string_view{};
}

bool EntryState::Has(std::string_view name) const {
  for (const auto& l : extracted) {
    if (l.name == name) return true;
  }
  return stream && !stream->Get(name).empty();
}

void EntryState::Set(std::string name, std::string value) {
  std::erase(dropped, name);
  for (auto& l : extracted) {
    if (l.name == name) {
      l.value = std::move(value);
      return;
    }
  }
  extracted.push_back(Label{std::move(name), std::move(value)});
}

std::vector<Label> EntryState::Final() const {
  std::vector<Label> out;
  auto wanted = [&](const std::string& n) {
    if (std::find(dropped.begin(), dropped.end(), n) != dropped.end()) return false;
    return keep == nullptr || std::find(keep->begin(), keep->end(), n) != keep->end();
  };
  if (stream) {
    for (const auto& l : stream->labels()) {
      if (wanted(l.name)) out.push_back(l);
    }
  }
  for (const auto& l : extracted) {
    if (!wanted(l.name)) continue;
    auto it =
        std::find_if(out.begin(), out.end(), [&](const Label& x) { return x.name == l.name; });
    if (it != out.end()) {
      it->value = l.value;
    } else {
      out.push_back(l);
    }
  }
  std::erase_if(out, [](const Label& l) { return l.value.empty(); });
  std::sort(out.begin(), out.end(), [](const Label& a, const Label& b) { return a.name < b.name; });
  return out;
}

std::string SanitizeLabelName(std::string_view key) {
  std::string out;
  out.reserve(key.size() + 1);
  for (char c : key) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    out += ok ? c : '_';
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(out.begin(), '_');
  return out;
}

std::optional<double> ParseSampleValue(std::string_view v, LabelFilter::Unit unit) {
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  double d = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec == std::errc() && p == v.data() + v.size()) return d;
  if (unit == LabelFilter::Unit::kDuration || unit == LabelFilter::Unit::kNumber) {
    // Go durations as services print them: "1.5s", "250ms", "2m3s", "800us", "12ns".
    double total = 0;
    size_t i = 0;
    bool any = false;
    while (i < v.size()) {
      size_t s = i;
      while (i < v.size() && ((v[i] >= '0' && v[i] <= '9') || v[i] == '.')) ++i;
      if (s == i) return std::nullopt;
      double n = 0;
      auto [q, e2] = std::from_chars(v.data() + s, v.data() + i, n);
      if (e2 != std::errc()) return std::nullopt;
      size_t u = i;
      while (i < v.size() && ((v[i] >= 'a' && v[i] <= 'z') || v[i] == '\xc2' || v[i] == '\xb5'))
        ++i;
      std::string_view unit_text = v.substr(u, i - u);
      double scale;
      if (unit_text == "ns")
        scale = 1e-9;
      else if (unit_text == "us" || unit_text == "\xc2\xb5s")
        scale = 1e-6;
      else if (unit_text == "ms")
        scale = 1e-3;
      else if (unit_text == "s")
        scale = 1;
      else if (unit_text == "m")
        scale = 60;
      else if (unit_text == "h")
        scale = 3600;
      else
        return std::nullopt;
      total += n * scale;
      any = true;
    }
    if (any && unit == LabelFilter::Unit::kDuration) return total;
    if (any) return total;
  }
  if (unit == LabelFilter::Unit::kBytes || unit == LabelFilter::Unit::kNumber) {
    if (auto b = ParseBytes(v)) return *b;
  }
  return std::nullopt;
}

namespace {

bool Compare(double a, CmpOp op, double b) {
  switch (op) {
    case CmpOp::kEq:
      return a == b;
    case CmpOp::kNeq:
      return a != b;
    case CmpOp::kGt:
      return a > b;
    case CmpOp::kGte:
      return a >= b;
    case CmpOp::kLt:
      return a < b;
    case CmpOp::kLte:
      return a <= b;
  }
  return false;
}

bool LineFilterPasses(const LineFilter& f, std::string_view line) {
  using O = LineFilter::Op;
  switch (f.op) {
    case O::kContains:
      for (const auto& v : f.values) {
        if (line.find(v) != std::string_view::npos) return true;
      }
      return false;
    case O::kNotContains:
      for (const auto& v : f.values) {
        if (line.find(v) != std::string_view::npos) return false;
      }
      return true;
    case O::kMatches:
      for (const auto& re : f.res) {
        if (RE2::PartialMatch(line, *re)) return true;
      }
      return false;
    case O::kNotMatches:
      for (const auto& re : f.res) {
        if (RE2::PartialMatch(line, *re)) return false;
      }
      return true;
  }
  return false;
}

// Adds an extracted label; a name the stream already has gets Loki's "_extracted" suffix.
void AddExtracted(EntryState& e, std::string_view key, std::string value) {
  std::string name = SanitizeLabelName(key);
  if (e.stream && !e.stream->Get(name).empty()) name += "_extracted";
  e.Set(std::move(name), std::move(value));
}

void FlattenJson(const Json& j, const std::string& prefix, EntryState& e) {
  for (const auto& [k, v] : j.items()) {
    std::string key = prefix.empty() ? k : prefix + "_" + k;
    if (v.is_object()) {
      FlattenJson(v, key, e);
    } else if (v.is_string()) {
      AddExtracted(e, key, v.get<std::string>());
    } else if (v.is_number() || v.is_boolean()) {
      AddExtracted(e, key, v.dump());
    } else if (v.is_null()) {
      AddExtracted(e, key, "");
    }
  }
}

// Follows "a.b[0].c" in `j`; nullptr when absent.
const Json* JsonPath(const Json& j, std::string_view path) {
  const Json* cur = &j;
  size_t i = 0;
  while (i < path.size() && cur) {
    if (path[i] == '.') {
      ++i;
      continue;
    }
    if (path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == std::string_view::npos) return nullptr;
      std::string_view inner = path.substr(i + 1, close - i - 1);
      i = close + 1;
      if (!inner.empty() && inner.front() == '"' && inner.back() == '"' && inner.size() >= 2) {
        std::string key(inner.substr(1, inner.size() - 2));
        cur = cur->is_object() && cur->contains(key) ? &(*cur)[key] : nullptr;
        continue;
      }
      size_t idx = 0;
      auto [p, ec] = std::from_chars(inner.data(), inner.data() + inner.size(), idx);
      if (ec != std::errc() || !cur->is_array() || idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
      continue;
    }
    size_t end = path.find_first_of(".[", i);
    std::string key(path.substr(i, end == std::string_view::npos ? path.size() - i : end - i));
    i = end == std::string_view::npos ? path.size() : end;
    cur = cur->is_object() && cur->contains(key) ? &(*cur)[key] : nullptr;
  }
  return cur;
}

void RunJson(const Parser& p, EntryState& e) {
  Json j = Json::parse(e.line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    e.Set("__error__", "JSONParserErr");
    return;
  }
  if (p.json_paths.empty()) {
    FlattenJson(j, "", e);
    return;
  }
  for (const auto& [label, path] : p.json_paths) {
    const Json* v = JsonPath(j, path);
    if (!v) continue;
    e.Set(label, v->is_string() ? v->get<std::string>() : v->is_null() ? "" : v->dump());
  }
}

void RunLogfmt(EntryState& e) {
  std::string_view s = e.line;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t k = i;
    while (i < s.size() && s[i] != '=' && s[i] != ' ') ++i;
    std::string_view key = s.substr(k, i - k);
    std::string value;
    if (i < s.size() && s[i] == '=') {
      ++i;
      if (i < s.size() && s[i] == '"') {
        ++i;
        while (i < s.size() && s[i] != '"') {
          if (s[i] == '\\' && i + 1 < s.size()) {
            char c = s[i + 1];
            value += c == 'n' ? '\n' : c == 't' ? '\t' : c;
            i += 2;
            continue;
          }
          value += s[i++];
        }
        if (i >= s.size()) {
          e.Set("__error__", "LogfmtParserErr");
          return;
        }
        ++i;
      } else {
        size_t v = i;
        while (i < s.size() && s[i] != ' ') ++i;
        value.assign(s.substr(v, i - v));
      }
    }
    if (!key.empty()) AddExtracted(e, key, std::move(value));
  }
}

void RunPattern(const Parser& p, EntryState& e) {
  std::string_view s = e.line;
  size_t at = 0;
  const auto& parts = p.parts;
  for (size_t k = 0; k < parts.size(); ++k) {
    const auto& part = parts[k];
    if (!part.capture) {
      if (s.substr(at, part.text.size()) != part.text) return;  // no match: nothing extracted
      at += part.text.size();
      continue;
    }
    size_t end;
    if (k + 1 < parts.size()) {
      end = s.find(parts[k + 1].text, at);
      if (end == std::string_view::npos) return;
    } else {
      end = s.size();
    }
    if (part.text != "_") AddExtracted(e, part.text, std::string(s.substr(at, end - at)));
    at = end;
  }
}

void RunRegexp(const Parser& p, EntryState& e) {
  size_t n = p.re_names.size();
  std::vector<re2::StringPiece> groups(n + 1);
  if (!p.re->Match(e.line, 0, e.line.size(), RE2::UNANCHORED, groups.data(),
                   static_cast<int>(n + 1)))
    return;
  for (size_t i = 0; i < n; ++i) {
    if (!p.re_names[i].empty()) AddExtracted(e, p.re_names[i], std::string(groups[i + 1]));
  }
}

void RunLineFormat(const LineFormat& f, EntryState& e) {
  std::string out;
  for (const auto& part : f.parts) {
    if (!part.label) {
      out += part.text;
    } else if (part.text == "__line__") {
      out += e.line;
    } else {
      out += e.Get(part.text);
    }
  }
  e.line_buf = std::move(out);
  e.line = e.line_buf;
}

}  // namespace

bool EvalLabelFilter(const LabelFilter& f, EntryState& e) {
  switch (f.kind) {
    case LabelFilter::Kind::kString:
      return f.matcher->Matches(e.Get(f.matcher->name()));
    case LabelFilter::Kind::kAnd:
      return EvalLabelFilter(*f.left, e) && EvalLabelFilter(*f.right, e);
    case LabelFilter::Kind::kOr:
      return EvalLabelFilter(*f.left, e) || EvalLabelFilter(*f.right, e);
    case LabelFilter::Kind::kNumber: {
      std::string_view v = e.Get(f.name);
      if (v.empty()) return false;  // Loki: a missing label does not pass a numeric filter
      auto n = ParseSampleValue(v, f.unit);
      if (!n) {
        e.Set("__error__", "LabelFilterErr");
        return true;
      }
      return Compare(*n, f.cmp, f.value);
    }
  }
  return false;
}

bool Pipeline::Process(EntryState& e) const {
  for (const auto& s : *stages_) {
    switch (s.kind) {
      case Stage::Kind::kLineFilter:
        if (!LineFilterPasses(s.line_filter, e.line)) return false;
        break;
      case Stage::Kind::kParser:
        switch (s.parser.kind) {
          case Parser::Kind::kJson:
            RunJson(s.parser, e);
            break;
          case Parser::Kind::kLogfmt:
            RunLogfmt(e);
            break;
          case Parser::Kind::kPattern:
            RunPattern(s.parser, e);
            break;
          case Parser::Kind::kRegexp:
            RunRegexp(s.parser, e);
            break;
        }
        break;
      case Stage::Kind::kLabelFilter:
        if (!EvalLabelFilter(*s.label_filter, e)) return false;
        break;
      case Stage::Kind::kLineFormat:
        RunLineFormat(s.line_format, e);
        break;
      case Stage::Kind::kDrop:
        for (const auto& n : s.names) e.dropped.push_back(n);
        break;
      case Stage::Kind::kKeep:
        e.keep = &s.names;
        break;
    }
  }
  return true;
}

std::vector<std::string_view> Pipeline::LeadingLiterals() const {
  std::vector<std::string_view> out;
  for (const auto& s : *stages_) {
    if (s.kind != Stage::Kind::kLineFilter) break;
    if (s.line_filter.op == LineFilter::Op::kContains && s.line_filter.values.size() == 1 &&
        !s.line_filter.values[0].empty()) {
      out.push_back(s.line_filter.values[0]);
    }
  }
  return out;
}

bool Pipeline::KeepsStreamLabels() const {
  for (const auto& s : *stages_) {
    if (s.kind == Stage::Kind::kParser || s.kind == Stage::Kind::kDrop ||
        s.kind == Stage::Kind::kKeep)
      return false;
    if (s.kind == Stage::Kind::kLabelFilter) return false;  // may add __error__
  }
  return true;
}

}  // namespace berth::logs::logql
