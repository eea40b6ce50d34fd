// The load balancer interface (after envoy/upstream/load_balancer.h): given a request's
// context, choose one host of a HostSet. One implementation per file beside this one, chosen
// by name (`Policy`) in the route configuration. A balancer is created per worker per
// cluster and reads the worker's HostSet; it never blocks and never allocates on the hot path
// except when rebuilding a table after the set changed.
// Thread-safety: none; one worker owns a balancer.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "core/random.h"
#include "gateway/lb/host.h"

namespace berth::gateway::lb {

// Balancers that pick at random take the one Random interface (core/random.h).
using ::berth::Random;

enum class Policy { kRoundRobin, kWeightedRoundRobin, kLeastRequest, kRingHash, kMaglev, kRandom };

// Parses "round_robin", "weighted_round_robin", "least_request", "ring_hash", "maglev",
// "random".
std::optional<Policy> ParsePolicy(std::string_view name);
std::string_view PolicyName(Policy policy);

struct LbContext {
  // For ring hash and Maglev: the hash of the request's key (header, cookie or client IP);
  // nullopt picks at random.
  std::optional<uint64_t> hash;
};

class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;
  // A host to send the request to, or nullptr when the set is empty.
  virtual Host* ChooseHost(const LbContext& context) = 0;
};

// Stable 64-bit hash of a key (xxHash64-like mixing over FNV-1a), for hash policies.
uint64_t HashKey(std::string_view key);

// Creates the balancer for `policy` over `hosts`; both collaborators outlive it.
std::unique_ptr<LoadBalancer> CreateLoadBalancer(Policy policy, const HostSet& hosts,
                                                 Random& random);

}  // namespace berth::gateway::lb
