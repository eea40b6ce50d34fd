#include "tests/chaos/kv_load.h"

#include <fmt/core.h>

#include <map>
#include <memory>
#include <optional>
#include <random>

#include "core/http/client.h"
#include "core/json.h"

namespace berth::chaos {

KvLoad::KvLoad(KvLoadOptions options) : options_(std::move(options)) {}

KvLoad::~KvLoad() { Stop(); }

void KvLoad::Start() {
  stop_ = false;
  for (int i = 0; i < options_.clients; ++i) threads_.emplace_back([this, i] { Client(i); });
}

void KvLoad::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

std::string KvLoad::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

std::string KvLoad::error_summary() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [message, count] : errors_) out += fmt::format("  {} x {}\n", count, message);
  return out;
}

void KvLoad::NoteError(const std::string& message) {
  ++failures_;
  std::lock_guard lock(mu_);
  last_error_ = message;
  // Messages differ in ports and revisions; the first 120 characters group them well enough.
  std::string head = message.substr(0, 120);
  for (auto& [m, count] : errors_) {
    if (m == head) {
      ++count;
      return;
    }
  }
  if (errors_.size() < 30) errors_.emplace_back(head, 1);
}

void KvLoad::Client(int id) {
  const size_t n = options_.servers.size();
  std::mt19937 rng(static_cast<unsigned>(id) * 7919u + 1u);
  std::vector<std::unique_ptr<http::Client>> conns(n);
  size_t at = static_cast<size_t>(id) % n;
  uint64_t seq = 0;
  // What this client last read of each key: its value (nullopt: none) and mod_revision.
  std::map<std::string, std::pair<std::optional<std::string>, int64_t>> seen;
  auto next_server = [&] {
    conns[at].reset();
    at = (at + 1) % n;
  };
  while (!stop_) {
    Operation op;
    op.client = id;
    op.key = fmt::format("/chaos/{}/k{}", options_.run, rng() % options_.keys);
    const unsigned dice = rng() % 10;
    auto it = seen.find(op.key);
    op.kind = dice < 4 || (dice >= 7 && it == seen.end()) ? OpKind::kGet
              : dice < 7                                  ? OpKind::kPut
                                                          : OpKind::kCas;
    http::Request req;
    req.target = "/v1/kv" + op.key;
    req.headers.Set("Authorization", "Bearer " + options_.token);
    if (op.kind == OpKind::kGet) {
      req.method = "GET";
    } else {
      req.method = "PUT";
      req.headers.Set("Content-Type", "application/json");
      op.value = fmt::format("c{}-{}", id, seq++);
      Json body{{"value", op.value}};
      if (op.kind == OpKind::kCas) {
        op.expected = it->second.first;
        body["prev_revision"] = it->second.second;
      }
      req.body = body.dump();
    }
    if (!conns[at]) {
      auto c = http::Client::Create(options_.servers[at],
                                    {.connect_timeout = std::chrono::milliseconds(1000),
                                     .timeout = options_.request_timeout});
      if (!c) {
        NoteError(c.error().message);
        next_server();
        continue;
      }
      conns[at] = std::move(*c);
    }
    op.server = static_cast<int>(at);
    op.call_ns = MonotonicNanos();
    auto r = conns[at]->Send(req);
    op.return_ns = MonotonicNanos();
    if (!r) {
      const bool sent = conns[at]->last_request_sent();
      NoteError(fmt::format("{} {}: {}", req.method, options_.servers[at], r.error().message));
      next_server();
      if (!sent) continue;  // it never reached a server: nothing happened
      op.outcome = Outcome::kUnknown;
      history_.Record(std::move(op));
      continue;
    }
    const int status = r->status;
    if (status >= 500) {
      NoteError(fmt::format("{} {}: HTTP {}: {}", req.method, options_.servers[at], status,
                            r->body.substr(0, 300)));
      next_server();
      op.outcome = Outcome::kUnknown;
      history_.Record(std::move(op));
      continue;
    }
    if (op.kind == OpKind::kGet && (status == 200 || status == 404)) {
      int64_t mod = 0;
      if (status == 200) {
        auto j = ParseJson(r->body);
        if (!j || !j->contains("kv")) {
          NoteError("GET answered 200 without a kv: " + r->body.substr(0, 200));
          continue;
        }
        op.output = (*j)["kv"].value("value", std::string());
        mod = (*j)["kv"].value("mod_revision", int64_t{0});
      }
      seen[op.key] = {op.output, mod};
    } else if (op.kind != OpKind::kGet && status == 200) {
      ++acked_writes_;
      auto j = ParseJson(r->body);
      if (j && j->contains("revision")) seen[op.key] = {op.value, (*j)["revision"].get<int64_t>()};
    } else if (op.kind == OpKind::kCas && status == 409) {
      op.outcome = Outcome::kFailed;
      seen.erase(op.key);  // read it again before the next compare-and-swap
    } else {
      // A 4xx other than these is a bug of the API or of this client: the case fails on it.
      NoteError(fmt::format("unexpected HTTP {} to {} {}: {}", status, req.method, req.target,
                            r->body.substr(0, 300)));
      ++unexpected_;
      continue;
    }
    history_.Record(std::move(op));
  }
}

}  // namespace berth::chaos
