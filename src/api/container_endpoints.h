// The node agent's REST endpoints (berthd dev / berthd agent): containers and images.
//
//   POST   /v1/containers                 run (operator; privileged/cap_add: admin only)
//   GET    /v1/containers[?all]           ps
//   GET    /v1/containers/{name}          inspect
//   POST   /v1/containers/{name}/stop     {"grace_ms": 10000}
//   POST   /v1/containers/{name}/start
//   DELETE /v1/containers/{name}[?force]
//   GET    /v1/containers/{name}/logs[?tail=N&follow]   JSON lines
//   POST   /v1/containers/{name}/exec     {"cmd": [...], "timeout_ms": 0 (none)}
//          -> {"exit_code","stdout","stderr"[,"timed_out": true]}
//   GET    /v1/images                      ls
//   GET    /v1/images/{ref...}             inspect
//   DELETE /v1/images/{ref...}             rm (refused while a container uses it)
//   POST   /v1/images/import {"path"}      a docker-save or OCI archive on the node (admin)
//   POST   /v1/images/build  {"dir","name","entrypoint","cmd","env","user"} (admin)
//   POST   /v1/images/pull   {"ref","plain_http","username","password","progress"}
//          with "progress": true, JSON lines {"progress":{"digest","done","total"}} as blobs
//          download, then {"image":{...}} or {"error":{"code","message"}}
// Slow calls (run, pull, import, build, stop, exec) run on their own thread and reply from
// there. Wire with RegisterContainerEndpoints from cmd/ where an Agent exists.
// Thread-safety: handlers may run concurrently; Agent and ImageStore are thread-safe.
#pragma once

#include "agent/agent.h"
#include "agent/image/image_store.h"
#include "agent/image/puller.h"
#include "api/router.h"

namespace berth::security::admission {
class AdmissionController;
}

namespace berth::api {

// Validates a run body; `admin` allows privileged and cap_add.
Result<agent::RunSpec> RunSpecFromJson(const Json& body, bool admin);
Json ContainerJson(const agent::ContainerInfo& c);

// `on_image` (optional) is told the name of every image imported, built or pulled (the
// scanner scans it at once); `admission` (optional) judges every run against the container's
// namespace's admission policy.
void RegisterContainerEndpoints(Router& router, agent::Agent& agent,
                                agent::image::ImageStore& images, agent::image::Puller& puller,
                                std::function<void(const std::string&)> on_image = nullptr,
                                security::admission::AdmissionController* admission = nullptr);
// The namespace of the container {name} names (an endpoint's namespace_of); 404 when none.
Result<std::string> ContainerNamespace(agent::Agent& agent, const Call& call);

}  // namespace berth::api
