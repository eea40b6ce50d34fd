// The `etcd` Store back-end: Berth's store on a real etcd v3 cluster, spoken to the way
// etcd's own clients do, over gRPC (HTTP/2: every call and watch multiplexed on one
// connection per member; docs/decisions/0013-etcd-grpc.md).
//
// - Several endpoints: a call goes to the current member; on a transport failure it fails
//   over to the next one (reads and idempotent calls always; writes only when they provably
//   did not take effect, so a write is never applied twice). A member cut off from its
//   cluster refuses at once (etcd's `hasleader` metadata on every call and watch).
// - Reads of the latest revision come from a mirror of the keyspace kept in memory by one
//   watch over every key (store/etcd/internal/kv_mirror.h): a linearizable read (the
//   default) first learns a revision at least as new as every acknowledged write (one etcd
//   round trip shared by every read that arrived meanwhile) and waits for the mirror to
//   reach it; a serializable read (RangeOptions::serializable) is answered at once. Reads at
//   an older revision, reads while the mirror is not in sync, and ranges inside a txn go to
//   etcd.
// - Writes: Txn also runs asynchronously (store/async_txn.h), so the API answers a write
//   from gRPC's thread without a thread of its own waiting.
// - Watch: one gRPC stream per watch. After a disconnect it resumes on the next member from
//   the last delivered revision + 1, so no event is lost or delivered twice. A start revision
//   at or below etcd's compact revision ends the watch with `compacted`.
// - Errors map to ErrorCode: compacted -> kCompacted, lease not found -> kNotFound, a member
//   that cannot be reached (or has no leader) -> kUnavailable.
//
// Thread-safety: as Store (store/store.h): every method from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "store/store.h"

namespace berth::store {

struct EtcdTls {
  std::string ca_file;    // PEM roots that sign the members' certificates
  std::string cert_file;  // client certificate and key (PEM), when etcd asks for one
  std::string key_file;
};

struct EtcdOptions {
  // One attempt of a call on one member.
  std::chrono::milliseconds request_timeout{8000};
  // How long a call keeps failing over between members before it returns kUnavailable: longer
  // than an etcd leader election (~1-3 s), shorter than the timeouts of Berth's own clients
  // (agent 15 s, CLI 30 s), so that they get this clear error rather than their own timeout.
  std::chrono::milliseconds failover_deadline{10000};
  // Backoff between reconnect attempts of a watch (doubles up to the max).
  std::chrono::milliseconds watch_retry_initial{50};
  std::chrono::milliseconds watch_retry_max{2000};
  // Serve reads of the latest revision from a mirror of the keyspace (see above). Off: every
  // read goes to etcd.
  bool mirror = true;
  // Key prefixes the mirror does not keep (write-mostly data, e.g. the audit trail): reads
  // under them go to etcd.
  std::vector<std::string> mirror_uncached;
  // How long a linearizable read waits for the mirror to catch up before it asks etcd.
  std::chrono::milliseconds mirror_wait{2000};
  // HTTP/2 connections per member.
  int connections_per_member = 1;
  EtcdTls tls;  // for https:// endpoints
  // For tests: told the member ("http://host:port") each attempt of a watch goes to; the
  // store's own mirror watch has id 0.
  std::function<void(int64_t watch_id, const std::string& endpoint)> watch_attempt_observer;
};

// Opens a store on the cluster whose client URLs are `endpoints` ("http://127.0.0.1:2379",
// "https://..." with options.tls, or "127.0.0.1:2379"). Checks that at least one member
// answers; kUnavailable otherwise, kInvalidArgument for an empty or malformed list.
Result<std::unique_ptr<Store>> OpenEtcdStore(std::vector<std::string> endpoints,
                                             EtcdOptions options = {});

}  // namespace berth::store
