// HTTP/1.1 messages as plain values: what the parser produces, what the server hands to
// handlers and what the client returns. Header names keep their case on the wire but
// compare case-insensitively. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::http {

// Case-insensitive ASCII comparison, as header names need.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

class Headers {
 public:
  struct Field {
    std::string name;
    std::string value;
  };

  // First value of `name`, if any.
  std::optional<std::string_view> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  // Appends a field (headers may repeat).
  void Add(std::string name, std::string value);
  // Replaces every field called `name` with one.
  void Set(std::string name, std::string value);
  // Removes every field called `name`; returns how many were removed.
  size_t Remove(std::string_view name);

  const std::vector<Field>& fields() const { return fields_; }
  std::vector<Field>& mutable_fields() { return fields_; }
  size_t size() const { return fields_.size(); }

 private:
  std::vector<Field> fields_;
};

struct Request {
  std::string method;     // "GET"
  std::string target;     // as sent: "/v1/kv/a?prefix=true"
  std::string path;       // percent-decoded path part of the target: "/v1/kv/a"
  std::string query;      // raw query after '?', not decoded: "prefix=true"
  int version_minor = 1;  // HTTP/1.x
  Headers headers;
  std::string body;
  std::string remote_address;  // "127.0.0.1:53211", filled by the server

  // Value of query parameter `name`, percent-decoded; nullopt when absent.
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
};

// Standard reason phrase for `status` ("Not Found"); "Unknown" when none.
std::string_view ReasonPhrase(int status);

// The items of a comma-separated header value ("gzip, br;q=0.5"), each without the spaces and
// tabs around it; empty items are left out.
std::vector<std::string_view> SplitHeaderList(std::string_view value);

// Percent-decodes `in`; nullopt on a malformed escape. With `plus_as_space`, '+' -> ' '.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_as_space = false);
std::string PercentEncode(std::string_view in);

// Serializes a request or response head plus body with Content-Length (for clients, tests
// and non-streamed server responses).
std::string Serialize(const Request& request);
std::string Serialize(const Response& response, bool head_only = false);

}  // namespace berth::http
