// The node endpoints (node_endpoints.cc): how agents join the control plane and how users
// see and steer nodes. Contract 1 of the orchestrator (docs/api.md has the bodies):
//   PUT    /v1/nodes/{node}                       register under a fresh lease (operator)
//   POST   /v1/nodes/{node}/heartbeat             keep the lease alive; 404 once it is gone
//   GET    /v1/nodes                              nodes with status and allocations (viewer)
//   GET    /v1/nodes/{node}                       one node, with its instances
//   POST   /v1/nodes/{node}/cordon|uncordon|drain set the node's status (operator)
//   GET    /v1/nodes/{node}/assignments[?watch=1&revision=R]   list, or JSON-lines watch
//   PUT    /v1/nodes/{node}/status/{ns}/{app}/{instance}       instance status (operator)
//   DELETE /v1/nodes/{node}/status/{ns}/{app}/{instance}
// Keys and JSON are the orchestrator's (orchestrator/codec.h). A node's key and its status
// reports live under the node's lease: when the agent stops heartbeating they vanish.
#pragma once

#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>

#include "api/router.h"
#include "core/clock.h"
#include "store/store.h"

namespace berth::api {

// `io` runs the watch streams' keep-alive timers; `blocking` runs the handlers, which wait
// on the store, so HTTP workers never wait on a commit.
void RegisterNodeEndpoints(Router& router, store::Store& store, Clock& clock, asio::io_context& io,
                           asio::thread_pool& blocking);

}  // namespace berth::api
