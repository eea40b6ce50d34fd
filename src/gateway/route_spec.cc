#include "gateway/route_spec.h"

#include "core/json.h"

namespace berth::gateway {

std::string EncodeServiceRoute(const ServiceRoute& route) {
  Json targets = Json::array();
  for (const ServiceTarget& t : route.targets) {
    Json j{{"service", t.service}, {"namespace", t.ns}};
    if (t.port != 0) j["port"] = t.port;
    if (!t.tags.empty()) j["tags"] = t.tags;
    if (t.weight) j["weight"] = *t.weight;
    targets.push_back(std::move(j));
  }
  Json j{{"name", route.name}, {"match", {{"prefix", route.path_prefix}}}, {"targets", targets}};
  if (!route.owner.empty()) j["owner"] = route.owner;
  if (!route.hosts.empty()) j["hosts"] = route.hosts;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string RouteOwner(std::string_view stored_json) {
  auto j = ParseJson(stored_json);
  if (!j || !j->is_object()) return "";
  auto it = j->find("owner");
  return it != j->end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace berth::gateway
