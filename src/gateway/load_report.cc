#include "gateway/load_report.h"

#include "core/input.h"
#include "core/json.h"

namespace berth::gateway {
namespace {

Result<ServiceLoad> ReadServiceLoad(const input::Node& n) {
  ServiceLoad s;
  input::Object o(n);
  o.Required("rps", s.rps, input::Number(0, 1e15));
  o.Optional("requests", s.requests, input::Int(0, INT64_MAX));
  BERTH_TRY(o.Done());
  return s;
}

}  // namespace

std::string EncodeLoadReport(const LoadReport& report) {
  Json services = Json::object();
  for (const auto& [svc, load] : report.services) {
    services[svc] = {{"rps", load.rps}, {"requests", load.requests}};
  }
  Json doc{{"time_ms", report.time_ms}, {"window_ms", report.window_ms}, {"services", services}};
  return doc.dump();
}

Result<LoadReport> DecodeLoadReport(std::string_view json) {
  auto doc = BERTH_TRY(input::ParseJson(json, "gateway load report"));
  LoadReport r;
  input::Object o(doc.root());
  o.Optional("time_ms", r.time_ms, input::Int(0, INT64_MAX));
  o.Optional("window_ms", r.window_ms, input::Int(0, INT64_MAX));
  o.Required("services", r.services, input::MapOf(ReadServiceLoad));
  BERTH_TRY(o.Done());
  return r;
}

}  // namespace berth::gateway
