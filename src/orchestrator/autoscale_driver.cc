#include "orchestrator/autoscale_driver.h"

#include <fmt/core.h>

#include <set>

#include "core/json.h"
#include "core/log.h"
#include "gateway/load_report.h"
#include "orchestrator/service_key.h"

namespace berth::orchestrator {
namespace {

// CPU use of a service's ready instances.
struct Measured {
  int64_t ready = 0;
  int64_t cpu_reports = 0;
  double cpu_sum = 0;
};

std::map<std::string, Measured> MeasureCpu(const PassResult& pass) {
  std::map<std::string, Measured> measured;  // by "ns/app/svc"
  for (const Instance& i : pass.instances) {
    if (i.state != InstanceState::kReady) continue;
    Measured& m = measured[ServiceKey(i.ns, i.app, i.service)];
    ++m.ready;
    if (i.cpu_millis >= 0) {
      ++m.cpu_reports;
      m.cpu_sum += static_cast<double>(i.cpu_millis);
    }
  }
  return measured;
}

}  // namespace

std::optional<std::map<std::string, double>> SumGatewayLoad(
    const std::vector<store::KeyValue>& reports) {
  std::optional<std::map<std::string, double>> out;
  for (const auto& kv : reports) {
    auto report = gateway::DecodeLoadReport(kv.value);
    if (!report) {
      log::Warn("orchestrator", "controller: {}: {}", kv.key, report.error().message);
      continue;
    }
    if (!out) out.emplace();
    for (const auto& [svc, load] : report->services) (*out)[svc] += load.rps;
  }
  return out;
}

Autoscaler& AutoscaleDriver::For(const std::string& key, const App& app, const ServiceSpec& spec) {
  auto [it, fresh] = autoscalers_.try_emplace(key);
  if (!fresh) return it->second;
  // A new leader keeps the cool-down of the last action.
  auto rec = store_.Get(AutoscaleKey(app.ns, app.name, spec.name));
  if (rec && !rec->kvs.empty()) {
    auto j = ParseJson(rec->kvs[0].value);
    if (j && j->is_object() && j->contains("time_ms") && (*j)["time_ms"].is_number_integer()) {
      it->second.set_last_action_ms((*j)["time_ms"].get<int64_t>());
    }
  }
  return it->second;
}

bool AutoscaleDriver::Apply(const App& app, const ServiceSpec& spec, const ScaleDecision& d,
                            const store::Compare& guard) {
  const int64_t now_ms = clock_.WallMillis();
  const std::string key = ServiceKey(app.ns, app.name, spec.name);
  std::string message =
      fmt::format("scaled from {} to {}: {}", spec.replicas, d.replicas, d.reason);
  auto r = apps_.Scale(app.ns, app.name, spec.name, d.replicas,
                       {.from = spec.replicas,
                        .event = Event{now_ms, "Normal", spec.name, "Scaled", message},
                        .guard = guard});
  if (!r) {
    log::Info("orchestrator", "{}: autoscale to {} not written: {}", key, d.replicas,
              r.error().message);
    return false;
  }
  Json rec{{"time_ms", now_ms}, {"from", spec.replicas}, {"to", d.replicas}, {"reason", d.reason}};
  store::TxnRequest txn;
  txn.compare.push_back(guard);
  txn.success.push_back(
      store::TxnOp::Put(AutoscaleKey(app.ns, app.name, spec.name),
                        rec.dump(-1, ' ', false, Json::error_handler_t::replace)));
  (void)store_.Txn(txn);
  log::Info("orchestrator", "{}: {}", key, message);
  return true;
}

std::vector<std::string> AutoscaleDriver::Run(const PassResult& pass, const store::Compare& guard) {
  std::vector<std::string> scaled;
  bool any = false;
  for (const App& app : pass.apps) {
    for (const ServiceSpec& s : app.services) any = any || s.autoscale.has_value();
  }
  if (!any) {
    autoscalers_.clear();
    return scaled;
  }
  const int64_t now_ms = clock_.WallMillis();
  const std::map<std::string, Measured> measured = MeasureCpu(pass);
  std::optional<std::map<std::string, double>> load;
  if (auto r = store_.Get(gateway::kGatewayLoadPrefix, {.prefix = true})) {
    load = SumGatewayLoad(r->kvs);
  } else {
    log::Warn("orchestrator", "controller: read gateway load: {}", r.error().message);
  }
  std::set<std::string> seen;
  for (const App& app : pass.apps) {
    for (const ServiceSpec& spec : app.services) {
      if (!spec.autoscale) continue;
      const std::string key = ServiceKey(app.ns, app.name, spec.name);
      seen.insert(key);
      Autoscaler& scaler = For(key, app, spec);
      auto m = measured.find(key);
      LoadSample sample{.now_ms = now_ms, .ready = m == measured.end() ? 0 : m->second.ready};
      if (m != measured.end() && m->second.cpu_reports > 0) {
        sample.cpu_millis_per_instance =
            m->second.cpu_sum / static_cast<double>(m->second.cpu_reports);
      }
      if (load) {
        auto l = load->find(app.ns + "/" + spec.name);
        sample.requests_per_second = l == load->end() ? 0.0 : l->second;
      }
      const auto before = scaler.last_action_ms();
      auto d = scaler.Decide(spec, sample);
      if (!d) continue;
      if (!Apply(app, spec, *d, guard)) {
        // Changed meanwhile (or no longer leading): decide again on the next pass, with
        // the cool-down as it was.
        if (before) {
          scaler.set_last_action_ms(*before);
        } else {
          scaler = Autoscaler();
        }
        continue;
      }
      scaled.push_back(fmt::format("{} {} -> {}", key, spec.replicas, d->replicas));
    }
  }
  for (auto it = autoscalers_.begin(); it != autoscalers_.end();) {
    it = seen.count(it->first) ? std::next(it) : autoscalers_.erase(it);
  }
  return scaled;
}

}  // namespace berth::orchestrator
