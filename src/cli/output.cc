#include "cli/output.h"

#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <iostream>

namespace berth::cli {
namespace {

void EmitYaml(YAML::Emitter& out, const Json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      EmitYaml(out, v);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& v : j) EmitYaml(out, v);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << j.get<std::string>();
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << j.dump();
  }
}

}  // namespace

std::string View::NameOf(const Json& item) const {
  std::string n = name ? name(item) : item.value("name", "");
  if (n.starts_with("/")) n.erase(0, 1);  // keys: "key/apps/x", not "key//apps/x"
  return kind + "/" + n;
}

std::vector<std::string> View::Headers(Format format) const {
  std::vector<std::string> out;
  for (const auto& c : columns) {
    if (!c.wide || format == Format::kWide) out.push_back(c.header);
  }
  return out;
}

std::vector<std::string> View::Row(const Json& item, Format format) const {
  std::vector<std::string> out;
  for (const auto& c : columns) {
    if (c.wide && format != Format::kWide) continue;
    std::string cell = c.cell(item);
    for (auto& ch : cell) {
      if (ch == '\n' || ch == '\t') ch = ' ';
    }
    out.push_back(cell.empty() ? "-" : std::move(cell));
  }
  return out;
}

Column Field(std::string header, std::string field, bool wide) {
  return Column{std::move(header),
                [field = std::move(field)](const Json& j) {
                  return j.contains(field) ? Text(j[field]) : std::string();
                },
                wide};
}

void PrintList(const Context& ctx, const View& view, const Json& doc, const Json& items) {
  if (PrintStructured(ctx, doc)) return;
  const Format format = ctx.format();
  if (format == Format::kName) {
    for (const auto& item : items) std::cout << view.NameOf(item) << "\n";
    return;
  }
  if (items.empty()) {
    if (view.namespaced && !ctx.all_namespaces) {
      std::cerr << fmt::format("no {} in namespace {} (-A lists every namespace)\n", view.Plural(),
                               ctx.ns);
    } else {
      std::cerr << fmt::format("no {}\n", view.Plural());
    }
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : items) rows.push_back(view.Row(item, format));
  PrintTable(view.Headers(format), rows);
}

void PrintObject(const Context& ctx, const Json& doc, std::string_view kind, std::string_view name,
                 const std::function<void()>& text) {
  if (PrintStructured(ctx, doc)) return;
  if (ctx.format() == Format::kName) {
    std::string n(name);
    if (n.starts_with("/")) n.erase(0, 1);
    std::cout << kind << "/" << n << "\n";
    return;
  }
  text();
}

bool PrintStructured(const Context& ctx, const Json& j) {
  switch (ctx.format()) {
    case Format::kJson:
      std::cout << j.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
      return true;
    case Format::kYaml:
      std::cout << ToYaml(j) << "\n";
      return true;
    default:
      return false;
  }
}

std::string ToYaml(const Json& j) {
  YAML::Emitter out;
  EmitYaml(out, j);
  return out.c_str();
}

std::string RenderTable(const std::vector<std::string>& headers,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 3, ' ');
    }
    out += "\n";
  };
  line(headers);
  for (const auto& row : rows) line(row);
  return out;
}

void PrintTable(const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows) {
  std::cout << RenderTable(headers, rows);
}

}  // namespace berth::cli
