// GET /v1/changes: one live stream telling a client (the web console) which objects changed,
// so it re-reads only what it shows. A page subscribes to topics and refreshes the objects
// named; the stream carries names, never values, so a viewer learns nothing it could not list.
//
//   GET /v1/changes?topics=apps,nodes,gateway,registry&namespace=NS&revision=R
//   -> application/x-ndjson, one line per changed object and revision:
//      {"topic":"apps","namespace":"shop","name":"shop","type":"changed"|"deleted","revision":R}
//      {"topic":"nodes","name":"local",...}   {"topic":"gateway","name":"<route>",...}
//      {"topic":"registry","namespace":"shop","name":"<service>",...}
//      {"type":"progress","revision":R} first, then every 5 s: every change up to R was sent
//
// An app changes with its spec, its controller records (status, rollout, events, history)
// and its instances' assignments and status reports; a node with its record and the
// assignments on it; the gateway with a route or service setting; a registry service with
// any of its instances. Resume from the last revision + 1; a compacted one answers 410 (list
// again). Topics default to all; `namespace` narrows apps and registry.
// Thread-safety: streams are fed from the store's watch thread and a timer on `io`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "api/router.h"
#include "store/store.h"

namespace berth::api {

// What a changed store key means to the console: zero, one or two objects (an assignment
// changes its app and its node).
struct ChangedObject {
  std::string topic;  // "apps", "nodes", "gateway", "registry"
  std::string ns;     // apps and registry
  std::string name;
  bool deleted = false;  // the object's own key was deleted
};
std::vector<ChangedObject> ClassifyKey(std::string_view key, bool deleted);

void RegisterChangeEndpoints(Router& router, store::Store& store, asio::io_context& io);

}  // namespace berth::api
