// The configuration center's endpoints (config_endpoints.cc), over config::ConfigCenter.
// Items live in a config namespace (admins create one; "default" always exists):
//   GET    /v1/configs/{ns}[?prefix&label=k=v&limit&after]   items (paginated, filtered)
//   GET    /v1/configs/{ns}/{name}[?version=N]               an item with a version's content
//   PUT    /v1/configs/{ns}/{name}                           publish, draft or gray-publish
//   DELETE /v1/configs/{ns}/{name}                           the item and its history
//   GET    /v1/configs/{ns}/{name}/history[?limit]           versions, newest first
//   GET    /v1/configs/{ns}/{name}/diff?from=A&to=B          unified diff of two versions
//   POST   /v1/configs/{ns}/{name}/rollback                  {"to":V,"message"}
//   POST   /v1/configs/{ns}/{name}/publish                   the draft ({"gray","message"})
//   POST   /v1/configs/{ns}/{name}/promote|abort             end a gray release
//   GET|DELETE /v1/configs/{ns}/{name}/draft
//   GET    /v1/configs/{ns}/{name}/status                    consumers' acknowledgements
//   GET    /v1/config-namespaces                             namespaces (those the caller sees)
//   GET|PUT|DELETE /v1/config-namespaces/{ns}                settings (writes: global admin)
//   GET    /v1/config-namespaces/{ns}/export                 every released item, one file
//   POST   /v1/config-namespaces/{ns}/import[?dry_run]       that file back, all or nothing
// Viewers of the namespace read; operators write (audited by the server, content never in
// the audit record: only the path and the answer's status are).
//
// Secrets (secret_endpoints.cc, over config::SecretStore), in the same namespaces:
//   GET    /v1/secrets/{ns}                       names and metadata (viewers), never values
//   GET    /v1/secrets/{ns}/{name}[?reveal][&version=N]  metadata; the value with ?reveal, for
//                                                 an admin of the namespace only
//   PUT    /v1/secrets/{ns}/{name}                {"value"}: a new version (operator)
//   DELETE /v1/secrets/{ns}/{name}                every version (operator)
//   GET    /v1/secrets/{ns}/{name}/history        versions' metadata
//   POST   /v1/secrets:rotate-key                 new master key, every data key re-wrapped
//                                                 (global admin)
#pragma once

#include <asio/io_context.hpp>

#include "api/router.h"
#include "config/config_center.h"
#include "config/delivery_hub.h"
#include "config/secrets.h"

namespace berth::api {

void RegisterConfigEndpoints(Router& router, config::ConfigCenter& center);
void RegisterSecretEndpoints(Router& router, config::SecretStore& secrets);
// Delivery to programs (config_watch_endpoints.cc, decision 0014):
//   POST /v1/configs:watch                    {"watches":[{"namespace","name","revision"?}],
//                                              "instance"?,"labels"?,"content"?}: JSON lines
//   GET  /v1/configs/{ns}/{name}/watch?index=R&wait=30s[&instance=&labels=k=v]  blocking query
//   POST /v1/configs/{ns}/{name}/ack          {"consumer","version","revision"?,"node"?,"error"?}
void RegisterConfigDeliveryEndpoints(Router& router, config::ConfigCenter& center,
                                     config::DeliveryHub& hub, asio::io_context& io);

}  // namespace berth::api
