// Internal to the registry: fans one store watch on /registry/ out to many registry
// watchers, keeping the last `history` events in memory so a watcher that starts at a
// recent revision is served from memory. A watcher asking for a revision older than that
// gets its own store watch (the store then replays from its history or says compacted).
//
// Ordering: the hub's mutex is held while it replays history to a new watcher and while it
// dispatches a store response, so a watcher sees every event >= its start revision exactly
// once and in order. If the store cancels the hub's watch (back-end lost), the hub resumes
// it from the last revision it saw + 1.
// A multiplexed watch (SubscribeMany) is one record holding many (prefix, from, filters):
// one pass over it per store response builds one batch for its single handler.
// Thread-safety: all methods from any thread; handlers run on the store's watch thread (or,
// for the history replay, on the subscribing thread before Subscribe returns).
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "registry/registry.h"
#include "store/store.h"

namespace berth::registry {

class WatchHub {
 public:
  WatchHub(store::Store& store, size_t history, RegistryStats& stats);
  ~WatchHub();

  // Watches keys under `prefix` from `from_revision` (0: from now).
  Result<std::unique_ptr<Subscription>> Subscribe(std::string prefix, int64_t from_revision,
                                                  WatchHandler handler);

  // One watch of a SubscribeMany: its key prefix, start revision (0: from now), filters.
  struct MultiWatch {
    std::string prefix;
    int64_t from = 0;
    bool no_put = false;
    bool no_delete = false;
  };
  // Many watches on one handler (Registry::WatchMany): the `created` batch and the history
  // replay run before this returns; watches older than the history get store watches of
  // their own (delivered through the same handler, from the store's watch thread).
  Result<std::unique_ptr<MultiSubscription>> SubscribeMany(std::vector<MultiWatch> watches,
                                                           MultiWatchHandler handler);

  struct Sub;
  struct Group;

 private:
  Result<void> StartLocked();
  void OnStore(store::WatchResponse&& response);
  void Remove(const Sub* sub);

  store::Store& store_;
  size_t history_limit_;
  RegistryStats& stats_;

  std::mutex mu_;  // guards everything below
  bool started_ = false;
  std::unique_ptr<store::Watcher> watcher_;
  std::vector<std::unique_ptr<store::Watcher>> retired_;  // canceled watchers, freed later
  std::vector<std::shared_ptr<Sub>> subs_;
  std::vector<std::shared_ptr<Group>> groups_;
  std::deque<std::shared_ptr<const WatchEvent>> history_;
  int64_t floor_ = 0;     // every event with revision >= floor_ is in history_ or still to come
  int64_t last_rev_ = 0;  // highest revision dispatched

  friend class HubSubscription;
  friend class GroupSubscription;
};

// Converts a store event under /registry/ into a registry event; nullptr for a key that
// is not an instance key or a value that does not decode.
std::shared_ptr<const WatchEvent> ConvertEvent(const store::Event& event);

}  // namespace berth::registry
