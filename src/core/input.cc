#include "core/input.h"

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <set>
#include <unordered_set>

#include "core/json.h"
#include "core/json_writer.h"

namespace berth::input {

// ---- building documents -----------------------------------------------------------------

class Builder {
 public:
  // `json`: the document is JSON (messages say "object" and "array").
  Builder(std::string_view source, Limits limits, bool json = false)
      : limits_(limits), json_(json) {
    doc_.source_ = std::make_unique<std::string>(source);
  }

  // A new node: the root when `parent` is nullptr, else the next item of a list or the entry
  // `key` (written at `key_mark`) of a map. nullptr past the node limit.
  Node* Add(Node::Kind kind, Mark mark, Node* parent, std::string key = {}, Mark key_mark = {}) {
    if (doc_.nodes_.size() >= limits_.max_nodes) return nullptr;
    Node& n = doc_.nodes_.emplace_back();
    n.kind_ = kind;
    n.mark_ = mark;
    n.parent_ = parent;
    n.source_ = doc_.source_.get();
    n.json_ = json_;
    if (parent == nullptr) {
      doc_.root_ = &n;
    } else if (parent->kind_ == Node::Kind::kMap) {
      n.index_ = parent->entries_.size();
      parent->entries_.push_back(Entry{std::move(key), key_mark, &n});
    } else {
      n.index_ = parent->items_.size();
      parent->items_.push_back(&n);
    }
    return &n;
  }
  static void SetScalar(Node& n, std::string text, Node::Style style) {
    n.text_ = std::move(text);
    n.style_ = style;
  }

  Error Invalid(Mark mark, std::string_view message) const {
    Node probe;
    probe.source_ = doc_.source_.get();
    return probe.InvalidAt(mark, "", message);
  }
  Error TooManyNodes(Mark mark) const {
    return Invalid(mark, fmt::format("more than {} values (aliases expand to their copies)",
                                     limits_.max_nodes));
  }
  const Limits& limits() const { return limits_; }
  Document Take() {
    if (doc_.root_ == nullptr) Add(Node::Kind::kNull, {}, nullptr);
    return std::move(doc_);
  }

 private:
  Limits limits_;
  bool json_ = false;
  Document doc_;
};

Document::Document() = default;
Document::Document(Document&&) noexcept = default;
Document& Document::operator=(Document&&) noexcept = default;
Document::~Document() = default;

namespace {

bool IsWord(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

void AppendPathStep(std::string& path, std::string_view key) {
  if (IsWord(key)) {
    if (!path.empty()) path += '.';
    path += key;
  } else {
    path += '[';
    path += Quoted(key);
    path += ']';
  }
}

std::string ChildPath(const Node& map, std::string_view key) {
  std::string path = map.Path();
  AppendPathStep(path, key);
  return path;
}

// ---- YAML ----

Mark MarkOf(const YAML::Mark& m) {
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

class YamlConverter {
 public:
  explicit YamlConverter(Builder& b) : b_(b) {}

  // Converts `y` into a new node under `parent` (see Builder::Add); `fallback` is the mark
  // of a node yaml-cpp gives none (an empty value: its key's).
  Result<void> Convert(const YAML::Node& y, Mark fallback, Node* parent, std::string key,
                       int depth) {
    // An empty value (`key:`) is marked at its key: yaml-cpp marks where the next token is.
    Mark mark = y.IsNull() && parent != nullptr ? fallback : MarkOf(y.Mark());
    if (mark.line == 0) mark = fallback;
    if (depth > b_.limits().max_depth) {
      return std::unexpected(
          b_.Invalid(mark, fmt::format("nesting deeper than {}", b_.limits().max_depth)));
    }
    const Node::Kind kind = y.IsScalar()     ? Node::Kind::kScalar
                            : y.IsSequence() ? Node::Kind::kList
                            : y.IsMap()      ? Node::Kind::kMap
                                             : Node::Kind::kNull;
    Node* n = b_.Add(kind, mark, parent, std::move(key), fallback);
    if (n == nullptr) return std::unexpected(b_.TooManyNodes(mark));
    if (kind == Node::Kind::kScalar) {
      // Plain scalars carry the non-specific tag "?"; quoted and block ones "!".
      const std::string& tag = y.Tag();
      const bool quoted = tag == "!" || tag == "tag:yaml.org,2002:str";
      Builder::SetScalar(*n, y.Scalar(), quoted ? Node::Style::kQuoted : Node::Style::kPlain);
    } else if (kind == Node::Kind::kList) {
      for (const auto& item : y) BERTH_TRY(Convert(item, mark, n, {}, depth + 1));
    } else if (kind == Node::Kind::kMap) {
      std::unordered_set<std::string> seen;
      for (auto it = y.begin(); it != y.end(); ++it) {
        Mark key_mark = MarkOf(it->first.Mark());
        if (key_mark.line == 0) key_mark = mark;
        if (!it->first.IsScalar()) {
          return std::unexpected(n->InvalidAt(key_mark, n->Path(),
                                              std::string("map keys must be plain strings, got ") +
                                                  (it->first.IsMap()        ? "a map"
                                                   : it->first.IsSequence() ? "a list"
                                                                            : "nothing")));
        }
        std::string k = it->first.Scalar();
        if (!seen.insert(k).second) {
          return std::unexpected(n->InvalidAt(key_mark, ChildPath(*n, k), "given twice"));
        }
        BERTH_TRY(Convert(it->second, key_mark, n, std::move(k), depth + 1));
      }
    }
    return {};
  }

 private:
  Builder& b_;
};

// ---- JSON ----

// Where the JSON lexer is: nlohmann's SAX interface reports no positions, so the parser
// reads through an iterator that tracks the lines and the last non-blank byte it consumed.
struct Cursor {
  const char* begin = nullptr;
  const char* last_nonblank = nullptr;
  const char* line_start = nullptr;
  const char* prev_line_start = nullptr;
  int line = 1;
};

class TrackingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackingIterator(const char* p, Cursor* c) : p_(p), c_(c) {}
  reference operator*() const { return *p_; }
  TrackingIterator& operator++() {
    const char ch = *p_;
    if (ch == '\n') {
      c_->prev_line_start = c_->line_start;
      c_->line_start = p_ + 1;
      ++c_->line;
    } else if (ch != ' ' && ch != '\t' && ch != '\r') {
      c_->last_nonblank = p_;
    }
    ++p_;
    return *this;
  }
  TrackingIterator operator++(int) {
    TrackingIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const TrackingIterator& o) const { return p_ == o.p_; }
  bool operator!=(const TrackingIterator& o) const { return p_ != o.p_; }

 private:
  const char* p_;
  Cursor* c_;
};

class JsonSax {
 public:
  enum class Token { kOpen, kString, kNumber, kLiteral };

  JsonSax(Builder& b, Cursor& c) : b_(b), c_(c) {}

  bool null() { return Value(Node::Kind::kNull, {}, Node::Style::kPlain, Token::kLiteral); }
  bool boolean(bool v) {
    return Value(Node::Kind::kScalar, v ? "true" : "false", Node::Style::kJsonBool,
                 Token::kLiteral);
  }
  bool number_integer(Json::number_integer_t) { return Number(); }
  bool number_unsigned(Json::number_unsigned_t) { return Number(); }
  bool number_float(Json::number_float_t, const std::string&) { return Number(); }
  bool string(std::string& v) {
    return Value(Node::Kind::kScalar, std::move(v), Node::Style::kJsonString, Token::kString);
  }
  bool binary(Json::binary_t&) { return false; }
  bool start_object(std::size_t) { return Open(Node::Kind::kMap); }
  bool start_array(std::size_t) { return Open(Node::Kind::kList); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(std::string& k) {
    Frame& f = stack_.back();
    if (!f.keys.insert(k).second) {
      error_ = f.node->InvalidAt(Here(Token::kString), ChildPath(*f.node, k), "given twice");
      return false;
    }
    key_ = std::move(k);
    key_mark_ = Here(Token::kString);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    if (!error_) {
      // nlohmann's message names the line and column: "[json.exception.parse_error.101]
      // parse error at line 1, column 7: syntax error ...".
      std::string what = e.what();
      if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
      error_ = b_.Invalid({}, "malformed JSON: " + what);
    }
    return false;
  }

  std::optional<Error>& error() { return error_; }

 private:
  struct Frame {
    Node* node;
    std::unordered_set<std::string> keys;
  };

  // Where the token just read starts.
  Mark Here(Token token) const {
    const char* end = c_.last_nonblank;
    if (end == nullptr) return {};
    const char* start = end;
    switch (token) {
      case Token::kOpen:
        break;
      case Token::kString:  // back from the closing quote to the unescaped opening one
        for (start = end - 1; start > c_.begin; --start) {
          if (*start != '"') continue;
          size_t slashes = 0;
          for (const char* s = start - 1; s >= c_.begin && *s == '\\'; --s) ++slashes;
          if (slashes % 2 == 0) break;
        }
        break;
      case Token::kNumber:  // the lexer read one byte past the number
        if (*end == ',' || *end == '}' || *end == ']') --end;
        [[fallthrough]];
      case Token::kLiteral:
        start = end;
        while (start > c_.begin && std::string_view("0123456789+-.eEtruefalsn").find(start[-1]) !=
                                       std::string_view::npos) {
          --start;
        }
        break;
    }
    if (c_.line_start != nullptr && start >= c_.line_start) {
      return {c_.line, static_cast<int>(start - c_.line_start) + 1};
    }
    if (c_.prev_line_start != nullptr && start >= c_.prev_line_start) {
      return {c_.line - 1, static_cast<int>(start - c_.prev_line_start) + 1};
    }
    return {c_.line, 0};
  }

  Node* Attach(Node::Kind kind, Mark mark) {
    Node* parent = stack_.empty() ? nullptr : stack_.back().node;
    const bool in_map = parent != nullptr && parent->kind() == Node::Kind::kMap;
    Node* n = b_.Add(kind, mark, parent, in_map ? std::move(key_) : std::string(), key_mark_);
    if (n == nullptr) error_ = b_.TooManyNodes(mark);
    return n;
  }
  bool Value(Node::Kind kind, std::string text, Node::Style style, Token token) {
    Node* n = Attach(kind, Here(token));
    if (n == nullptr) return false;
    if (kind == Node::Kind::kScalar) Builder::SetScalar(*n, std::move(text), style);
    return true;
  }
  bool Number() {
    const Mark mark = Here(Token::kNumber);
    // The number's text as written, from its start to the last digit.
    const char* end = c_.last_nonblank;
    if (*end == ',' || *end == '}' || *end == ']') --end;
    const char* start = end;
    while (start > c_.begin &&
           std::string_view("0123456789+-.eE").find(start[-1]) != std::string_view::npos) {
      --start;
    }
    Node* n = Attach(Node::Kind::kScalar, mark);
    if (n == nullptr) return false;
    Builder::SetScalar(*n, std::string(start, end + 1), Node::Style::kJsonNumber);
    return true;
  }
  bool Open(Node::Kind kind) {
    if (static_cast<int>(stack_.size()) >= b_.limits().max_depth) {
      error_ = b_.Invalid(Here(Token::kOpen),
                          fmt::format("nesting deeper than {}", b_.limits().max_depth));
      return false;
    }
    Node* n = Attach(kind, Here(Token::kOpen));
    if (n == nullptr) return false;
    stack_.push_back(Frame{n, {}});
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  Builder& b_;
  Cursor& c_;
  std::vector<Frame> stack_;
  std::string key_;
  Mark key_mark_;
  std::optional<Error> error_;
};

Result<void> CheckSize(std::string_view text, std::string_view source, const Limits& limits) {
  if (text.size() <= limits.max_bytes) return {};
  return Fail(ErrorCode::kPayloadTooLarge, fmt::format("{}: {} bytes exceeds the limit of {}",
                                                       source, text.size(), limits.max_bytes));
}

// ---- readers ----

bool IsJsonLiteral(const Node& n) {
  return n.style() == Node::Style::kJsonNumber || n.style() == Node::Style::kJsonBool;
}

template <typename T>
bool ParseWhole(std::string_view s, T& out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// A scalar a grammar may read: any YAML scalar, a JSON string or number (not a boolean).
const std::string* GrammarText(const Node& n) {
  if (!n.IsScalar() || n.style() == Node::Style::kJsonBool) return nullptr;
  return &n.text();
}

// "a, b or c" (`last` "and": "a, b and c").
std::string JoinOr(const std::vector<std::string_view>& names, std::string_view last = "or") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? fmt::format(" {} ", last) : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace

// ---- Node -------------------------------------------------------------------------------

const Node* Node::Find(std::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) return e.value;
  }
  return nullptr;
}

std::string Node::Path() const {
  std::vector<const Node*> chain;
  for (const Node* n = this; n->parent_ != nullptr; n = n->parent_) chain.push_back(n);
  std::string path;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const Node* n = *it;
    if (n->parent_->kind_ == Kind::kMap) {
      AppendPathStep(path, n->parent_->entries_[n->index_].key);
    } else {
      path += fmt::format("[{}]", n->index_);
    }
  }
  return path;
}

const Node& Node::Nearest(std::string_view path) const {
  const Node* n = this;
  size_t i = 0;
  while (i < path.size()) {
    const Node* next = nullptr;
    if (path[i] == '.') ++i;
    if (path.substr(i).starts_with("[\"")) {  // ["key"], escaped as Quoted() escapes
      std::string key;
      size_t j = i + 2;
      for (; j < path.size() && path[j] != '"'; ++j) {
        if (path[j] == '\\' && j + 1 < path.size()) ++j;
        key += path[j];
      }
      i = j + 2;  // past "]
      next = n->Find(key);
    } else if (i < path.size() && path[i] == '[') {
      const size_t close = path.find(']', i);
      size_t index = 0;
      if (close == std::string_view::npos ||
          !ParseWhole(path.substr(i + 1, close - i - 1), index)) {
        break;
      }
      i = close + 1;
      if (n->IsList() && index < n->items_.size()) next = n->items_[index];
    } else {
      const size_t end = path.find_first_of(".[", i);
      next = n->Find(path.substr(i, end == std::string_view::npos ? path.size() - i : end - i));
      i = end == std::string_view::npos ? path.size() : end;
    }
    if (next == nullptr) break;
    n = next;
  }
  return *n;
}

Error Node::Invalid(std::string_view message) const { return InvalidAt(mark_, Path(), message); }

Error Node::InvalidAt(Mark mark, std::string_view path, std::string_view message) const {
  std::string out = source_ != nullptr ? *source_ : std::string("input");
  if (mark.line > 0) {
    out += fmt::format(":{}", mark.line);
    if (mark.column > 0) out += fmt::format(":{}", mark.column);
  }
  out += ": ";
  if (!path.empty()) {
    out += path;
    out += ": ";
  }
  out += message;
  return Error(ErrorCode::kInvalidArgument, std::move(out));
}

std::string Node::MustBeMap() const {
  return std::string(json_ ? "must be an object, got " : "must be a map, got ") + Describe();
}

std::string Node::MustBeList() const {
  return std::string(json_ ? "must be an array, got " : "must be a list, got ") + Describe();
}

std::string Node::Describe() const {
  switch (kind_) {
    case Kind::kNull:
      return "nothing";
    case Kind::kMap:
      return json_ ? "an object" : "a map";
    case Kind::kList:
      return json_ ? "an array" : "a list";
    case Kind::kScalar:
      return IsJsonLiteral(*this) ? text_.substr(0, 64) : Quoted(text_);
  }
  return "nothing";
}

// ---- parsing ----------------------------------------------------------------------------

Result<Document> ParseYaml(std::string_view text, std::string_view source, Limits limits) {
  BERTH_TRY(CheckSize(text, source, limits));
  Builder b(source, limits);
  if (const size_t valid = ValidUtf8Prefix(text); valid != text.size()) {
    const std::string_view before = text.substr(0, valid);
    const size_t line_start = before.rfind('\n');
    const Mark mark{
        static_cast<int>(std::count(before.begin(), before.end(), '\n')) + 1,
        static_cast<int>(valid - (line_start == std::string_view::npos ? 0 : line_start + 1)) + 1};
    return std::unexpected(b.Invalid(mark, "not valid UTF-8"));
  }
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(text));
    if (docs.size() > 1) {
      return std::unexpected(b.Invalid(
          MarkOf(docs[1].Mark()),
          fmt::format("holds {} YAML documents (separated by ---): give one", docs.size())));
    }
    if (!docs.empty()) {
      YamlConverter convert(b);
      BERTH_TRY(convert.Convert(docs[0], Mark{1, 1}, nullptr, {}, 0));
    }
  } catch (const YAML::Exception& e) {
    return std::unexpected(b.Invalid(MarkOf(e.mark), "invalid YAML: " + e.msg));
  }
  return b.Take();
}

Result<Document> ParseJson(std::string_view text, std::string_view source, Limits limits) {
  BERTH_TRY(CheckSize(text, source, limits));
  Builder b(source, limits, /*json=*/true);
  Cursor cursor;
  cursor.begin = text.data();
  cursor.line_start = text.data();
  JsonSax sax(b, cursor);
  const bool ok = Json::sax_parse(TrackingIterator(text.data(), &cursor),
                                  TrackingIterator(text.data() + text.size(), &cursor), &sax);
  if (!ok || sax.error()) {
    if (sax.error()) return std::unexpected(std::move(*sax.error()));
    return std::unexpected(b.Invalid({}, "malformed JSON"));
  }
  return b.Take();
}

Result<Document> Parse(std::string_view text, std::string_view source, Limits limits) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (text[first] == '{' || text[first] == '[')) {
    return ParseJson(text, source, limits);
  }
  return ParseYaml(text, source, limits);
}

namespace {

void FromJsonInto(Builder& b, const Json& j, Node* parent, std::string key) {
  auto scalar = [&](std::string text, Node::Style style) {
    Builder::SetScalar(*b.Add(Node::Kind::kScalar, {}, parent, std::move(key)), std::move(text),
                       style);
  };
  switch (j.type()) {
    case Json::value_t::object: {
      Node* n = b.Add(Node::Kind::kMap, {}, parent, std::move(key));
      for (const auto& [k, v] : j.items()) FromJsonInto(b, v, n, k);
      return;
    }
    case Json::value_t::array: {
      Node* n = b.Add(Node::Kind::kList, {}, parent, std::move(key));
      for (const auto& v : j) FromJsonInto(b, v, n, {});
      return;
    }
    case Json::value_t::string:
      scalar(j.get<std::string>(), Node::Style::kJsonString);
      return;
    case Json::value_t::boolean:
      scalar(j.get<bool>() ? "true" : "false", Node::Style::kJsonBool);
      return;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      scalar(j.dump(), Node::Style::kJsonNumber);
      return;
    case Json::value_t::null:
    case Json::value_t::binary:
    case Json::value_t::discarded:
      b.Add(Node::Kind::kNull, {}, parent, std::move(key));
      return;
  }
}

}  // namespace

Document FromJson(const Json& value, std::string_view source) {
  Limits unlimited;
  unlimited.max_nodes = SIZE_MAX;
  Builder b(source, unlimited, /*json=*/true);
  FromJsonInto(b, value, nullptr, {});
  return b.Take();
}

Json ToJson(const Node& n) {
  switch (n.kind()) {
    case Node::Kind::kNull:
      return nullptr;
    case Node::Kind::kList: {
      Json out = Json::array();
      for (const Node* item : n.items()) out.push_back(ToJson(*item));
      return out;
    }
    case Node::Kind::kMap: {
      Json out = Json::object();
      for (const Entry& e : n.entries()) out[e.key] = ToJson(*e.value);
      return out;
    }
    case Node::Kind::kScalar:
      break;
  }
  const std::string& s = n.text();
  switch (n.style()) {
    case Node::Style::kQuoted:
    case Node::Style::kJsonString:
      return s;
    case Node::Style::kJsonBool:
      return s == "true";
    case Node::Style::kJsonNumber:
      return Json::parse(s);  // as nlohmann reads it: 1.0 a float, 1e400 infinity
    case Node::Style::kPlain: {
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
      if (s == "null" || s == "Null" || s == "NULL" || s == "~" || s.empty()) return nullptr;
      int64_t i = 0;
      if (ParseWhole(s, i)) return i;
      uint64_t u = 0;
      if (ParseWhole(s, u)) return u;
      double d = 0;
      if (ParseWhole(s, d) && std::isfinite(d)) return d;
      return s;
    }
  }
  return s;
}

// ---- readers ----------------------------------------------------------------------------

Result<std::string> String(const Node& n) {
  if (!n.IsScalar() || IsJsonLiteral(n)) {
    return std::unexpected(n.Invalid("must be a string, got " + n.Describe()));
  }
  return n.text();
}

Result<std::string> NonEmptyString(const Node& n) {
  std::string s = BERTH_TRY(String(n));
  if (s.empty()) return std::unexpected(n.Invalid("must not be empty"));
  return s;
}

Result<bool> Bool(const Node& n) {
  if (n.IsScalar() && n.style() != Node::Style::kJsonString &&
      n.style() != Node::Style::kJsonNumber) {
    const std::string& s = n.text();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  return std::unexpected(n.Invalid("must be true or false, got " + n.Describe()));
}

namespace {

std::string IntRange(int64_t min, int64_t max) {
  if (max == INT64_MAX) {
    if (min == 0) return "a non-negative integer";
    if (min == 1) return "a positive integer";
    return fmt::format("an integer of at least {}", min);
  }
  return fmt::format("an integer from {} to {}", min, max);
}

}  // namespace

Result<int64_t> Int::operator()(const Node& n) const {
  int64_t v = 0;
  const bool number = n.IsScalar() && n.style() != Node::Style::kJsonString &&
                      n.style() != Node::Style::kJsonBool && ParseWhole(n.text(), v);
  if (!number || v < min || v > max) {
    return std::unexpected(n.Invalid(
        fmt::format("must be {}, got {}", what.empty() ? IntRange(min, max) : std::string(what),
                    n.Describe())));
  }
  return v;
}

Result<double> Number::operator()(const Node& n) const {
  double v = 0;
  const bool number = n.IsScalar() && n.style() != Node::Style::kJsonString &&
                      n.style() != Node::Style::kJsonBool && ParseWhole(n.text(), v) &&
                      std::isfinite(v);
  if (!number || v < min || v > max) {
    return std::unexpected(
        n.Invalid(fmt::format("must be a number from {} to {}, got {}", min, max, n.Describe())));
  }
  return v;
}

namespace {

// Reads a scalar with one of core/units.h's grammars, then checks [min, max] (formatted by
// `format` in the error).
template <typename T, typename Parse, typename Format>
Result<T> ReadQuantity(const Node& n, std::string_view kind, Parse parse, T min, T max,
                       Format format) {
  const std::string* text = GrammarText(n);
  if (text == nullptr) {
    return std::unexpected(n.Invalid(fmt::format("must be {}, got {}", kind, n.Describe())));
  }
  auto v = parse(*text);
  if (!v) return std::unexpected(n.Invalid(v.error().message));
  if (*v < min) {
    return std::unexpected(
        n.Invalid(fmt::format("must be at least {}, got {}", format(min), n.Describe())));
  }
  if (*v > max) {
    return std::unexpected(
        n.Invalid(fmt::format("must be at most {}, got {}", format(max), n.Describe())));
  }
  return *v;
}

}  // namespace

Result<Millis> Duration::operator()(const Node& n) const {
  return ReadQuantity<Millis>(
      n, "a duration like 1.5s, 1h30m or 250ms",
      [&](std::string_view t) { return ParseDuration(t, bare_unit); }, min, max, FormatDuration);
}

Result<int64_t> Bytes::operator()(const Node& n) const {
  return ReadQuantity<int64_t>(
      n, "a size like 512Mi or 1Gi", [](std::string_view t) { return ParseBytes(t); }, min, max,
      FormatBytes);
}

Result<int64_t> Cpu::operator()(const Node& n) const {
  return ReadQuantity<int64_t>(
      n, "a CPU amount like 500m or 0.5", [](std::string_view t) { return ParseCpu(t); }, min, max,
      FormatCpu);
}

std::string MustBeOneOf(const std::vector<std::string_view>& names, const Node& n) {
  std::string out = fmt::format("must be {}{}, got {}", names.size() > 1 ? "one of " : "",
                                JoinOr(names), n.Describe());
  if (n.IsScalar()) {
    if (auto near = NearestName(n.text(), names); !near.empty()) {
      out += fmt::format(" (did you mean {}?)", Quoted(near));
    }
  }
  return out;
}

std::string_view NearestName(std::string_view word, const std::vector<std::string_view>& names) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return out;
  };
  const std::string w = lower(word);
  // Words of fewer than three letters get no suggestion: "~" is no typo of "=".
  if (w.size() < 3 || w.size() > 64) return {};
  // Optimal string alignment distance (Levenshtein with adjacent transpositions).
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      for (size_t j = 1; j <= b.size(); ++j) {
        const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
          d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    return d[a.size()][b.size()];
  };
  const size_t limit = std::max<size_t>(1, w.size() / 3);
  std::string_view best;
  size_t best_distance = limit + 1;
  for (std::string_view name : names) {
    if (name.size() > 64) continue;
    const size_t d = distance(w, lower(name));
    if (d < best_distance) {
      best = name;
      best_distance = d;
    }
  }
  return best;
}

// ---- Object -----------------------------------------------------------------------------

Object::Object(const Node& node) : node_(node) {
  if (!node.IsMap()) error_ = node.Invalid(node.MustBeMap());
}

const Node* Object::Take(std::string_view key) {
  known_.push_back(key);
  return node_.Find(key);
}

Object& Object::Ignore(std::initializer_list<std::string_view> keys) {
  known_.insert(known_.end(), keys.begin(), keys.end());
  return *this;
}

Object& Object::Fail(Error error) {
  if (!error_) error_ = std::move(error);
  return *this;
}

void Object::Missing(std::string_view key) {
  if (!error_) error_ = node_.Invalid(fmt::format("{} is required", Quoted(key)));
}

Object& Object::ExactlyOneOf(std::initializer_list<std::string_view> keys) {
  std::vector<std::string_view> names(keys), present;
  for (auto k : keys) {
    if (Has(k)) present.push_back(k);
  }
  if (present.size() == 1 || !node_.IsMap()) return *this;
  return Fail(node_.Invalid(present.empty() ? fmt::format("needs one of {}", JoinOr(names))
                                            : fmt::format("takes only one of {}; got {}",
                                                          JoinOr(names), JoinOr(present, "and"))));
}

Object& Object::AtMostOneOf(std::initializer_list<std::string_view> keys) {
  size_t present = 0;
  for (auto k : keys) present += Has(k) ? 1 : 0;
  if (present <= 1) return *this;
  return Fail(node_.Invalid(fmt::format("takes only one of {}", JoinOr(std::vector(keys)))));
}

Result<void> Object::Done() {
  if (node_.IsMap()) {
    for (const Entry& e : node_.entries()) {
      if (std::find(known_.begin(), known_.end(), e.key) != known_.end()) continue;
      std::string message = "unknown field";
      if (auto near = NearestName(e.key, known_); !near.empty()) {
        message += fmt::format(" (did you mean {}?)", Quoted(near));
      } else if (!known_.empty()) {
        std::vector<std::string_view> names(known_);
        std::sort(names.begin(), names.end());
        names.erase(std::unique(names.begin(), names.end()), names.end());
        message += fmt::format(" (known fields: {})", JoinOr(names));
      }
      return std::unexpected(node_.InvalidAt(e.mark, ChildPath(node_, e.key), message));
    }
  }
  if (error_) return std::unexpected(std::move(*error_));
  return {};
}

}  // namespace berth::input
