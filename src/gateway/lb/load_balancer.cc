#include "gateway/lb/load_balancer.h"

#include "gateway/lb/least_request.h"
#include "gateway/lb/maglev.h"
#include "gateway/lb/random_lb.h"
#include "gateway/lb/ring_hash.h"
#include "gateway/lb/round_robin.h"
#include "gateway/lb/weighted_round_robin.h"

namespace berth::gateway::lb {

std::optional<Policy> ParsePolicy(std::string_view name) {
  if (name == "round_robin") return Policy::kRoundRobin;
  if (name == "weighted_round_robin") return Policy::kWeightedRoundRobin;
  if (name == "least_request") return Policy::kLeastRequest;
  if (name == "ring_hash") return Policy::kRingHash;
  if (name == "maglev") return Policy::kMaglev;
  if (name == "random") return Policy::kRandom;
  return std::nullopt;
}

std::string_view PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kRoundRobin:
      return "round_robin";
    case Policy::kWeightedRoundRobin:
      return "weighted_round_robin";
    case Policy::kLeastRequest:
      return "least_request";
    case Policy::kRingHash:
      return "ring_hash";
    case Policy::kMaglev:
      return "maglev";
    case Policy::kRandom:
      return "random";
  }
  return "unknown";
}

uint64_t HashKey(std::string_view key) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  // Final avalanche (xxHash64's) so nearby keys spread over the whole range.
  h ^= h >> 33;
  h *= 0xc2b2ae3d27d4eb4fULL;
  h ^= h >> 29;
  h *= 0x165667b19e3779f9ULL;
  h ^= h >> 32;
  return h;
}

std::unique_ptr<LoadBalancer> CreateLoadBalancer(Policy policy, const HostSet& hosts,
                                                 Random& random) {
  switch (policy) {
    case Policy::kRoundRobin:
      return std::make_unique<RoundRobinLoadBalancer>(hosts, random);
    case Policy::kWeightedRoundRobin:
      return std::make_unique<WeightedRoundRobinLoadBalancer>(hosts);
    case Policy::kLeastRequest:
      return std::make_unique<LeastRequestLoadBalancer>(hosts, random);
    case Policy::kRingHash:
      return std::make_unique<RingHashLoadBalancer>(hosts, random);
    case Policy::kMaglev:
      return std::make_unique<MaglevLoadBalancer>(hosts, random);
    case Policy::kRandom:
      return std::make_unique<RandomLoadBalancer>(hosts, random);
  }
  return nullptr;
}

}  // namespace berth::gateway::lb
