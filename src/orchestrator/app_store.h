// AppStore: the control plane's writes of desired state and its bookkeeping, shared by the
// /v1/apps API and the Controller. Every change of an app goes through here, so each one
// also appends the rollout history of the services whose deploy hash it changes and
// records an event, in the same store transaction (guarded by the app key's mod_revision,
// so concurrent writers never interleave).
//
// Keys (besides /apps/<ns>/<app>, see codec.h):
//   /orchestrator/leader                                   the controller that leads (lease)
//   /orchestrator/history/<ns>/<app>/<svc>/<%08d rev>      HistoryEntry: one deployed spec
//   /orchestrator/events/<ns>/<app>/<%013d ms>-<%06d seq>  Event
//   /orchestrator/status/<ns>/<app>                        AppStatus JSON (controller)
//   /orchestrator/rollouts/<ns>/<app>/<svc>                RolloutRecord JSON (controller)
//   /orchestrator/canary/<ns>/<app>/<svc>                  CanaryRecord (canary.h)
//   /orchestrator/autoscale/<ns>/<app>/<svc>               the autoscaler's last action
//   (controller)
// Thread-safety: stateless apart from the store; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "orchestrator/canary.h"
#include "orchestrator/types.h"
#include "store/store.h"

namespace berth::orchestrator {

inline constexpr std::string_view kLeaderKey = "/orchestrator/leader";
inline constexpr std::string_view kHistoryPrefix = "/orchestrator/history/";
inline constexpr std::string_view kEventsPrefix = "/orchestrator/events/";
inline constexpr std::string_view kStatusPrefix = "/orchestrator/status/";
inline constexpr std::string_view kRolloutsPrefix = "/orchestrator/rollouts/";
inline constexpr std::string_view kAutoscalePrefix = "/orchestrator/autoscale/";

// Kept per service and per app; older entries are deleted as new ones are written.
constexpr size_t kMaxHistory = 10;
constexpr size_t kMaxEvents = 50;

std::string HistoryPrefix(std::string_view ns, std::string_view app, std::string_view svc);
std::string EventsPrefix(std::string_view ns, std::string_view app);
std::string AppStatusKey(std::string_view ns, std::string_view app);
std::string RolloutKey(std::string_view ns, std::string_view app, std::string_view svc);
std::string AutoscaleKey(std::string_view ns, std::string_view app, std::string_view svc);

// One deployed version of a service.
struct HistoryEntry {
  int64_t revision = 0;  // 1, 2, ... per service
  uint64_t deploy_hash = 0;
  int64_t time_ms = 0;
  std::string cause;  // "apply", "undo to 3", "rollback to 2: <why>"
  ServiceSpec spec;
};

struct Event {
  int64_t time_ms = 0;
  std::string type = "Normal";  // or "Warning"
  std::string service;          // empty: the app
  std::string reason;           // "Applied", "Scaled", "RolloutStarted", "RolledBack", ...
  std::string message;
};

std::string EventToJson(const Event& e);
std::string HistoryEntryToJson(const HistoryEntry& h);
Result<HistoryEntry> HistoryEntryFromJson(std::string_view json);

// One changed leaf between two apps' JSON forms ("services.api.image": "a:1" -> "a:2").
struct DiffLine {
  std::string path;
  std::optional<std::string> before;  // JSON text; nullopt: added
  std::optional<std::string> after;   // nullopt: removed
};
std::vector<DiffLine> DiffApps(const App* before, const App& after);

struct StoredApp {
  App app;
  int64_t mod_revision = 0;
};

struct ApplyResult {
  std::string action;  // "created", "configured", "unchanged"
  int64_t revision = 0;
  std::vector<DiffLine> diff;
  std::vector<std::string> rolling;  // services whose deploy hash changed (a rollout starts)
};

class AppStore {
 public:
  AppStore(store::Store& store, Clock& clock) : store_(store), clock_(clock) {}

  Result<std::optional<StoredApp>> Get(std::string_view ns, std::string_view app);
  Result<std::vector<StoredApp>> List();

  // Stores `app` (already validated). With `expect_mod_revision` the write happens only if
  // the stored app is still at that revision (0: absent); otherwise it retries a few times
  // against concurrent writers. `dry_run` computes the diff and stores nothing. `events`
  // are recorded beside it (an "Applied" event when empty and something changed).
  Result<ApplyResult> Apply(const App& app, std::string_view cause, bool dry_run = false,
                            std::optional<int64_t> expect_mod_revision = std::nullopt,
                            std::vector<Event> events = {},
                            std::optional<store::Compare> guard = std::nullopt);

  // Deletes the app and its history, events, status and rollout records. kNotFound when
  // absent.
  Result<int64_t> Delete(std::string_view ns, std::string_view app);

  // How a Scale is made: by hand (`berth scale`) or by the autoscaler.
  struct ScaleOptions {
    // Only when the service still has this many replicas (kFailedPrecondition otherwise).
    std::optional<int64_t> from;
    // The event recorded with it (default: "Scaled", "replicas N -> M").
    std::optional<Event> event;
    std::optional<store::Compare> guard;  // one more compare (the leader's lease)
  };
  // Sets one service's replicas. kNotFound for an unknown app or service.
  Result<ApplyResult> Scale(std::string_view ns, std::string_view app, std::string_view svc,
                            int64_t replicas, ScaleOptions options);
  Result<ApplyResult> Scale(std::string_view ns, std::string_view app, std::string_view svc,
                            int64_t replicas) {
    return Scale(ns, app, svc, replicas, ScaleOptions{});
  }

  // Writes back the spec of history revision `to_revision` of a service (0: the newest
  // one with a deploy hash other than the current), keeping replicas and autoscale.
  Result<ApplyResult> Undo(std::string_view ns, std::string_view app, std::string_view svc,
                           int64_t to_revision, std::string_view why = "",
                           std::optional<store::Compare> guard = std::nullopt);

  // Canary rollouts (canary.h). Promote: the service's canary of its current version goes
  // on to a full rollout; kFailedPrecondition when none waits. Abort: the stable spec goes
  // back into the app (keeping replicas and autoscale), the canaries are removed and the
  // gateway sends everything to stable; `why` non-empty marks an automatic abort.
  Result<ApplyResult> Promote(std::string_view ns, std::string_view app, std::string_view svc);
  Result<ApplyResult> Abort(std::string_view ns, std::string_view app, std::string_view svc,
                            std::string_view why = "",
                            std::optional<store::Compare> guard = std::nullopt);
  // The service's canary record, if any.
  Result<std::optional<CanaryRecord>> Canary(std::string_view ns, std::string_view app,
                                             std::string_view svc);

  Result<std::vector<HistoryEntry>> History(std::string_view ns, std::string_view app,
                                            std::string_view svc);
  // Newest last.
  Result<std::vector<Event>> Events(std::string_view ns, std::string_view app);
  Result<void> RecordEvents(std::string_view ns, std::string_view app, std::vector<Event> events);

 private:
  // How an apply treats canary records (canary.h): kStart starts a canary for a service
  // whose strategy asks for one; kBack (undo, abort, rollback) returns to a version and
  // marks a running canary aborted.
  enum class CanaryMode { kStart, kBack };
  Result<ApplyResult> ApplyImpl(const App& app, std::string_view cause, bool dry_run,
                                std::optional<int64_t> expect_mod_revision,
                                std::vector<Event> events, std::optional<store::Compare> guard,
                                CanaryMode mode);
  Result<void> TrimEvents(std::string_view ns, std::string_view app);
  // The stored app ns/app when it has service `svc`; otherwise kNotFound naming what is
  // missing.
  Result<StoredApp> GetWithService(std::string_view ns, std::string_view app, std::string_view svc);

  store::Store& store_;
  Clock& clock_;
};

}  // namespace berth::orchestrator
