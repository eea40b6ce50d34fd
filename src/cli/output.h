// How `berth` prints what the API answers, one way for every command: `-o json|yaml` print the
// answer as it came, `-o table` an aligned table (or a command's own text for one object),
// `-o wide` the table with its wide columns, `-o name` one `kind/name` per object. A command
// describes a kind of object once, as a View (its kind, its name, its columns), and hands the
// answer to PrintList or PrintObject. Watches (command.h) print through the same View.
// Thread-safety: writes to std::cout/std::cerr; single-threaded like the CLI.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli.h"

namespace berth::cli {

// One column: its header and the cell of one object. A wide column shows only with -o wide
// (kubectl's: node, IP, image, ...).
struct Column {
  std::string header;
  std::function<std::string(const Json&)> cell;
  bool wide = false;
};

// How objects of one kind print.
struct View {
  std::string kind;    // "service": -o name prints service/NAME; completion's "SERVICE"
  std::string plural;  // "services" (default: kind + "s"), in "no services in namespace ..."
  std::function<std::string(const Json&)> name;  // the object's name
  std::vector<Column> columns;
  bool namespaced = false;  // the list is one namespace's (-n), or every one's (-A)

  std::string Plural() const { return plural.empty() ? kind + "s" : plural; }
  // "service/web": what -o name prints, and what a watch tells objects apart by.
  std::string NameOf(const Json& item) const;
  std::vector<std::string> Headers(Format format) const;
  std::vector<std::string> Row(const Json& item, Format format) const;
};

// A column reading one field of the object as text ("" when absent).
Column Field(std::string header, std::string field, bool wide = false);

// Prints a list answer. json/yaml: `doc` as it came; table/wide: a header and a row per item
// of `items` (on stderr, "no services in namespace shop" when there is none); name: one
// kind/name per item.
void PrintList(const Context& ctx, const View& view, const Json& doc, const Json& items);
// Prints the answer about one object (shown, created, changed or removed). json/yaml: `doc`;
// name: `kind/name`; table/wide: `text()` (a message, or a describe-style text).
void PrintObject(const Context& ctx, const Json& doc, std::string_view kind, std::string_view name,
                 const std::function<void()>& text);
// Prints `j` as JSON or YAML; false when the format is neither (the caller prints text).
bool PrintStructured(const Context& ctx, const Json& j);
// `j` as YAML text.
std::string ToYaml(const Json& j);
// Aligned columns, three spaces apart, a header row first.
std::string RenderTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows);
void PrintTable(const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows);

}  // namespace berth::cli
