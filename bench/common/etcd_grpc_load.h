// DriveEtcdGrpc: etcd driven the way its own benchmark tool drives it, over its native gRPC
// API: `load.clients` requests in flight at all times (a closed loop per client) on
// `connections` HTTP/2 connections to one member, one thread polling the completions. The
// peer figure beside Berth's etcd back-end in bench/store (which speaks the same API).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/load.h"

namespace berth::bench {

// kTxnPut: a put inside a txn (what Berth's etcd back-end sends for an API write).
enum class EtcdOp { kPut, kTxnPut, kRange };

// Key of operation `i` of client `c`.
using MakeKey = std::function<std::string(int c, int64_t i)>;

// Runs the loop against "host:port" for load.seconds; returns completed operations per
// second and fills `*stats` (errors: calls that failed).
double DriveEtcdGrpc(const std::string& hostport, const Load& load, int connections, EtcdOp op,
                     const MakeKey& key, const std::string& value, DriveStats* stats);

}  // namespace berth::bench
