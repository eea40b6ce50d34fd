// Answers DNS queries from the registry: A and SRV for
//   <service>.service.<ns>.berth   and   <service>.service.berth (namespace "default"),
// with passing instances only; A for the SRV targets <hex-ipv4>.addr[.<ns>].berth.
// Unknown service: NXDOMAIN. Known service, nothing passing (or another type): NOERROR with
// no answers. Names outside the domain: REFUSED (we are not a recursive resolver).
// Malformed: FORMERR; other opcodes: NOTIMP. Responses, or messages too short for an id,
// get no answer at all.
// Thread-safety: Handle may be called from any thread (it reads the registry).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "registry/dns/message.h"
#include "registry/registry.h"

namespace berth::registry::dns {

struct AnswererOptions {
  std::string domain = "berth";
  uint32_t ttl_seconds = 5;
};

struct DnsStats {
  std::atomic<int64_t> queries{0};
  std::atomic<int64_t> nxdomain{0};
  std::atomic<int64_t> refused{0};
  std::atomic<int64_t> formerr{0};
  std::atomic<int64_t> truncated{0};
  std::atomic<int64_t> dropped{0};
};

class Answerer {
 public:
  Answerer(Registry& registry, AnswererOptions options = {});
  // Answers one message; `max_udp` is 0 for TCP (65535) or the transport's UDP limit, which
  // the query's EDNS size may raise. Empty: send nothing.
  std::vector<uint8_t> Handle(std::span<const uint8_t> message, bool udp);
  // The answer for a parsed query (before serialization).
  Response Answer(const Query& query);
  DnsStats& stats() { return stats_; }

 private:
  Registry& registry_;
  AnswererOptions options_;
  DnsStats stats_;
};

}  // namespace berth::registry::dns
