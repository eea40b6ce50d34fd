// The strict reader for everything users write: app specs, gateway configuration, API
// bodies, a new component's files. YAML or JSON text becomes a `Document` of `Node`s that
// remember where they were written; a component's reader for a struct then reads it field by
// field with `Object`, declaratively:
//
//   Result<PortSpec> ReadPort(const input::Node& n) {
//     PortSpec p;
//     input::Object o(n);
//     o.Required("containerPort", p.container_port, input::Int(1, 65535));
//     o.Optional("hostPort", p.host_port, input::Int(0, 65535));
//     o.Optional("protocol", p.protocol,
//                input::Enum<Protocol>({{"tcp", Protocol::kTcp}, {"udp", Protocol::kUdp}}));
//     o.Optional("name", p.name, input::NonEmptyString);
//     BERTH_TRY(o.Done());  // the first error, or an unknown field
//     return p;
//   }
//   auto doc = BERTH_TRY(input::ParseYaml(text, "app.yaml"));
//   auto port = BERTH_TRY(ReadPort(doc.root()));
//
// Every error is a kInvalidArgument that names the file, the line and column, and the field's
// path: `app.yaml:12:15: services.api.ports[0].containerPort: must be an integer from 1 to
// 65535, got "http"`. Unknown fields are errors at their key, with the nearest known name
// ("did you mean \"image\"?"); a key given twice is an error at the second one.
//
// Scalar types: JSON is typed (a string field refuses 80, an integer field refuses "80");
// YAML scalars are read by the field's grammar whether quoted or not (`replicas: "3"` is 3),
// except that a string field takes any scalar as its text. Durations, byte sizes and CPU
// amounts use the grammars of core/units.h.
//
// A reader is any callable `Result<T>(const Node&)`: the ones below, a nested struct's own
// reader, or a lambda. Readers compose: ListOf(ReadPort), MapOf(input::String).
// Thread-safety: a Document is immutable once parsed; read it from any number of threads.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/try.h"
#include "core/units.h"

namespace berth::input {

struct Limits {
  size_t max_bytes = 4 << 20;
  int max_depth = 64;
  size_t max_nodes = 1 << 20;  // YAML aliases can repeat a subtree: the expanded count
};

class Node;

// Where a node was written. Line and column count from 1; 0 when unknown (a tree built from
// an already parsed Json has no positions).
struct Mark {
  int line = 0;
  int column = 0;
};

// A map entry: the key as written and where, and its value.
struct Entry {
  std::string key;
  Mark mark;
  const Node* value = nullptr;
};

class Node {
 public:
  enum class Kind : uint8_t { kNull, kScalar, kMap, kList };
  // How a scalar was written, which decides its JSON type and what readers accept.
  enum class Style : uint8_t {
    kPlain,       // a YAML plain scalar: typed by the reader (80, true, 5s, nginx)
    kQuoted,      // a quoted or block YAML scalar: typed by the reader too
    kJsonString,  // a JSON string
    kJsonNumber,  // a JSON number, its text as written
    kJsonBool,    // JSON true or false
  };

  Kind kind() const { return kind_; }
  bool IsNull() const { return kind_ == Kind::kNull; }
  bool IsScalar() const { return kind_ == Kind::kScalar; }
  bool IsMap() const { return kind_ == Kind::kMap; }
  bool IsList() const { return kind_ == Kind::kList; }
  Style style() const { return style_; }
  // A scalar's text (decoded); empty for other kinds.
  const std::string& text() const { return text_; }
  Mark mark() const { return mark_; }

  // List items, in order.
  const std::vector<const Node*>& items() const { return items_; }
  // Map entries, in document order.
  const std::vector<Entry>& entries() const { return entries_; }
  // A map's value for `key`, or nullptr (also for a node that is not a map).
  const Node* Find(std::string_view key) const;

  // "services.api.ports[0]" (empty for the root); keys that are not plain words are quoted:
  // metadata["berth.node"].
  std::string Path() const;
  // The node at `path` (as Path() writes it) under this one, or the deepest node on the way
  // that exists: where to point an error found after reading (a domain type's Validate()).
  const Node& Nearest(std::string_view path) const;
  // The document's name (the file name, "request body").
  const std::string& source() const { return *source_; }
  // kInvalidArgument naming file, line, column and this node's path: "f:3:7: a.b: message".
  Error Invalid(std::string_view message) const;
  // The same, to return from a reader: `return n.Fail("must start with '/'");`.
  std::unexpected<Error> Fail(std::string_view message) const {
    return std::unexpected(Invalid(message));
  }
  // The same at another place under this node (a key's mark, a child's path).
  Error InvalidAt(Mark mark, std::string_view path, std::string_view message) const;
  // What this node is, for messages: "a map", "a list" (in JSON "an object", "an array"),
  // "nothing", or the scalar.
  std::string Describe() const;
  // "must be a map" / "must be an object", "must be a list" / "must be an array", as the
  // document's format names them, followed by ", got <Describe()>".
  std::string MustBeMap() const;
  std::string MustBeList() const;

 private:
  friend class Builder;
  Kind kind_ = Kind::kNull;
  Style style_ = Style::kPlain;
  bool json_ = false;  // from a JSON document: "object" and "array" in messages
  Mark mark_;
  const Node* parent_ = nullptr;
  size_t index_ = 0;  // position in the parent's items or entries
  const std::string* source_ = nullptr;
  std::string text_;
  std::vector<const Node*> items_;
  std::vector<Entry> entries_;
};

// A parsed text: owns its nodes. Movable; nodes keep their addresses when it moves.
class Document {
 public:
  Document();
  Document(Document&&) noexcept;
  Document& operator=(Document&&) noexcept;
  ~Document();

  const Node& root() const { return *root_; }
  const std::string& source() const { return *source_; }

 private:
  friend class Builder;
  std::unique_ptr<std::string> source_;
  std::deque<Node> nodes_;
  const Node* root_ = nullptr;
};

// Parses YAML (UTF-8, one document: a second `---` document is an error). `source` names
// the text in errors: a file name, or what it is ("request body").
Result<Document> ParseYaml(std::string_view text, std::string_view source, Limits limits = {});
// Parses JSON strictly (one value, no trailing text, no duplicate keys), with positions.
Result<Document> ParseJson(std::string_view text, std::string_view source, Limits limits = {});
// JSON when the first non-blank character is '{' or '[', else YAML.
Result<Document> Parse(std::string_view text, std::string_view source, Limits limits = {});
// A document over an already parsed Json value (no positions; errors name the path).
Document FromJson(const nlohmann::json& value, std::string_view source);
// The node as a Json value: YAML plain scalars typed as YAML 1.2's core schema does (80 is
// a number, true a boolean, ~ null), quoted ones strings; JSON scalars keep their type.
nlohmann::json ToJson(const Node& node);

// ---- readers ----------------------------------------------------------------------------

Result<std::string> String(const Node& n);
Result<std::string> NonEmptyString(const Node& n);
Result<bool> Bool(const Node& n);

// An integer in [min, max]; `what` replaces "an integer from <min> to <max>" in errors.
struct Int {
  int64_t min = 0;
  int64_t max = INT64_MAX;
  std::string_view what = {};
  Int(int64_t lo, int64_t hi, std::string_view w = {}) : min(lo), max(hi), what(w) {}
  Result<int64_t> operator()(const Node& n) const;
};

// A number (integer or fraction) in [min, max].
struct Number {
  double min = 0;
  double max = 0;
  Number(double lo, double hi) : min(lo), max(hi) {}
  Result<double> operator()(const Node& n) const;
};

// A duration (core/units.h) in [min, max]. `bare_unit`: only for a field whose name carries
// the unit (minReadySeconds: 10), what a bare number counts in.
struct Duration {
  Millis min{0};
  Millis max = kMaxDuration;
  std::optional<Millis> bare_unit = {};
  Result<Millis> operator()(const Node& n) const;
};

// A byte size (core/units.h) in [min, max] bytes.
struct Bytes {
  int64_t min = 0;
  int64_t max = int64_t{1} << 62;
  Result<int64_t> operator()(const Node& n) const;
};

// A CPU amount (core/units.h), in millicores, in [min, max].
struct Cpu {
  int64_t min = 0;
  int64_t max = 1'000'000'000;
  Result<int64_t> operator()(const Node& n) const;
};

// One of a fixed set of words: Enum<Protocol>({{"tcp", Protocol::kTcp}, {"udp", ...}}).
template <typename E>
class Enum {
 public:
  Enum(std::initializer_list<std::pair<std::string_view, E>> values) : values_(values) {}
  Result<E> operator()(const Node& n) const {
    std::vector<std::string_view> names;
    if (n.IsScalar() && n.style() != Node::Style::kJsonNumber &&
        n.style() != Node::Style::kJsonBool) {
      for (const auto& [name, value] : values_) {
        if (n.text() == name) return value;
      }
    }
    for (const auto& [name, value] : values_) names.push_back(name);
    return std::unexpected(n.Invalid(OneOfMessage(names, n)));
  }

 private:
  static std::string OneOfMessage(const std::vector<std::string_view>& names, const Node& n);
  std::vector<std::pair<std::string_view, E>> values_;
};

// "must be one of a, b or c, got "x" (did you mean "a"?)".
std::string MustBeOneOf(const std::vector<std::string_view>& names, const Node& n);
template <typename E>
std::string Enum<E>::OneOfMessage(const std::vector<std::string_view>& names, const Node& n) {
  return MustBeOneOf(names, n);
}

// A list, each item read by `read`; at most `max_items` items.
template <typename Read>
auto ListOf(Read read, size_t max_items = SIZE_MAX) {
  using T = typename std::invoke_result_t<Read, const Node&>::value_type;
  return [read = std::move(read), max_items](const Node& n) -> Result<std::vector<T>> {
    if (!n.IsList()) return n.Fail(n.MustBeList());
    if (n.items().size() > max_items) {
      return std::unexpected(n.Invalid("has " + std::to_string(n.items().size()) +
                                       " items; at most " + std::to_string(max_items)));
    }
    std::vector<T> out;
    out.reserve(n.items().size());
    for (const Node* item : n.items()) out.push_back(BERTH_TRY(read(*item)));
    return out;
  };
}

// A map of names to values read by `read` (keys as written; order by key).
template <typename Read>
auto MapOf(Read read, size_t max_entries = SIZE_MAX) {
  using T = typename std::invoke_result_t<Read, const Node&>::value_type;
  return [read = std::move(read), max_entries](const Node& n) -> Result<std::map<std::string, T>> {
    if (!n.IsMap()) return n.Fail(n.MustBeMap());
    if (n.entries().size() > max_entries) {
      return std::unexpected(n.Invalid("has " + std::to_string(n.entries().size()) +
                                       " entries; at most " + std::to_string(max_entries)));
    }
    std::map<std::string, T> out;
    for (const Entry& e : n.entries()) out.emplace(e.key, BERTH_TRY(read(*e.value)));
    return out;
  };
}

// ---- Object: a map read field by field --------------------------------------------------

class Object {
 public:
  // Reads `node`, which must be a map (else the first error says so).
  explicit Object(const Node& node);
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;

  // Reads `key` into `out` with `read`; an error when it is missing.
  template <typename T, typename Read>
  Object& Required(std::string_view key, T& out, Read&& read) {
    if (const Node* v = Take(key)) {
      Read1(*v, out, read);
    } else {
      Missing(key);
    }
    return *this;
  }
  // Reads `key` into `out` when present; `out` keeps its value (the default) otherwise.
  template <typename T, typename Read>
  Object& Optional(std::string_view key, T& out, Read&& read) {
    if (const Node* v = Take(key)) Read1(*v, out, read);
    return *this;
  }
  // Strings and booleans need no reader.
  Object& Required(std::string_view key, std::string& out) { return Required(key, out, String); }
  Object& Optional(std::string_view key, std::string& out) { return Optional(key, out, String); }
  Object& Optional(std::string_view key, bool& out) { return Optional(key, out, Bool); }

  // The value of `key` (nullptr when absent), marked as known: for a field read by hand.
  const Node* Take(std::string_view key);
  // Marks `keys` as known and ignored (accepted for compatibility, meaning nothing here).
  Object& Ignore(std::initializer_list<std::string_view> keys);
  // An error unless exactly one (or at most one) of `keys` is present.
  Object& ExactlyOneOf(std::initializer_list<std::string_view> keys);
  Object& AtMostOneOf(std::initializer_list<std::string_view> keys);
  // Records `error` unless an earlier one is recorded (for checks written by hand).
  Object& Fail(Error error);
  // Records the error of `result`, if it failed: a nested Object's Done(), a hand check.
  Object& Check(Result<void> result) {
    if (!result) Fail(std::move(result.error()));
    return *this;
  }

  bool Has(std::string_view key) const { return node_.Find(key) != nullptr; }
  bool ok() const { return !error_.has_value(); }
  const Node& node() const { return node_; }
  // The first error in the document: the first one recorded, or an unknown field written
  // before it.
  Result<void> Done();

 private:
  template <typename T, typename Read>
  void Read1(const Node& v, T& out, Read& read) {
    if (error_) return;
    auto r = read(v);
    if (!r) {
      Fail(std::move(r.error()));
    } else if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T>) {
      out = static_cast<T>(*r);
    } else if constexpr (std::is_assignable_v<T&, decltype(std::move(*r))>) {
      out = std::move(*r);
    } else {
      out = T(r->begin(), r->end());  // a list of int64 into a std::vector<int>
    }
  }
  void Missing(std::string_view key);

  const Node& node_;
  std::vector<std::string_view> known_;
  std::optional<Error> error_;
  Mark error_mark_;
};

// The known name nearest to `word` (at most a third of its letters apart), or empty.
std::string_view NearestName(std::string_view word, const std::vector<std::string_view>& names);

}  // namespace berth::input
