#include "registry/dns/answerer.h"

#include <algorithm>
#include <set>

#include "core/log.h"

namespace berth::registry::dns {
namespace {

std::vector<std::string_view> Labels(std::string_view name) {
  std::vector<std::string_view> out;
  while (!name.empty()) {
    auto dot = name.find('.');
    out.push_back(name.substr(0, dot));
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  return out;
}

std::optional<uint32_t> ParseHexIp(std::string_view s) {
  if (s.size() != 8) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    v <<= 4;
    if (c >= '0' && c <= '9') {
      v |= static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v |= static_cast<uint32_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
  }
  return v;
}

}  // namespace

Answerer::Answerer(Registry& registry, AnswererOptions options)
    : registry_(registry), options_(std::move(options)) {}

std::vector<uint8_t> Answerer::Handle(std::span<const uint8_t> message, bool udp) {
  ++stats_.queries;
  ParseResult p = ParseQuery(message);
  if (p.kind == ParseResult::Kind::kDrop) {
    ++stats_.dropped;
    return {};
  }
  Response resp;
  size_t max = udp ? kClassicUdpBytes : 65535;
  if (p.kind == ParseResult::Kind::kError) {
    ++stats_.formerr;
    log::Debug("dns", "bad query {}: {}", p.query.id, p.error);
    resp.id = p.query.id;
    resp.opcode = p.query.opcode;
    resp.rd = p.query.rd;
    resp.aa = false;
    resp.rcode = p.rcode;
  } else {
    resp = Answer(p.query);
    if (udp && p.query.edns) {
      max = std::clamp<size_t>(p.query.edns_udp_size, kClassicUdpBytes, 4096);
    }
  }
  auto out = BuildResponse(resp, max);
  if (out.size() > 2 && (out[2] & 0x02)) ++stats_.truncated;
  return out;
}

Response Answerer::Answer(const Query& q) {
  Response r;
  r.id = q.id;
  r.opcode = q.opcode;
  r.rd = q.rd;
  r.question = q.question;
  r.edns = q.edns;
  r.aa = true;
  auto refuse = [&] {
    ++stats_.refused;
    r.aa = false;
    r.rcode = Rcode::kRefused;
    return r;
  };
  auto nx = [&] {
    ++stats_.nxdomain;
    r.rcode = Rcode::kNxDomain;
    return r;
  };
  if (q.question.klass != kClassIn && q.question.klass != kClassAny) return refuse();
  auto labels = Labels(q.question.name);
  if (labels.empty() || labels.back() != options_.domain) return refuse();
  labels.pop_back();
  const uint16_t t = q.question.type;
  const bool want_a = t == type::kA || t == type::kAny;
  const bool want_srv = t == type::kSrv || t == type::kAny;
  // <hex>.addr[.<ns>].berth
  if ((labels.size() == 2 || labels.size() == 3) && labels[1] == "addr") {
    auto ip = ParseHexIp(labels[0]);
    if (!ip) return nx();
    if (want_a) {
      r.answers.push_back(
          Record{.name = q.question.name, .type = type::kA, .ttl = options_.ttl_seconds, .a = *ip});
    }
    return r;
  }
  // <service>.service[.<ns>].berth
  std::string_view service, ns = kDefaultNamespace;
  if (labels.size() == 2 && labels[1] == "service") {
    service = labels[0];
  } else if (labels.size() == 3 && labels[1] == "service") {
    service = labels[0];
    ns = labels[2];
  } else {
    return nx();
  }
  if (!ValidateNamespace(ns) || !ValidateServiceName(service)) return nx();
  auto view = registry_.GetService(ns, service);
  if (!view) {
    if (view.error().code == ErrorCode::kNotFound) return nx();
    log::Warn("dns", "lookup of {}: {}", q.question.name, view.error().message);
    r.rcode = Rcode::kServFail;
    return r;
  }
  std::set<uint32_t> a_seen;
  std::set<std::string> target_seen;
  const std::string addr_suffix = ns == kDefaultNamespace
                                      ? ".addr." + options_.domain
                                      : ".addr." + std::string(ns) + "." + options_.domain;
  for (const auto& in : view->instances) {
    if (in.health != Health::kPassing) continue;
    auto ip = ParseIpv4(in.address);
    if (want_srv) {
      Record srv{.name = q.question.name, .type = type::kSrv, .ttl = options_.ttl_seconds};
      srv.priority = 1;
      srv.weight = static_cast<uint16_t>(std::min<uint32_t>(in.weight, 65535));
      srv.port = static_cast<uint16_t>(in.port);
      srv.target = ip ? EncodeIpv4Hex(*ip) + addr_suffix : in.address;
      if (ip && target_seen.insert(srv.target).second) {
        r.additional.push_back(
            Record{.name = srv.target, .type = type::kA, .ttl = options_.ttl_seconds, .a = *ip});
      }
      r.answers.push_back(std::move(srv));
    } else if (want_a && ip && a_seen.insert(*ip).second) {
      r.answers.push_back(
          Record{.name = q.question.name, .type = type::kA, .ttl = options_.ttl_seconds, .a = *ip});
    }
  }
  return r;
}

}  // namespace berth::registry::dns
