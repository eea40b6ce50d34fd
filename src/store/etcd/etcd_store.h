// The `etcd` Store back-end: Berth's store on a real etcd v3 cluster, reached through etcd's
// JSON gRPC-gateway (`POST /v3/kv/range`, `/v3/kv/txn`, `/v3/watch`, `/v3/lease/...`; see
// docs/decisions/0002-etcd-json-gateway.md for why JSON rather than gRPC).
//
// - Several endpoints: a call goes to the current member; on a transport failure it fails
//   over to the next one (reads and idempotent calls always; writes only when the request is
//   known not to have reached the failed member, so a write is never applied twice).
// - Watch: one long-lived HTTP stream per watch, served by a thread of the watch. After a
//   disconnect it resumes on the next member from the last delivered revision + 1 (or the
//   last progress-notified one), so no event is lost or delivered twice. A start revision
//   at or below etcd's compact revision ends the watch with `compacted`.
// - Errors map to ErrorCode: compacted -> kCompacted, lease not found -> kNotFound, a member
//   that cannot be reached (or has no leader) -> kUnavailable.
//
// Thread-safety: as Store (store/store.h): every method from any thread; a small pool of
// connections per endpoint serves concurrent callers.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "store/etcd/internal/transport.h"
#include "store/store.h"

namespace berth::store {

struct EtcdOptions {
  std::chrono::milliseconds connect_timeout{3000};
  // Whole exchange of one unary call on one member.
  std::chrono::milliseconds request_timeout{15000};
  // How long a call keeps failing over between members before it returns kUnavailable.
  std::chrono::milliseconds failover_deadline{30000};
  // A watch stream silent for this long is re-established (and resumed); etcd sends
  // progress notifications, so only a dead connection stays silent this long.
  std::chrono::milliseconds watch_idle_timeout{std::chrono::minutes(11)};
  // Backoff between reconnect attempts of a watch (doubles up to the max).
  std::chrono::milliseconds watch_retry_initial{50};
  std::chrono::milliseconds watch_retry_max{2000};
  // Idle connections kept per endpoint.
  size_t max_idle_connections = 16;
  // For tests: how a connection to a member is made. Empty: HTTP over TCP.
  etcd_internal::ConnectionFactory connection_factory;
};

// Opens a store on the cluster whose client URLs are `endpoints` ("http://127.0.0.1:2379"
// or "127.0.0.1:2379"). Checks that at least one member answers; kUnavailable otherwise,
// kInvalidArgument for an empty or malformed list.
Result<std::unique_ptr<Store>> OpenEtcdStore(std::vector<std::string> endpoints,
                                             EtcdOptions options = {});

}  // namespace berth::store
