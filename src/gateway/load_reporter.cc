#include "gateway/load_reporter.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>

#include "core/json.h"
#include "core/log.h"

namespace berth::gateway {

LoadReporter::LoadReporter(store::Store& store, Clock& clock, Totals totals,
                           LoadReporterOptions options)
    : store_(store), clock_(clock), totals_(std::move(totals)), options_(std::move(options)) {}

LoadReporter::~LoadReporter() { Stop(); }

void LoadReporter::Start() {
  (void)Report();
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, options_.interval, [&] { return stop_; });
      if (stop_) break;
      lock.unlock();
      auto r = Report();
      if (!r) log::Warn("gateway", "load report {}: {}", key(), r.error().message);
      lock.lock();
    }
  });
}

void LoadReporter::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable() && lease_ == 0) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (lease_ != 0) {
    (void)store_.RevokeLease(lease_);
    lease_ = 0;
  }
}

Result<bool> LoadReporter::Report() {
  const auto now = clock_.Now();
  auto totals = totals_();
  std::map<std::string, double> rates;
  int64_t window_ms = 0;
  if (last_sample_at_) {
    window_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - *last_sample_at_).count();
    const double secs = std::max<int64_t>(window_ms, 1) / 1000.0;
    for (const auto& [svc, total] : totals) {
      auto prev = last_totals_.find(svc);
      // A counter that went back belongs to a new cluster: count from zero.
      uint64_t base = prev != last_totals_.end() && prev->second <= total ? prev->second : 0;
      if (prev == last_totals_.end()) base = total;  // first sight: no rate yet
      rates[svc] = std::round(static_cast<double>(total - base) / secs * 10.0) / 10.0;
    }
  }
  last_sample_at_ = now;
  {
    std::lock_guard lock(mu_);
    rates_ = rates;
  }
  if (window_ms == 0) {
    last_totals_ = std::move(totals);
    return false;  // the first sample: nothing to report yet
  }
  bool fresh_lease = false;
  if (lease_ != 0) {
    if (auto k = store_.KeepAlive(lease_); !k) lease_ = 0;  // gone (store restarted, expired)
  }
  if (lease_ == 0) {
    auto l = store_.GrantLease(options_.ttl_seconds);
    if (!l) return std::unexpected(Wrap(l.error(), "gateway load: grant lease"));
    lease_ = *l;
    fresh_lease = true;
  }
  LoadReport report{.time_ms = 0, .window_ms = window_ms, .services = {}};
  Json rates_only = Json::object();
  for (const auto& [svc, rps] : rates) {
    report.services[svc] = {.rps = rps, .requests = totals[svc]};
    rates_only[svc] = rps;
  }
  last_totals_ = std::move(totals);
  std::string what = rates_only.dump();
  if (!fresh_lease && what == written_) return false;
  report.time_ms = clock_.WallMillis();
  auto w = store_.Put(key(), EncodeLoadReport(report), {.lease = lease_});
  if (!w) return std::unexpected(Wrap(w.error(), "gateway load: write " + key()));
  written_ = std::move(what);
  return true;
}

std::string LoadReporter::RenderMetrics() const {
  std::string out =
      "# HELP berth_gateway_service_requests_per_second Requests per second to a registry "
      "service over the last load report interval (what the autoscalers read).\n"
      "# TYPE berth_gateway_service_requests_per_second gauge\n";
  std::lock_guard lock(mu_);
  for (const auto& [svc, rps] : rates_) {
    auto slash = svc.find('/');
    out += fmt::format(
        "berth_gateway_service_requests_per_second{{namespace=\"{}\",service=\"{}\"}} {}\n",
        svc.substr(0, slash), svc.substr(slash + 1), rps);
  }
  return out;
}

std::string DefaultGatewayId(std::string_view listen_address) {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == 0) std::snprintf(host, 5, "host");
  std::string port(listen_address.substr(listen_address.rfind(':') + 1));
  std::string id;
  for (char c : std::string(host) + "-" + port) {
    id += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'
              ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
              : '-';
  }
  return id;
}

}  // namespace berth::gateway
